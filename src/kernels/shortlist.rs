//! The LM head as a shortlist: a 4-bit copy (`weights::int4_rows`) estimates every row, and the
//! stored rows score the best estimates again, exactly as the stored head would.
//!
//! Why: the head is read whole for every generated token (2B4T: 128256 rows of 2560), and decode
//! streams it from memory. The 4-bit copy is 0.56 bytes per weight against the int8 head's 1 and
//! F16's 2, and the logits that sampling picks from come out identical to the stored head's. The
//! rest keep their estimates.

use crate::weights::dense::DenseMatrix;
use crate::weights::int4_rows::{BLOCK, Int4Rows, OFFSET};

use super::streams::interleaved;
use super::{KernelKind, dense_rows, for_each_row_chunk};

/// Rows scored exactly at first, per token; the shortlist grows fourfold while it looks unsafe.
pub const CANDIDATES: usize = 64;

/// `out[r] ≈ W[r] · x` from the 4-bit copy `w`, with the rows of the best estimates replaced by
/// `exact[r] · x` (`exact` is the matrix `w` was made from, as stored).
///
/// How many: the shortlist must hold the row with the largest exact value. A row left out has an
/// estimate at most the shortlist's lowest, and an error like the ones seen on the shortlist; so
/// the shortlist grows until its lowest estimate plus twice the largest error seen on it is below
/// its best exact value. (For errors of one spread, the largest of 64 is about 2.4 spreads and
/// the largest of 128k about 4.5: twice covers the rows not looked at.) Returns the rows scored.
pub fn shortlist_matvec(kind: KernelKind, w: &Int4Rows, exact: &DenseMatrix, x: &[f32], out: &mut [f32]) -> usize {
    debug_assert_eq!((w.rows, w.cols), (exact.rows, exact.cols));
    debug_assert_eq!((x.len(), out.len()), (w.cols, w.rows));
    let mut q = vec![0i8; x.len()];
    let s = kind.quantize_activations(x, &mut q);
    let offsets = int4_offsets(&q);
    for_each_row_chunk(out, 1, |r0, ys| {
        for i in interleaved(ys.len()) {
            let r = r0 + i;
            ys[i] = kind.dot_int4(w.row_codes(r), w.row_scales(r), &q, &offsets) / s;
        }
    });
    let estimates = out.to_vec();
    let mut k = CANDIDATES;
    loop {
        let rows = best_rows(&estimates, k);
        let mut scores = vec![0f32; rows.len()];
        dense_rows(exact, &rows, x, &mut scores);
        let (mut lowest, mut error, mut best) = (f32::INFINITY, 0f32, f32::NEG_INFINITY);
        for (&r, &score) in rows.iter().zip(&scores) {
            out[r] = score;
            lowest = lowest.min(estimates[r]);
            error = error.max((estimates[r] - out[r]).abs());
            best = best.max(out[r]);
        }
        if rows.len() == out.len() || lowest + 2.0 * error < best {
            return rows.len();
        }
        k *= 4;
    }
}

/// What the SIMD `dot_int4` kernels subtract to undo the code offset: for each block and lane `l`,
/// `OFFSET · Σ q[16v + 4l .. 16v + 4l + 4]` over every `v` (the lanes of `scalar::dot_int4`).
pub fn int4_offsets(q: &[i8]) -> Vec<i32> {
    let mut out = Vec::with_capacity(q.len() / 16);
    for block in q.chunks_exact(BLOCK) {
        for l in 0..4 {
            let sum: i32 = (0..BLOCK / 16).flat_map(|v| &block[16 * v + 4 * l..16 * v + 4 * l + 4]).map(|&x| x as i32).sum();
            out.push(OFFSET * sum);
        }
    }
    out
}

/// The indices of the `k` largest values (all of them when there are fewer), in no order. NaNs
/// are never chosen over numbers.
pub fn best_rows(values: &[f32], k: usize) -> Vec<usize> {
    if values.len() <= k || k == 0 {
        return (0..values.len().min(k)).collect();
    }
    // NaN ranks below every number.
    let key = |r: usize| if values[r].is_nan() { f32::NEG_INFINITY } else { values[r] };
    let mut best: Vec<usize> = (0..k).collect();
    let weakest = |best: &[usize]| (0..k).fold(0, |w, i| if key(best[i]) < key(best[w]) { i } else { w });
    let mut w = weakest(&best);
    for r in k..values.len() {
        // Past the first few thousand rows a replacement is rare: one comparison per row.
        if key(r) > key(best[w]) {
            best[w] = r;
            w = weakest(&best);
        }
    }
    best
}
