//! The forward pass (spec §4), for a batch of new tokens at the end of the cache.
//!
//! Prefill and decode are the same code: `n` tokens go through every layer together, so each
//! weight matrix is read once per layer whatever `n` is (a GEMM for prefill, a GEMV for decode).
//! It is written once, against `Backend`'s operations, for the CPU and the GPU.

use crate::kernels::KernelKind;

use super::backend::{Backend, Norm, Proj};
use super::cpu::Cpu;
use super::scratch::Scratch;
use super::{Config, KvCache, Model, ModelError, Pooling};

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

impl Model {
    /// Runs `tokens` at positions `cache.len()..` on the CPU, appending them to the cache. Returns
    /// the logits of the last token (`n_vocab` values) or of every token (`tokens.len() * n_vocab`).
    pub fn forward(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        which: Logits,
        opts: ForwardOptions,
    ) -> Result<Vec<f32>, ModelError> {
        if self.config.pooling.is_some() {
            return Err(ModelError::WrongKind("this is an embedding model: it has no LM head to give logits; use embeddings.create".into()));
        }
        let (p0, max_len) = (cache.len(), cache.max_len());
        let scratch = Scratch::default();
        let logits = forward(&mut Cpu { model: self, cache, kind: opts.kernel, scratch: &scratch }, &self.config, tokens, p0, max_len, which)?;
        // A row that could not be read from the file left zeros: this step's logits are wrong.
        if let Some(why) = self.token_embd.read_failure() {
            cache.truncate(p0);
            return Err(ModelError::FileRows(why.clone()));
        }
        Ok(logits.map_or(Vec::new(), |r| r.v.into_vec()))
    }

    /// An embedding model's vector for one input: `tokens` run from an empty `cache` (which is
    /// left empty), the last hidden states pooled as the model says, and L2-normalised.
    pub fn embed(&self, cache: &mut KvCache, tokens: &[u32], opts: ForwardOptions) -> Result<Vec<f32>, ModelError> {
        let Some(pooling) = self.config.pooling else {
            return Err(ModelError::WrongKind("this is a language model, not an embedding model: it has no pooling to make embeddings".into()));
        };
        cache.truncate(0);
        let scratch = Scratch::default();
        let max_len = cache.max_len();
        let out = hidden(&mut Cpu { model: self, cache, kind: opts.kernel, scratch: &scratch }, &self.config, tokens, 0, max_len, pooling);
        cache.truncate(0);
        if let Some(why) = self.token_embd.read_failure() {
            return Err(ModelError::FileRows(why.clone()));
        }
        let Some(h) = out? else { return Ok(Vec::new()) };
        Ok(pool(&h.v, h.cols, pooling))
    }
}

/// The rows that `pooling` reads of `n` tokens' hidden states: only they are normed (and, from a
/// GPU, read back).
fn pooled_rows(pooling: Pooling, n: usize) -> Vec<usize> {
    match pooling {
        Pooling::Last => vec![n - 1],
        Pooling::Cls => vec![0],
        Pooling::Mean => (0..n).collect(),
    }
}

/// One vector from the rows of `h` (`d` wide) that `pooled_rows` picked, L2-normalised (a zero
/// vector stays zero).
pub fn pool(h: &[f32], d: usize, pooling: Pooling) -> Vec<f32> {
    let n = h.len() / d;
    let mut v: Vec<f32> = match pooling {
        Pooling::Last | Pooling::Cls => h[(n - 1) * d..].to_vec(),
        Pooling::Mean => {
            let mut sum = vec![0f64; d];
            h.chunks_exact(d).for_each(|r| sum.iter_mut().zip(r).for_each(|(s, &x)| *s += x as f64));
            sum.iter().map(|&s| (s / n as f64) as f32).collect()
        }
    };
    let norm = v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
    }
    v
}

/// Runs `tokens` at positions `p0..` through `b`, whose cache holds `p0` positions of at most
/// `max_len`. Returns the logits of the last token or of every token (`None` for no tokens).
pub fn forward<B: Backend>(b: &mut B, c: &Config, tokens: &[u32], p0: usize, max_len: usize, which: Logits) -> Result<Option<B::Act>, ModelError> {
    let Some(x) = layers(b, c, tokens, p0, max_len)? else { return Ok(None) };
    let n = tokens.len();
    let rows: Vec<usize> = match which {
        Logits::Last => vec![n - 1],
        Logits::All => (0..n).collect(),
    };
    Ok(Some(b.logits(&x, &rows)))
}

