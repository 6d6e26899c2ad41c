//! Ternary matrix × int8 activations, with the scale epilogue exactly as bitnet.cpp orders it:
//! `y = (f32)(Σ weight·q) / s * scale` (per-block scales for the TQ formats sum block by block).

use crate::quant::ternary::{PackedTernary, SCALE_BLOCK, TernaryScale};

use super::KernelKind;

/// `out[r] = W[r] · x` for one token, where `q`/`s` are x quantized by `quantize_activations`.
pub fn ternary_matvec(kind: KernelKind, w: &PackedTernary, q: &[i8], s: f32, out: &mut [f32]) {
    debug_assert_eq!(q.len(), w.cols);
    debug_assert_eq!(out.len(), w.rows);
    match &w.scale {
        TernaryScale::PerTensor(scale) => {
            let qsum: i32 = q.iter().map(|&v| v as i32).sum();
            for (r, y) in out.iter_mut().enumerate() {
                let dot = kind.dot_codes(w.row(r), q) - qsum;
                *y = dot as f32 / s * scale;
            }
        }
        TernaryScale::PerBlock(scales) => {
            let blocks = w.cols / SCALE_BLOCK;
            let qsums: Vec<i32> = q.chunks_exact(SCALE_BLOCK).map(|c| c.iter().map(|&v| v as i32).sum()).collect();
            for (r, y) in out.iter_mut().enumerate() {
                let row = w.row(r);
                let mut acc = 0f32;
                for b in 0..blocks {
                    let codes = &row[b * SCALE_BLOCK / 4..(b + 1) * SCALE_BLOCK / 4];
                    let dot = kind.dot_codes(codes, &q[b * SCALE_BLOCK..(b + 1) * SCALE_BLOCK]) - qsums[b];
                    acc += dot as f32 * scales[r * blocks + b];
                }
                *y = acc / s;
            }
        }
    }
}

/// `ternary_matvec` for `n` tokens at once: `q` is `n × cols`, `s` has `n` scales, `out` is `n × rows`.
pub fn ternary_matmul(kind: KernelKind, w: &PackedTernary, q: &[i8], s: &[f32], out: &mut [f32]) {
    for ((qt, &st), ot) in q.chunks_exact(w.cols).zip(s).zip(out.chunks_exact_mut(w.rows)) {
        ternary_matvec(kind, w, qt, st, ot);
    }
}
