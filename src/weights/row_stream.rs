//! A stored F16 or F32 matrix's rows as its bytes arrive, in order, however the stream cuts them:
//! each row is widened to f32 and handed on when its last byte arrives, so only one partial row is
//! ever held. The embedding and the head are read this way when they are quantized while they
//! stream (`Int8RowsWriter`, `Int4RowsWriter`) or only checked and left in the file (`file_rows`).

/// Rows of `cols` values arriving in order.
#[derive(Debug)]
pub struct RowStream {
    rows: usize,
    cols: usize,
    f16: bool,
    /// Bytes of the row being received.
    carry: Vec<u8>,
    next_row: usize,
    wide: Vec<f32>,
}

impl RowStream {
    /// `f16`: the stored type is F16 (else F32).
    pub fn new(rows: usize, cols: usize, f16: bool) -> RowStream {
        RowStream { rows, cols, f16, carry: Vec::with_capacity(cols * if f16 { 2 } else { 4 }), next_row: 0, wide: vec![0f32; cols] }
    }

    pub fn row_bytes(&self) -> usize {
        self.cols * if self.f16 { 2 } else { 4 }
    }

    /// Adds the next bytes, calling `row(r, values)` for each row they complete. A row holding NaN
    /// or infinity is an error naming the row: quantized it would pass unnoticed (its scale is NaN
    /// or infinite), and a token's NaN row poisons every prompt that uses the token.
    pub fn push(&mut self, mut bytes: &[u8], mut row: impl FnMut(usize, &[f32])) -> Result<(), usize> {
        let need = self.row_bytes();
        while !bytes.is_empty() {
            let take = (need - self.carry.len()).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() == need && self.next_row < self.rows {
                widen(&self.carry, self.f16, &mut self.wide);
                if self.wide.iter().any(|v| !v.is_finite()) {
                    return Err(self.next_row);
                }
                row(self.next_row, &self.wide);
                self.next_row += 1;
                self.carry.clear();
            }
        }
        Ok(())
    }

    /// Whether every row has arrived, and nothing after them.
    pub fn complete(&self) -> bool {
        self.next_row == self.rows && self.carry.is_empty()
    }
}

/// Stored F16 (`f16`) or F32 little-endian values widened into `out`.
pub fn widen(bytes: &[u8], f16: bool, out: &mut [f32]) {
    if f16 {
        for (w, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *w = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
        }
    } else {
        for (w, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
}
