//! A float matrix (F32, or F16 widened a row at a time) times an f32 vector: the LM head as stored.

use crate::quant::dense::{DenseData, DenseMatrix};

use super::{for_each_row_chunk, scalar};

/// `out[r] = M[r] · x`, split across threads by rows.
pub fn dense_matvec(m: &DenseMatrix, x: &[f32], out: &mut [f32]) {
    debug_assert_eq!(x.len(), m.cols);
    debug_assert_eq!(out.len(), m.rows);
    let d = m.cols;
    for_each_row_chunk(out, 1, |r0, ys| {
        let mut row = vec![0f32; d];
        for (i, y) in ys.iter_mut().enumerate() {
            let r = r0 + i;
            *y = match &m.data {
                DenseData::F16(bits) => scalar::dot_f16(&bits[r * d..(r + 1) * d], x, &mut row),
                DenseData::F32(v) => scalar::dot_f32(&v[r * d..(r + 1) * d], x),
            };
        }
    });
}
