//! A 4-bit copy of a dense matrix, one f32 scale per block of values: the LM head's shortlist. It is
//! read whole for every generated token to pick the few rows worth scoring exactly, so it is built
//! for bytes (about half a byte per weight against int8's 1 and F16's 2), not for final logits.
//!
//! Layout, chosen for the kernels: each row is blocks of `BLOCK` values in `BLOCK / 2` bytes; value
//! `j < BLOCK / 2` of a block is the low nibble of byte `j`, value `j ≥ BLOCK / 2` the high nibble
//! of byte `j - BLOCK / 2`. A nibble is
//! the code `q + 8` of a rounded value `q` in -7..=7, so it is never above 15 and can be the
//! unsigned operand of a byte dot product (`pmaddubsw`); the 8 is subtracted afterwards.

use super::dense::DenseMatrix;
use super::row_stream::RowStream;

/// Values per scale.
pub const BLOCK: usize = 64;
/// Bytes per block of codes.
pub const BLOCK_BYTES: usize = BLOCK / 2;
/// What a code is offset by.
pub const OFFSET: i32 = 8;

/// `rows` rows of `cols` 4-bit codes; a value of block `b` stands for `scales[b] · (code - 8)`.
#[derive(Clone, Debug)]
pub struct Int4Rows {
    pub rows: usize,
    pub cols: usize,
    codes: Vec<u8>,
    scales: Vec<f32>,
}

impl Int4Rows {
    /// Whether a matrix with rows this long can be held (whole blocks only).
    pub fn fits(cols: usize) -> bool {
        cols > 0 && cols % BLOCK == 0
    }

    /// Quantizes every block symmetrically to its own absolute maximum (round half to even).
    pub fn quantize(m: &DenseMatrix) -> Int4Rows {
        let mut out = Int4Rows::zeroed(m.rows, m.cols);
        let mut wide = vec![0f32; m.cols];
        for r in 0..m.rows {
            m.row_into(r, &mut wide);
            out.set_row(r, &wide);
        }
        out
    }

    fn zeroed(rows: usize, cols: usize) -> Int4Rows {
        assert!(Self::fits(cols), "rows of {cols} values are not whole blocks of {BLOCK}");
        let blocks = rows * cols / BLOCK;
        Int4Rows { rows, cols, codes: vec![0; blocks * BLOCK_BYTES], scales: vec![0.0; blocks] }
    }

    /// Quantizes `wide` into row `r`.
    fn set_row(&mut self, r: usize, wide: &[f32]) {
        let first = r * self.cols / BLOCK;
        for (i, values) in wide.chunks_exact(BLOCK).enumerate() {
            let b = first + i;
            let max = values.iter().fold(0f32, |a, v| a.max(v.abs()));
            let inv = if max > 0.0 { 7.0 / max } else { 0.0 };
            let code = |v: f32| ((v * inv).round_ties_even().clamp(-7.0, 7.0) as i32 + OFFSET) as u8;
            let bytes = &mut self.codes[b * BLOCK_BYTES..(b + 1) * BLOCK_BYTES];
            for (j, byte) in bytes.iter_mut().enumerate() {
                *byte = code(values[j]) | code(values[j + BLOCK_BYTES]) << 4;
            }
            self.scales[b] = max / 7.0;
        }
    }

    /// Row `r`'s packed codes.
    pub fn row_codes(&self, r: usize) -> &[u8] {
        let n = self.cols / 2;
        &self.codes[r * n..(r + 1) * n]
    }

    /// Row `r`'s block scales.
    pub fn row_scales(&self, r: usize) -> &[f32] {
        let n = self.cols / BLOCK;
        &self.scales[r * n..(r + 1) * n]
    }

    pub fn memory_bytes(&self) -> usize {
        self.codes.len() + 4 * self.scales.len()
    }

    /// `memory_bytes` of a `rows × cols` copy, before making it.
    pub fn bytes_for(rows: usize, cols: usize) -> usize {
        rows * (cols / 2 + 4 * (cols / BLOCK))
    }
}

/// Builds an [`Int4Rows`] from a stored F16 or F32 tensor's bytes as they arrive, in order: the
/// shortlist of a head whose stored rows are left in the file (`file_rows`) and never held.
#[derive(Debug)]
pub struct Int4RowsWriter {
    out: Int4Rows,
    rows: RowStream,
}

impl Int4RowsWriter {
    /// `f16`: the stored type is F16 (else F32). `cols` must be whole blocks (`Int4Rows::fits`).
    pub fn new(rows: usize, cols: usize, f16: bool) -> Int4RowsWriter {
        Int4RowsWriter { out: Int4Rows::zeroed(rows, cols), rows: RowStream::new(rows, cols, f16) }
    }

    /// Adds the next bytes; a row holding NaN or infinity is an error naming the row.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), usize> {
        let out = &mut self.out;
        self.rows.push(bytes, |r, values| out.set_row(r, values))
    }

    /// The rows, once every one has arrived.
    pub fn finish(self) -> Option<Int4Rows> {
        self.rows.complete().then_some(self.out)
    }
}

/// Value `j` (0..BLOCK) of a block's code bytes, with the offset removed.
pub fn value(block: &[u8], j: usize) -> i32 {
    let code = if j < BLOCK_BYTES { block[j] & 15 } else { block[j - BLOCK_BYTES] >> 4 };
    code as i32 - OFFSET
}
