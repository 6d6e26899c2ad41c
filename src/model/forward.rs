//! The forward pass (spec §4), for a batch of new tokens at the end of the cache.
//!
//! Prefill and decode are the same code: `n` tokens go through every layer together, so each
//! weight matrix is read once per layer whatever `n` is (a GEMM for prefill, a GEMV for decode).
//! It is written once, against `Backend`'s operations, for the CPU and the GPU.

use std::ops::Range;

use crate::kernels::KernelKind;

use super::backend::{Backend, Norm, Proj};
use super::cpu::Cpu;
use super::scratch::Scratch;
use super::config::attended_within;
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
        Ok(self.embed_batch(cache, &[tokens], opts)?.pop().unwrap_or_default())
    }

    /// `embed` for several inputs at once: each its own sequence, packed into the cache together
    /// (at most its length in all), so that every weight is read once for the batch.
    pub fn embed_batch(&self, cache: &mut KvCache, inputs: &[&[u32]], opts: ForwardOptions) -> Result<Vec<Vec<f32>>, ModelError> {
        let Some(pooling) = self.config.pooling else {
            return Err(ModelError::WrongKind("this is a language model, not an embedding model: it has no pooling to make embeddings".into()));
        };
        // An empty input has no vector (the engine refuses one before it gets here).
        let live: Vec<&[u32]> = inputs.iter().copied().filter(|t| !t.is_empty()).collect();
        cache.truncate(0);
        let scratch = Scratch::default();
        let max_len = cache.max_len();
        let out = hidden(&mut Cpu { model: self, cache, kind: opts.kernel, scratch: &scratch }, &self.config, &live, max_len, pooling);
        cache.truncate(0);
        if let Some(why) = self.token_embd.read_failure() {
            return Err(ModelError::FileRows(why.clone()));
        }
        let Some(h) = out? else { return Ok(vec![Vec::new(); inputs.len()]) };
        let mut rows = h.v.chunks_exact(h.cols);
        Ok(inputs
            .iter()
            .map(|t| match t.len() {
                0 => Vec::new(),
                n => pool(&rows.by_ref().take(pooled_rows(pooling, n).len()).flatten().copied().collect::<Vec<_>>(), h.cols, pooling),
            })
            .collect())
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
    let Some(x) = layers(b, c, tokens, &Placement::one(p0, tokens.len()), p0, max_len)? else { return Ok(None) };
    let n = tokens.len();
    let rows: Vec<usize> = match which {
        Logits::Last => vec![n - 1],
        Logits::All => (0..n).collect(),
    };
    Ok(Some(b.logits(&x, &rows)))
}

/// An embedding model's last hidden states, after the output norm: the rows that `pooling` reads
/// of each of `inputs`, run as independent sequences packed into an empty cache of `max_len`
/// slots (`Placement::packed`), in the order of the inputs.
pub fn hidden<B: Backend>(b: &mut B, c: &Config, inputs: &[&[u32]], max_len: usize, pooling: Pooling) -> Result<Option<B::Act>, ModelError> {
    let lens: Vec<usize> = inputs.iter().map(|t| t.len()).collect();
    let tokens = inputs.concat();
    let Some(x) = layers(b, c, &tokens, &Placement::packed(&lens), 0, max_len)? else { return Ok(None) };
    let mut rows = Vec::new();
    let mut at = 0;
    for &n in &lens {
        rows.extend(pooled_rows(pooling, n).into_iter().map(|r| at + r));
        at += n;
    }
    Ok(Some(b.hidden(&x, &rows)))
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

/// Where the rows of one forward call sit: row t is at position `pos[t]` of a sequence whose first
/// position is cache slot `start[t]`. One sequence goes on at `p0` (a prompt, a decode step), or
/// several independent ones are packed one after another into an empty cache (a batch of
/// embedding inputs: each attends to its own rows only, and every weight is read once for all).
struct Placement {
    start: Vec<usize>,
    pos: Vec<usize>,
}

impl Placement {
    fn one(p0: usize, n: usize) -> Placement {
        Placement { start: vec![0; n], pos: (p0..p0 + n).collect() }
    }

    fn packed(lens: &[usize]) -> Placement {
        let (mut start, mut pos) = (Vec::new(), Vec::new());
        let mut at = 0;
        for &n in lens {
            start.extend(std::iter::repeat_n(at, n));
            pos.extend(0..n);
            at += n;
        }
        Placement { start, pos }
    }

    /// The cache slots each row attends to: its sequence's positions up to its own, or the last
    /// `window` of them.
    fn spans(&self, window: Option<usize>) -> Vec<Range<usize>> {
        self.start.iter().zip(&self.pos).map(|(&s, &p)| {
            let r = attended_within(window, p);
            s + r.start..s + r.end
        }).collect()
    }
}

/// The embedding and every layer: the hidden state of each of `tokens` (`None` for no tokens),
/// placed as `at` says, from cache slot `p0` on.
fn layers<B: Backend>(b: &mut B, c: &Config, tokens: &[u32], at: &Placement, p0: usize, max_len: usize) -> Result<Option<B::Act>, ModelError> {
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
        at.pos.iter().map(|&p| rope_angles(p, &freqs)).collect()
    };
    let global = angles_at(c.rope_theta);
    let local = c.sliding_window.map(|w| angles_at(w.theta));
    // And the slots each row attends to, in global and in local layers, likewise once.
    let global_spans = at.spans(None);
    let local_spans = c.sliding_window.map(|w| at.spans(Some(w.window)));

    let mut x = b.embed(tokens);
    for l in 0..c.n_layer {
        let angles = match &local {
            Some(local) if c.rope_theta_of(l) != c.rope_theta => local,
            _ => &global,
        };
        let spans = match (&local_spans, c.window_of(l)) {
            (Some(local), Some(_)) => local,
            _ => &global_spans,
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
        let mut attn = b.attention(l, &q, spans);
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
