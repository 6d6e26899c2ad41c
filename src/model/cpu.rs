//! The forward pass's operations on the CPU: the kernels in `kernels` (wasm SIMD, threads) over
//! the model's weights in memory and the `KvCache`.

use crate::kernels::{KernelKind, dense_matvec, for_each_row_chunk_of, int8_matvec, scalar, shortlist_matvec, ternary_matmuls, threads};
use crate::quant::ternary::pad_cols;
use crate::weights::dense::{DenseData, DenseMatrix};

use super::backend::{Backend, Norm, Proj};
use super::scratch::{Buf, Scratch};
use super::{Activation, KvCache, Layer, Linear, LmHead, Model, ModelError, RopeStyle};

/// Rows of f32 activations, `cols` wide, in a buffer of the step's scratch.
pub struct Rows<'s> {
    pub v: Buf<'s, f32>,
    pub cols: usize,
}

/// Activations of `n` tokens, int8-quantized per token (row).
pub struct Quantized<'s> {
    q: Buf<'s, i8>,
    s: Buf<'s, f32>,
}

pub struct Cpu<'a, 's> {
    pub model: &'a Model,
    pub cache: &'a mut KvCache,
    pub kind: KernelKind,
    /// Where every activation's buffer comes from and goes back to.
    pub scratch: &'s Scratch,
}

impl Layer {
    fn norm(&self, norm: Norm) -> Option<&Vec<f32>> {
        match norm {
            Norm::Attn => Some(&self.attn_norm),
            Norm::AttnSub => self.attn_sub_norm.as_ref(),
            Norm::Ffn => Some(&self.ffn_norm),
            Norm::FfnSub => self.ffn_sub_norm.as_ref(),
            Norm::In(p) => {
                let i = [Proj::Q, Proj::K, Proj::V, Proj::Gate, Proj::Up].iter().position(|&q| q == p)?;
                self.in_norms.as_ref().map(|n| &n[i])
            }
            Norm::QHead => self.head_norms.as_ref().map(|n| &n[0]),
            Norm::KHead => self.head_norms.as_ref().map(|n| &n[1]),
            Norm::PostAttn => self.post_norms.as_ref().map(|n| &n[0]),
            Norm::PostFfn => self.post_norms.as_ref().map(|n| &n[1]),
        }
    }

    pub(super) fn proj(&self, p: Proj) -> &Linear {
        match p {
            Proj::Q => &self.wq,
            Proj::K => &self.wk,
            Proj::V => &self.wv,
            Proj::O => &self.wo,
            Proj::Gate => &self.w_gate,
            Proj::Up => &self.w_up,
            Proj::Down => &self.w_down,
        }
    }
}

fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    for (xr, or) in x.chunks_exact(w.len()).zip(out.chunks_exact_mut(w.len())) {
        scalar::rms_norm(xr, w, eps, or);
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

impl<'s> Backend for Cpu<'_, 's> {
    type Act = Rows<'s>;
    type Quant = Quantized<'s>;

    fn embed(&mut self, tokens: &[u32]) -> Rows<'s> {
        let d = self.model.config.n_embd;
        let mut x = self.scratch.f32s(tokens.len() * d);
        let rows: Vec<usize> = tokens.iter().map(|&t| t as usize).collect();
        self.model.token_embd.rows_into(&rows, &mut x);
        if let Some(s) = self.model.config.embed_scale {
            x.iter_mut().for_each(|v| *v *= s);
        }
        Rows { v: x, cols: d }
    }

    fn has_norm(&self, l: usize, norm: Norm) -> bool {
        self.model.layers[l].norm(norm).is_some()
    }

    fn rms_norm(&mut self, x: &Rows<'s>, l: usize, norm: Norm) -> Rows<'s> {
        let w = self.model.layers[l].norm(norm).expect("callers ask has_norm first");
        let mut out = self.scratch.f32s(x.v.len());
        rms_norm_rows(&x.v, w, self.model.config.rms_eps, &mut out);
        Rows { v: out, cols: x.cols }
    }

    fn quantize(&mut self, x: &Rows<'s>) -> Quantized<'s> {
        // Rows are padded with zeros to the packed width of the weights they meet (`ternary::pad_cols`):
        // bitnet_b1_58-3B's 8640-wide FFN activations; every other width is already whole blocks.
        let (n, width) = (x.v.len() / x.cols, pad_cols(x.cols));
        let (mut q, mut s) = (self.scratch.i8s(n * width), self.scratch.f32s(n));
        for ((xr, qr), sr) in x.v.chunks_exact(x.cols).zip(q.chunks_exact_mut(width)).zip(s.iter_mut()) {
            let (live, pad) = qr.split_at_mut(x.cols);
            *sr = self.kind.quantize_activations(xr, live);
            pad.fill(0);
        }
        Quantized { q, s }
    }

    fn bit_linears<const M: usize>(&mut self, l: usize, projs: [Proj; M], x: &Quantized<'s>) -> [Rows<'s>; M] {
        let n = x.s.len();
        let lins = projs.map(|p| self.model.layers[l].proj(p));
        let scratch = self.scratch;
        let mut outs = lins.map(|lin| scratch.f32s(n * lin.w.rows));
        let mut slices = outs.each_mut().map(|o| o.as_mut_slice());
        ternary_matmuls(self.kind, &lins.map(|lin| &lin.w), &x.q, &x.s, &mut slices);
        for (lin, out) in lins.iter().zip(outs.iter_mut()) {
            if let Some(scale) = lin.scale {
                out.iter_mut().for_each(|v| *v *= scale);
            }
        }
        let mut outs = outs.into_iter();
        lins.map(|lin| Rows { v: outs.next().expect("one output per projection"), cols: lin.w.rows })
    }

    fn rope(&mut self, x: &mut Rows<'s>, angles: &[Vec<(f32, f32)>], style: RopeStyle) {
        let hd = self.model.config.head_dim;
        let half = hd / 2;
        for (row, cs) in x.v.chunks_exact_mut(x.cols).zip(angles) {
            for head in row.chunks_exact_mut(hd) {
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
    }

    fn store_kv(&mut self, l: usize, k: &Rows<'s>, v: &Rows<'s>, _p0: usize) {
        for (kr, vr) in k.v.chunks_exact(k.cols).zip(v.v.chunks_exact(v.cols)) {
            self.cache.push(l, kr, vr);
        }
    }

    fn attention(&mut self, l: usize, q: &Rows<'s>, spans: &[std::ops::Range<usize>]) -> Rows<'s> {
        let c = &self.model.config;
        let (d, hd, n) = (c.q_dim(), c.head_dim, q.v.len() / q.cols);
        let group = c.n_head / c.n_head_kv;
        let unit = heads_per_unit(n * c.n_head_kv, group, threads());
        let scale = c.attn_scale;
        // One row of `attn` per (token, head). Heads of one KV head read its cache together,
        // `unit` heads at a time, and the units are split across threads.
        let mut attn = self.scratch.f32s(n * d);
        let (kv, kind, scratch, qv) = (&*self.cache, self.kind, self.scratch, &q.v[..]);
        for_each_row_chunk_of(&mut attn, unit * hd, 1, |r0, chunk| {
            let mut scores = scratch.f32s(0);
            for (i, out) in chunk.chunks_exact_mut(unit * hd).enumerate() {
                let (t, head) = ((r0 + i) * unit / c.n_head, (r0 + i) * unit % c.n_head);
                let qh = &qv[t * d + head * hd..][..unit * hd];
                kv.attend_heads(kind, l, qh, head / group, spans[t].clone(), scale, &mut scores, out);
            }
        });
        Rows { v: attn, cols: d }
    }

    fn gate(&mut self, g: &mut Rows<'s>, u: &Rows<'s>, act: Activation) {
        // The activation is matched once, outside the loops, so that each loop vectorises;
        // ReLU² takes a select, not `max` (f32.max is a NaN-careful sequence in wasm), and
        // SiLU the arithmetic exp (wasm's library exp cost ~30 ns a call).
        match act {
            Activation::Relu2 => g.v.iter_mut().zip(u.v.iter()).for_each(|(gi, &ui)| {
                let r = if *gi > 0.0 { *gi } else { 0.0 };
                *gi = r * r * ui;
            }),
            Activation::Silu => g.v.iter_mut().zip(u.v.iter()).for_each(|(gi, &ui)| *gi = *gi / (1.0 + scalar::exp_f32(-*gi)) * ui),
            // PyTorch's tanh form, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with tanh(y) = 1 − 2/(e^{2y} + 1).
            Activation::GeluTanh => g.v.iter_mut().zip(u.v.iter()).for_each(|(gi, &ui)| {
                let x = *gi;
                let y = 0.797_884_6 * (x + 0.044_715 * x * x * x);
                let tanh = 1.0 - 2.0 / (scalar::exp_f32(2.0 * y) + 1.0);
                *gi = 0.5 * x * (1.0 + tanh) * ui;
            }),
        }
    }

    fn add(&mut self, x: &mut Rows<'s>, y: &Rows<'s>) {
        x.v.iter_mut().zip(y.v.iter()).for_each(|(a, b)| *a += b);
    }

    fn check_finite(&mut self, x: &Rows<'s>, l: usize) -> Result<(), ModelError> {
        // A NaN would otherwise flow on and come out as NaN logits with no hint where it began;
        // the check costs one pass over the hidden state per layer.
        if x.v.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite { layer: l });
        }
        Ok(())
    }

    fn commit(&mut self, n: usize) {
        self.cache.commit(n);
    }

    fn hidden(&mut self, x: &Rows<'s>, rows: &[usize]) -> Rows<'s> {
        let (m, d) = (self.model, x.cols);
        let mut out = vec![0f32; rows.len() * d];
        for (o, &t) in out.chunks_exact_mut(d).zip(rows) {
            scalar::rms_norm(&x.v[t * d..(t + 1) * d], &m.output_norm, m.config.rms_eps, o);
        }
        Rows { v: Buf::from(out), cols: d }
    }

    fn logits(&mut self, x: &Rows<'s>, rows: &[usize]) -> Rows<'s> {
        let (m, kind, d) = (self.model, self.kind, x.cols);
        let n_vocab = m.config.n_vocab;
        let mut logits = vec![0f32; rows.len() * n_vocab];
        let mut xn = vec![0f32; d];
        for (i, &t) in rows.iter().enumerate() {
            scalar::rms_norm(&x.v[t * d..(t + 1) * d], &m.output_norm, m.config.rms_eps, &mut xn);
            let out = &mut logits[i * n_vocab..(i + 1) * n_vocab];
            match (&m.head, m.stored_head()) {
                (LmHead::Int8(h), _) => int8_matvec(kind, h, &xn, out),
                // A tied head whose embedding was quantized as it streamed in.
                (_, Some(DenseMatrix { data: DenseData::Int8(q), .. })) => int8_matvec(kind, q, &xn, out),
                (LmHead::Shortlist { int4, .. }, Some(h)) => {
                    shortlist_matvec(kind, int4, h, &xn, out);
                }
                (_, Some(h)) => dense_matvec(h, &xn, out),
                (_, None) => unreachable!("every head but the int8 one is stored"),
            }
        }
        // The caller keeps the logits: they are its own vector, not the scratch's.
        Rows { v: Buf::from(logits), cols: n_vocab }
    }
}
