//! Ternary matrix × int8 activations, with the scale epilogue exactly as bitnet.cpp orders it:
//! `y = (f32)(Σ weight·q) / s * scale` (per-block scales for the TQ formats sum block by block).
//!
//! Output rows are split across threads, those of several matrices together (`ternary_matmuls`).
//! Within a row, tokens go four at a time through `dot_codes_x4`, so a prefill decodes each weight
//! vector once per four tokens; the rest go one by one through `dot_codes`, the GEMV kernel. A
//! decoded token's rows go two at a time through `dot_codes_x2`, in the order `streams` gives.

use smallvec::SmallVec;

use crate::quant::ternary::{PackedTernary, SCALE_BLOCK, TernaryScale};

use super::parallel::{SendPtr, for_each_row_range};
use super::streams::interleaved;
use super::KernelKind;

/// `out[r] = W[r] · x` for one token, where `q`/`s` are x quantized by `quantize_activations`.
pub fn ternary_matvec(kind: KernelKind, w: &PackedTernary, q: &[i8], s: f32, out: &mut [f32]) {
    ternary_matmul(kind, w, q, &[s], out);
}

/// `ternary_matvec` for `n` tokens at once: `q` is `n × cols`, `s` has `n` scales, `out` is `n × rows`.
pub fn ternary_matmul(kind: KernelKind, w: &PackedTernary, q: &[i8], s: &[f32], out: &mut [f32]) {
    ternary_matmuls(kind, &[w], q, s, &mut [out]);
}

/// `ternary_matmul` of several matrices over the same activations (q, k and v; gate and up) in one
/// parallel pass: their rows are split across threads together, so a decoded token waits for its
/// threads once per group instead of once per matrix, and the small k and v matrices share parts
/// with q instead of each being cut into slivers.
pub fn ternary_matmuls(kind: KernelKind, ws: &[&PackedTernary], q: &[i8], s: &[f32], outs: &mut [&mut [f32]]) {
    assert_eq!(ws.len(), outs.len());
    let n = s.len();
    // Inline for a decoded token (three matrices at most, 54 block sums for 6912 columns): the
    // forward pass allocates per step, not per operation (model/scratch.rs).
    let jobs: SmallVec<[RowJob; 3]> = ws.iter().zip(outs.iter_mut()).map(|(&w, out)| {
        debug_assert_eq!(q.len(), n * w.cols);
        assert_eq!(out.len(), n * w.rows);
        // Columns that share one scale, and Σq over each such span of each token (code = weight + 1).
        let span = match w.scale {
            TernaryScale::PerTensor(_) => w.cols,
            TernaryScale::PerBlock(_) => SCALE_BLOCK,
        };
        let qsums = q.chunks_exact(span).map(|c| c.iter().map(|&v| v as i32).sum()).collect();
        RowJob { kind, w, q, s, qsums, span, out: SendPtr(out.as_mut_ptr()) }
    }).collect();
    let total: usize = ws.iter().map(|w| w.rows).sum();
    for_each_row_range(total, 16, |range| {
        let mut first = 0;
        for job in &jobs {
            let rows = first..first + job.w.rows;
            let (start, end) = (range.start.max(rows.start), range.end.min(rows.end));
            if start < end {
                job.run(start - first..end - first);
            }
            first = rows.end;
        }
    });
}

/// Rows per group in the prefill loop (16 rows of 2560 columns are 10 KB of codes).
const ROW_GROUP: usize = 16;

/// One matrix's share of a product: its weights, the activations, and where its `n × rows` outputs go.
struct RowJob<'a> {
    kind: KernelKind,
    w: &'a PackedTernary,
    q: &'a [i8],
    s: &'a [f32],
    qsums: SmallVec<[i32; 64]>,
    span: usize,
    out: SendPtr,
}

