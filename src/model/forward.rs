//! The forward pass (spec §4), for a batch of new tokens at the end of the cache.
//!
//! Prefill and decode are the same code: `n` tokens go through every layer together, so each
//! weight matrix is read once per layer whatever `n` is (a GEMM for prefill, a GEMV for decode).

use crate::kernels::{KernelKind, dense_matvec, for_each_row_chunk_of, int8_matvec, scalar, shortlist_matvec, ternary_matmuls, threads};
use crate::quant::dense::{DenseData, DenseMatrix};

use super::{Activation, KvCache, Linear, LmHead, Model, ModelError, RopeStyle};

#[derive(Clone, Copy, Debug)]
pub struct ForwardOptions {
    pub kernel: KernelKind,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions { kernel: KernelKind::best() }
    }
}

/// Which positions need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's (generation).
    Last,
    /// Every token's (evaluation, tests).
    All,
}

/// Activations of `n` tokens, int8-quantized per token (row).
struct Quantized {
    q: Vec<i8>,
    s: Vec<f32>,
}

impl Quantized {
    fn of(kind: KernelKind, x: &[f32], cols: usize) -> Quantized {
        let n = x.len() / cols;
        let mut q = vec![0i8; x.len()];
        let s = x.chunks_exact(cols).zip(q.chunks_exact_mut(cols)).map(|(xr, qr)| kind.quantize_activations(xr, qr)).collect();
        debug_assert_eq!(n, q.len() / cols);
        Quantized { q, s }
    }
}

/// BitLinear: `W · x` for each token, with x quantized to int8 first, for several matrices that
/// share the input (q, k, v; gate, up) in one parallel pass.
fn bit_linears<const M: usize>(kind: KernelKind, lins: [&Linear; M], x: &Quantized) -> [Vec<f32>; M] {
    let n = x.s.len();
    let mut outs = lins.map(|lin| vec![0f32; n * lin.w.rows]);
    let mut slices: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
    ternary_matmuls(kind, &lins.map(|lin| &lin.w), &x.q, &x.s, &mut slices);
    for (lin, out) in lins.iter().zip(outs.iter_mut()) {
        if let Some(scale) = lin.scale {
            out.iter_mut().for_each(|v| *v *= scale);
        }
    }
    outs
}

fn bit_linear(kind: KernelKind, lin: &Linear, x: &Quantized) -> Vec<f32> {
    let [out] = bit_linears(kind, [lin], x);
    out
}

fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (xr, or) in x.chunks_exact(w.len()).zip(out.chunks_exact_mut(w.len())) {
        scalar::rms_norm(xr, w, eps, or);
    }
    out
}

/// The rotary frequencies exactly as HF computes them: `1 / theta^(2i/d)` in f32.
fn inv_freq(theta: f32, head_dim: usize) -> Vec<f32> {
    (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect()
}

/// The (cos, sin) of each rotary frequency at position `pos`: computed once per token, not per
/// layer (trigonometry is a software routine in wasm).
fn rope_angles(pos: usize, freqs: &[f32]) -> Vec<(f32, f32)> {
    freqs.iter().map(|&f| {
        let angle = pos as f32 * f;
        (angle.cos(), angle.sin())
    }).collect()
}

/// Rotates every head of `x` (a row of `n_heads * head_dim`) by the angles of its position.
fn rope(x: &mut [f32], head_dim: usize, cs: &[(f32, f32)], style: RopeStyle) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for (i, &(cos, sin)) in cs.iter().enumerate() {
            let (ia, ib) = match style {
                RopeStyle::Neox => (i, i + half),
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
            };
            let (a, b) = (head[ia], head[ib]);
            head[ia] = a * cos - b * sin;
            head[ib] = b * cos + a * sin;
        }
    }
}

/// How many query heads of a KV head attend together, given `kv_units` (tokens × KV heads) and
/// `group` query heads per KV head: as many as leave at least four units per thread, since a unit
/// is the smallest piece of attention a thread takes. Together they read the cache once (see
/// `KvCache::attend_heads`); split, the threads stay evenly loaded (2B4T decode at 2 threads: 10
/// units of 2 heads rather than 5 of 4).
fn heads_per_unit(kv_units: usize, group: usize, threads: usize) -> usize {
    (1..=group).rev().find(|&u| group % u == 0 && kv_units * (group / u) >= 4 * threads).unwrap_or(1)
}

impl Model {
    /// Runs `tokens` at positions `cache.len()..`, appending them to the cache. Returns the logits
    /// of the last token (`n_vocab` values) or of every token (`tokens.len() * n_vocab`).
    pub fn forward(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        which: Logits,
        opts: ForwardOptions,
    ) -> Result<Vec<f32>, ModelError> {
        let c = &self.config;
        let (n, d, kvd, hd) = (tokens.len(), c.n_embd, c.kv_dim(), c.head_dim);
        let p0 = cache.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if p0 + n > cache.max_len() {
            return Err(ModelError::ContextFull(cache.max_len()));
        }
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(ModelError::BadToken { id, n_vocab: c.n_vocab });
        }
        let kind = opts.kernel;
        let freqs = inv_freq(c.rope_theta, hd);
        let angles: Vec<Vec<(f32, f32)>> = (0..n).map(|t| rope_angles(p0 + t, &freqs)).collect();
        let group = c.n_head / c.n_head_kv;
        let unit = heads_per_unit(n * c.n_head_kv, group, threads());
        let attn_scale = 1.0 / (hd as f32).sqrt();

