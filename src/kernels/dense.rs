//! A float matrix (F32, or F16 widened a row at a time) times an f32 vector: the LM head as stored.

use crate::weights::dense::{DenseData, DenseMatrix};
use crate::weights::file_rows::REQUEST_ROWS;

use super::streams::interleaved;
use super::{for_each_row_chunk, scalar};

/// `out[r] = M[r] · x`, split across threads by rows.
pub fn dense_matvec(m: &DenseMatrix, x: &[f32], out: &mut [f32]) {
    debug_assert_eq!(x.len(), m.cols);
    debug_assert_eq!(out.len(), m.rows);
    for_each_row_chunk(out, 1, |r0, ys| {
        let mut scratch = vec![0f32; m.cols];
        for i in interleaved(ys.len()) {
            ys[i] = dense_row(m, r0 + i, x, &mut scratch);
        }
    });
}

/// `out[i] = M[rows[i]] · x`: the shortlist's exact scores. A matrix left in the file reads the rows
/// in one request, then each is the same dot as `dense_row`'s.
pub fn dense_rows(m: &DenseMatrix, rows: &[usize], x: &[f32], out: &mut [f32]) {
    let d = m.cols;
    if let DenseData::File(f) = &m.data {
        let mut wide = vec![0f32; rows.len().min(REQUEST_ROWS) * d];
        for (part, out) in rows.chunks(REQUEST_ROWS).zip(out.chunks_mut(REQUEST_ROWS)) {
            let wide = &mut wide[..part.len() * d];
            f.rows_into(part, wide);
            for (o, row) in out.iter_mut().zip(wide.chunks_exact(d)) {
                *o = scalar::dot_f32(row, x);
            }
        }
        return;
    }
    let mut scratch = vec![0f32; d];
    for (o, &r) in out.iter_mut().zip(rows) {
        *o = dense_row(m, r, x, &mut scratch);
    }
}

/// `M[r] · x`; `scratch` holds at least a row (an F16 row is widened into it).
pub fn dense_row(m: &DenseMatrix, r: usize, x: &[f32], scratch: &mut [f32]) -> f32 {
    let d = m.cols;
    match &m.data {
        DenseData::F16(bits) => scalar::dot_f16(&bits[r * d..(r + 1) * d], x, scratch),
        DenseData::F32(v) => scalar::dot_f32(&v[r * d..(r + 1) * d], x),
        DenseData::Int8(q) => q.row(r).iter().zip(x).map(|(&w, &v)| w as f32 * v).sum::<f32>() * q.scales[r],
        // Widened as an F16 row is, then the same dot: the same bits as the matrix in memory.
        DenseData::File(f) => {
            f.row_into(r, &mut scratch[..d]);
            scalar::dot_f32(&scratch[..d], x)
        }
    }
}