impl RowJob<'_> {
    /// Computes rows `range` for every token. Threads own whole rows; each row's `n` outputs go
    /// straight to their token-major places. With several tokens, rows go in groups, and each
    /// four-token tile runs over the whole group before the next tile: the tile's activations
    /// (4 × cols bytes) then stay in L1 across the group's rows instead of being fetched again for
    /// every row.
    fn run(&self, range: std::ops::Range<usize>) {
        let (n, rows) = (self.s.len(), self.w.rows);
        if n == 1 {
            // SAFETY: one token's outputs are row-indexed; only this range writes rows `range`, and
            // the output (checked to hold `rows` values) outlives the call.
            let out = unsafe { std::slice::from_raw_parts_mut(self.out.get().add(range.start), range.len()) };
            return self.gemv(range.start, out);
        }
        let mut ys = vec![0f32; n * ROW_GROUP];
        let mut g0 = range.start;
        while g0 < range.end {
            let group = g0..(g0 + ROW_GROUP).min(range.end);
            let mut t = 0;
            while t < n {
                let width = if t + 4 <= n { 4 } else { 1 };
                for r in group.clone() {
                    self.tile(r, t, width, &mut ys[(r - g0) * n..][..n]);
                }
                t += width;
            }
            for r in group.clone() {
                for (t, &y) in ys[(r - g0) * n..][..n].iter().enumerate() {
                    // SAFETY: element t·rows + r belongs to row r, which only this range writes, and
                    // the output (n × rows, checked) outlives the call.
                    unsafe { *self.out.get().add(t * rows + r) = y };
                }
            }
            g0 = group.end;
        }
    }

    /// One token's outputs of rows `r0..`, the rows taken from several places at once
    /// (`streams`). A per-tensor scale (every BitNet conversion) takes a plain loop over rows:
    /// measured 15% faster in Chromium than going through `tile`.
    fn gemv(&self, r0: usize, out: &mut [f32]) {
        let TernaryScale::PerTensor(scale) = self.w.scale else {
            for i in interleaved(out.len()) {
                self.tile(r0 + i, 0, 1, &mut out[i..i + 1]);
            }
            return;
        };
        // Rows two at a time (`dot_codes_x2`), each pair from two of the places.
        let (s, qsum) = (self.s[0], self.qsums[0]);
        let y = |d: i32| (d - qsum) as f32 / s * scale;
        let mut order = interleaved(out.len());
        while let Some(i) = order.next() {
            match order.next() {
                Some(j) => {
                    let [a, b] = self.kind.dot_codes_x2([self.w.row(r0 + i), self.w.row(r0 + j)], self.q);
                    (out[i], out[j]) = (y(a), y(b));
                }
                None => out[i] = y(self.kind.dot_codes(self.w.row(r0 + i), self.q)),
            }
        }
    }

    /// Row `r`'s outputs for tokens `t..t + width` (4, or 1) into `ys[t..]`.
    fn tile(&self, r: usize, t: usize, width: usize, ys: &mut [f32]) {
        let cols = self.w.cols;
        if width == 4 {
            let y = self.combine(r, t, |codes, c0, span| {
                self.kind.dot_codes_x4(codes, [0, 1, 2, 3].map(|k| &self.q[(t + k) * cols + c0..][..span]))
            });
            ys[t..t + 4].copy_from_slice(&y);
        } else {
            let x = &self.q[t * cols..(t + 1) * cols];
            ys[t] = self.combine(r, t, |codes, c0, span| [self.kind.dot_codes(codes, &x[c0..c0 + span])])[0];
        }
    }

    /// Outputs of row `r` for tokens `t0..t0+T`, given the integer dot over each scale span.
    fn combine<const T: usize>(&self, r: usize, t0: usize, dot: impl Fn(&[u8], usize, usize) -> [i32; T]) -> [f32; T] {
        let (row, span) = (self.w.row(r), self.span);
        let spans = self.w.cols / span;
        match &self.w.scale {
            TernaryScale::PerTensor(scale) => {
                let d = dot(row, 0, span);
                std::array::from_fn(|k| (d[k] - self.qsums[t0 + k]) as f32 / self.s[t0 + k] * scale)
            }
            TernaryScale::PerBlock(scales) => {
                let mut acc = [0f32; T];
                for b in 0..spans {
                    let d = dot(&row[b * span / 4..(b + 1) * span / 4], b * span, span);
                    for k in 0..T {
                        acc[k] += (d[k] - self.qsums[(t0 + k) * spans + b]) as f32 * scales[r * spans + b];
                    }
                }
                std::array::from_fn(|k| acc[k] / self.s[t0 + k])
            }
        }
    }
}