/// An embedding model's last hidden states, after the output norm: the rows of `tokens` that
/// `pooling` reads, run at positions `p0..` as `forward` runs them.
pub fn hidden<B: Backend>(b: &mut B, c: &Config, tokens: &[u32], p0: usize, max_len: usize, pooling: Pooling) -> Result<Option<B::Act>, ModelError> {
    let Some(x) = layers(b, c, tokens, p0, max_len)? else { return Ok(None) };
    Ok(Some(b.hidden(&x, &pooled_rows(pooling, tokens.len()))))
}

/// The projections `projs` of `h` (the normed hidden state): quantized once and run together, or,
/// where each has a norm of its own before it (BitNet-embedding), each normed and quantized apart.
/// The shared quantized input comes back too, for the caller to drop with the layer's other
/// activations: the scratch then reuses its buffers in the same order in every layer, and a decode
/// step allocates the same buffers whatever the depth (tests/allocation_bounds.rs).
fn projections<B: Backend, const M: usize>(b: &mut B, l: usize, projs: [Proj; M], h: &B::Act) -> (Option<B::Quant>, [B::Act; M]) {
    if b.has_norm(l, Norm::In(projs[0])) {
        let outs = projs.map(|p| {
            let hp = b.rms_norm(h, l, Norm::In(p));
            let hp = b.quantize(&hp);
            let [out] = b.bit_linears(l, [p], &hp);
            out
        });
        (None, outs)
    } else {
        let h = b.quantize(h);
        let outs = b.bit_linears(l, projs, &h);
        (Some(h), outs)
    }
}

/// The embedding and every layer: the hidden state of each of `tokens` (`None` for no tokens).
fn layers<B: Backend>(b: &mut B, c: &Config, tokens: &[u32], p0: usize, max_len: usize) -> Result<Option<B::Act>, ModelError> {
    let n = tokens.len();
    if n == 0 {
        return Ok(None);
    }
    if p0 + n > max_len {
        return Err(ModelError::ContextFull(max_len));
    }
    if let Some(&id) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
        return Err(ModelError::BadToken { id, n_vocab: c.n_vocab });
    }
    // Each rotary base's angles, computed once per token (Gemma 3's local layers have their own base).
    let angles_at = |theta: f32| -> Vec<Vec<(f32, f32)>> {
        let freqs = inv_freq(theta, c.head_dim);
        (0..n).map(|t| rope_angles(p0 + t, &freqs)).collect()
    };
    let global = angles_at(c.rope_theta);
    let local = c.sliding_window.map(|w| angles_at(w.theta));

    let mut x = b.embed(tokens);
    for l in 0..c.n_layer {
        let angles = match &local {
            Some(local) if c.rope_theta_of(l) != c.rope_theta => local,
            _ => &global,
        };
        // Attention.
        let h = b.rms_norm(&x, l, Norm::Attn);
        let (_hq, [mut q, mut k, v]) = projections(b, l, [Proj::Q, Proj::K, Proj::V], &h);
        if b.has_norm(l, Norm::QHead) {
            q = b.rms_norm(&q, l, Norm::QHead);
            k = b.rms_norm(&k, l, Norm::KHead);
        }
        b.rope(&mut q, angles, c.rope_style);
        b.rope(&mut k, angles, c.rope_style);
        b.store_kv(l, &k, &v, p0);
        let mut attn = b.attention(l, &q, p0);
        if b.has_norm(l, Norm::AttnSub) {
            attn = b.rms_norm(&attn, l, Norm::AttnSub);
        }
        let attn = b.quantize(&attn);
        let [mut o] = b.bit_linears(l, [Proj::O], &attn);
        if b.has_norm(l, Norm::PostAttn) {
            o = b.rms_norm(&o, l, Norm::PostAttn);
        }
        b.add(&mut x, &o);

        // Feed-forward.
        let h = b.rms_norm(&x, l, Norm::Ffn);
        let (_hq, [mut g, u]) = projections(b, l, [Proj::Gate, Proj::Up], &h);
        b.gate(&mut g, &u, c.activation);
        if b.has_norm(l, Norm::FfnSub) {
            g = b.rms_norm(&g, l, Norm::FfnSub);
        }
        let g = b.quantize(&g);
        let [mut down] = b.bit_linears(l, [Proj::Down], &g);
        if b.has_norm(l, Norm::PostFfn) {
            down = b.rms_norm(&down, l, Norm::PostFfn);
        }
        b.add(&mut x, &down);
        b.check_finite(&x, l)?;
    }
    b.commit(n);
    Ok(Some(x))
}