        let mut x = vec![0f32; n * d];
        for (row, &t) in x.chunks_exact_mut(d).zip(tokens) {
            self.token_embd.row_into(t as usize, row);
        }
        for (l, layer) in self.layers.iter().enumerate() {
            // Attention.
            let h = Quantized::of(kind, &rms_norm_rows(&x, &layer.attn_norm, c.rms_eps), d);
            let [mut q, mut k, v] = bit_linears(kind, [&layer.wq, &layer.wk, &layer.wv], &h);
            for t in 0..n {
                rope(&mut q[t * d..(t + 1) * d], hd, &angles[t], c.rope_style);
                rope(&mut k[t * kvd..(t + 1) * kvd], hd, &angles[t], c.rope_style);
                cache.push(l, &k[t * kvd..(t + 1) * kvd], &v[t * kvd..(t + 1) * kvd]);
            }
            // One row of `attn` per (token, head). Heads of one KV head read its cache together,
            // `unit` heads at a time, and the units are split across threads.
            let mut attn = vec![0f32; n * d];
            let kv = &*cache;
            for_each_row_chunk_of(&mut attn, unit * hd, 1, |r0, chunk| {
                let mut scores = Vec::new();
                for (i, out) in chunk.chunks_exact_mut(unit * hd).enumerate() {
                    let (t, head) = ((r0 + i) * unit / c.n_head, (r0 + i) * unit % c.n_head);
                    let qh = &q[t * d + head * hd..][..unit * hd];
                    kv.attend_heads(kind, l, qh, head / group, p0 + t + 1, attn_scale, &mut scores, out);
                }
            });
            let attn = match &layer.attn_sub_norm {
                Some(w) => rms_norm_rows(&attn, w, c.rms_eps),
                None => attn,
            };
            let o = bit_linear(kind, &layer.wo, &Quantized::of(kind, &attn, d));
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            // Feed-forward.
            let h = Quantized::of(kind, &rms_norm_rows(&x, &layer.ffn_norm, c.rms_eps), d);
            let [mut g, u] = bit_linears(kind, [&layer.w_gate, &layer.w_up], &h);
            // The activation is matched once, outside the loops, so that each loop vectorises;
            // ReLU² takes a select, not `max` (f32.max is a NaN-careful sequence in wasm), and
            // SiLU the arithmetic exp (wasm's library exp cost ~30 ns a call).
            match c.activation {
                Activation::Relu2 => g.iter_mut().zip(&u).for_each(|(gi, &ui)| {
                    let r = if *gi > 0.0 { *gi } else { 0.0 };
                    *gi = r * r * ui;
                }),
                Activation::Silu => g.iter_mut().zip(&u).for_each(|(gi, &ui)| *gi = *gi / (1.0 + scalar::exp_f32(-*gi)) * ui),
            }
            let g = match &layer.ffn_sub_norm {
                Some(w) => rms_norm_rows(&g, w, c.rms_eps),
                None => g,
            };
            let down = bit_linear(kind, &layer.w_down, &Quantized::of(kind, &g, c.n_ff));
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
            // A NaN would otherwise flow on and come out as NaN logits with no hint where it began;
            // the check costs one pass over the hidden state per layer.
            if x.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::NonFinite { layer: l });
            }
        }
        cache.commit(n);

        let rows: Vec<usize> = match which {
            Logits::Last => vec![n - 1],
            Logits::All => (0..n).collect(),
        };
        let mut logits = vec![0f32; rows.len() * c.n_vocab];
        let mut xn = vec![0f32; d];
        for (i, &t) in rows.iter().enumerate() {
            scalar::rms_norm(&x[t * d..(t + 1) * d], &self.output_norm, c.rms_eps, &mut xn);
            let out = &mut logits[i * c.n_vocab..(i + 1) * c.n_vocab];
            match (&self.head, self.stored_head()) {
                (LmHead::Int8(m), _) => int8_matvec(kind, m, &xn, out),
                // A tied head whose embedding was quantized as it streamed in.
                (_, Some(DenseMatrix { data: DenseData::Int8(q), .. })) => int8_matvec(kind, q, &xn, out),
                (LmHead::Shortlist { int4, .. }, Some(m)) => {
                    shortlist_matvec(kind, int4, m, &xn, out);
                }
                (_, Some(m)) => dense_matvec(m, &xn, out),
                (_, None) => unreachable!("every head but the int8 one is stored"),
            }
        }
        Ok(logits)
    }
}
