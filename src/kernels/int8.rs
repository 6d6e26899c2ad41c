//! The int8 LM head: rows quantized to int8 once at load (`Int8Rows`), the final hidden state to
//! int16 per token, and `logit[r] = scale[r] / s · Σ w[r]·q` in exact integer arithmetic.
//!
//! Why int16 for the hidden state: it carries outlier dimensions, so int8 (1/127 of the largest)
//! would round the rest coarsely; measured on the embedded model, int8 activations moved logits by
//! up to 2.6% of the largest, while int16 leaves only the weights' own rounding.

use crate::quant::int8_rows::Int8Rows;

use super::{KernelKind, for_each_row_chunk, scalar};

/// `out[r] = W[r] · x`.
pub fn int8_matvec(kind: KernelKind, w: &Int8Rows, x: &[f32], out: &mut [f32]) {
    debug_assert_eq!(x.len(), w.cols);
    debug_assert_eq!(out.len(), w.rows);
    let mut q = vec![0i16; x.len()];
    let s = scalar::quantize_i16(x, &mut q, activation_limit(w.cols));
    let (hi, lo) = split_activations(&q);
    for_each_row_chunk(out, 1, |r0, ys| {
        for (i, y) in ys.iter_mut().enumerate() {
            let r = r0 + i;
            *y = kind.dot_i8_i16(w.row(r), w.row_sums[r], &q, &hi, &lo) as f32 * (w.scales[r] / s);
        }
    });
}

/// The largest |q| for which `cols` products of at most 127·|q| cannot overflow an i32 sum, and at
/// most 8191, so that `split_activations` fits both halves in 7 bits.
pub fn activation_limit(cols: usize) -> i16 {
    (i32::MAX as usize / (127 * cols.max(1))).min(8191) as i16
}

/// `q = 128·(hi - 64) + lo` with `hi`, `lo` in 0..=127: relaxed SIMD's 7-bit operand, twice.
pub fn split_activations(q: &[i16]) -> (Vec<i8>, Vec<i8>) {
    debug_assert!(q.iter().all(|v| (-8192..8192).contains(v)));
    (q.iter().map(|&v| ((v >> 7) + 64) as i8).collect(), q.iter().map(|&v| (v & 127) as i8).collect())
}
