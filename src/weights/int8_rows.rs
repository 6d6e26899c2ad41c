//! An int8 copy of a dense matrix, one f32 scale per row: the LM head's fast form. The head is read
//! whole for every generated token, so halving its bytes (F16 → int8) speeds up decode directly.
//!
//! A separate F16 head is converted in place, row by row, into the first half of its own allocation,
//! which then shrinks: the wasm heap never holds both forms at once (its size never goes down). A
//! tied head (2B4T's) is copied, since the token embedding must stay as stored: that copy is the
//! int8 head's memory cost, 328 MB for 2B4T.
//!
//! For models that fit wasm32 only this way (7-10B), the embedding and the head are quantized as
//! they stream in ([`Int8RowsWriter`]): each row is converted when its last byte arrives, so the
//! F16 tensor (1 GB for Llama3-8B's head) never exists in memory.

use super::row_stream::RowStream;

/// `rows` rows of `cols` int8 values in -127..=127; row `r` stands for `scales[r] · row(r)`.
#[derive(Clone, Debug)]
pub struct Int8Rows {
    pub rows: usize,
    pub cols: usize,
    /// The int8 values, two per element of this buffer (it is the F16 buffer they replaced).
    storage: Vec<u16>,
    pub scales: Vec<f32>,
}

impl Int8Rows {
    /// Quantizes every row symmetrically to its own absolute maximum (round half to even); `row`
    /// writes row `r` widened to f32 (`DenseMatrix::to_int8` gives its own).
    pub fn from_rows(rows: usize, cols: usize, mut row: impl FnMut(usize, &mut [f32])) -> Int8Rows {
        let mut out = Int8Rows::with_rows(rows, cols, vec![0u16; (rows * cols).div_ceil(2)]);
        let mut wide = vec![0f32; cols];
        for r in 0..rows {
            row(r, &mut wide);
            out.set_row(r, &wide);
        }
        out
    }

    /// `from_rows` of F16 rows, converted within their own allocation (`bits`, which it takes).
    pub fn from_f16_in_place(bits: Vec<u16>, rows: usize, cols: usize) -> Int8Rows {
        let mut out = Int8Rows::with_rows(rows, cols, bits);
        let mut wide = vec![0f32; cols];
        for r in 0..rows {
            // Row r's int8 bytes land at byte r·cols, at or before u16 index r·cols where its own
            // (already widened) F16 values start: nothing unread is overwritten.
            let h: &[half::f16] = bytemuck::cast_slice(&out.storage[r * cols..(r + 1) * cols]);
            half::slice::HalfFloatSliceExt::convert_to_f32_slice(h, &mut wide);
            out.set_row(r, &wide);
        }
        out.storage.truncate((rows * cols).div_ceil(2));
        out.storage.shrink_to_fit();
        out
    }

    /// Row `r` as f32 (`scale · q`).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let s = self.scales[r];
        for (o, &q) in out.iter_mut().zip(self.row(r)) {
            *o = q as f32 * s;
        }
    }

    fn with_rows(rows: usize, cols: usize, storage: Vec<u16>) -> Int8Rows {
        Int8Rows { rows, cols, storage, scales: vec![0.0; rows] }
    }

    /// Quantizes `wide` into row `r`.
    fn set_row(&mut self, r: usize, wide: &[f32]) {
        let cols = self.cols;
        let max = wide.iter().fold(0f32, |a, v| a.max(v.abs()));
        let inv = if max > 0.0 { 127.0 / max } else { 0.0 };
        let bytes: &mut [i8] = bytemuck::cast_slice_mut(&mut self.storage);
        let row = &mut bytes[r * cols..(r + 1) * cols];
        for (qi, &x) in row.iter_mut().zip(wide) {
            *qi = (x * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
        self.scales[r] = max / 127.0;
    }

    pub fn row(&self, r: usize) -> &[i8] {
        let bytes: &[i8] = bytemuck::cast_slice(&self.storage);
        &bytes[r * self.cols..(r + 1) * self.cols]
    }

    pub fn memory_bytes(&self) -> usize {
        2 * self.storage.len() + 4 * self.scales.len()
    }
}

/// Builds an [`Int8Rows`] from a stored F16 or F32 tensor's bytes as they arrive, in order: only
/// the int8 rows and one partial row are ever held.
#[derive(Debug)]
pub struct Int8RowsWriter {
    out: Int8Rows,
    rows: RowStream,
}

impl Int8RowsWriter {
    /// `f16`: the stored type is F16 (else F32).
    pub fn new(rows: usize, cols: usize, f16: bool) -> Int8RowsWriter {
        let storage = vec![0u16; (rows * cols).div_ceil(2)];
        Int8RowsWriter { out: Int8Rows::with_rows(rows, cols, storage), rows: RowStream::new(rows, cols, f16) }
    }

    /// Adds the next bytes; a row holding NaN or infinity is an error naming the row.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), usize> {
        let out = &mut self.out;
        self.rows.push(bytes, |r, values| out.set_row(r, values))
    }

    /// The rows, once every one has arrived.
    pub fn finish(self) -> Option<Int8Rows> {
        self.rows.complete().then_some(self.out)
    }

    /// Bytes the finished rows take: what a model holding them in place of the stored tensor needs.
    pub fn bytes_for(rows: usize, cols: usize) -> u64 {
        2 * (rows * cols).div_ceil(2) as u64 + 4 * rows as u64
    }
}
