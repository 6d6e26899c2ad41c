//! The int8 LM head: rows quantized to int8 once at load (`Int8Rows`), the final hidden state to
//! int16 per token, and `logit[r] = scale[r] / s · Σ w[r]·q` in exact integer arithmetic.
//!
//! Why int16 for the hidden state: it carries outlier dimensions, so int8 (1/127 of the largest)
//! would round the rest coarsely; measured on the embedded model, int8 activations moved logits by
//! up to 2.6% of the largest, while int16 leaves only the weights' own rounding.

use crate::weights::int8_rows::Int8Rows;

use super::streams::interleaved;
use super::{KernelKind, for_each_row_chunk, scalar};

/// `out[r] = W[r] · x`.
pub fn int8_matvec(kind: KernelKind, w: &Int8Rows, x: &[f32], out: &mut [f32]) {
    debug_assert_eq!(x.len(), w.cols);
    debug_assert_eq!(out.len(), w.rows);
    let mut q = vec![0i16; x.len()];
    let s = scalar::quantize_i16(x, &mut q, activation_limit(w.cols));
    for_each_row_chunk(out, 1, |r0, ys| {
        for i in interleaved(ys.len()) {
            let r = r0 + i;
            ys[i] = kind.dot_i8_i16(w.row(r), &q) as f32 * (w.scales[r] / s);
        }
    });
}

/// The largest |q| (at most i16's) for which `cols` products of at most 127·|q| cannot overflow an
/// i32 sum.
pub fn activation_limit(cols: usize) -> i16 {
    (i32::MAX as usize / (127 * cols.max(1))).min(i16::MAX as usize) as i16
}
