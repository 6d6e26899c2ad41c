//! Where the forward pass runs, and where its weights and KV cache live: on the CPU (a [`Model`]
//! and a [`KvCache`]) or on a GPU (a [`GpuModel`], which holds both on the device). The engine
//! asks this for logits, lengths and sizes, and never matches on a backend: a new backend is a
//! new `Place` here, not a new branch in the engine.
//!
//! A GPU that fails leaves the CPU in charge (`to_cpu`). Its weights were only on the device (the
//! GPU path's loader never keeps them in host memory), so until the same file is loaded again for
//! the CPU (`replace`) nothing can run: `is_lost` says so, and the engine tells its caller.

use crate::gpu::{Gpu, GpuError};

use super::{Config, ForwardOptions, GpuModel, KvCache, KvPrecision, Logits, Model, ModelError};

/// Which backend runs the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Cpu,
    Gpu,
}

impl BackendKind {
    /// The name in statistics and in JavaScript: "cpu", or "webgpu" in a browser ("gpu" natively,
    /// where wgpu runs on Vulkan, Metal or DX12).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu if cfg!(target_arch = "wasm32") => "webgpu",
            BackendKind::Gpu => "gpu",
        }
    }
}

/// The logits a forward call returns.
pub enum Want<'a> {
    /// The last token's.
    Last,
    /// Every token's (evaluation).
    All,
    /// The last token's, of which only the `need` largest matter to the sampler once the tokens
    /// for which `lowered` holds (its penalties lower them) are set aside. A GPU then reads back
    /// only its `GPU_CANDIDATES` best (a decode step's readback of 2B4T: 32 KB, not 513 KB), and
    /// every other logit reads as `f32::MIN`: the token sampled is the one it would be from all.
    Decisive { need: usize, lowered: &'a dyn Fn(u32) -> bool },
}

/// Logits a GPU decode step reads back when the sampler needs only the largest.
pub const GPU_CANDIDATES: usize = 64;

enum Place {
    Cpu { model: Model, cache: KvCache },
    Gpu(GpuModel),
    /// The GPU was lost with the weights on it: nothing runs until `replace`.
    Lost,
}

pub struct Compute {
    config: Config,
    place: Place,
    kv: KvPrecision,
    max_len: usize,
    /// The LM head's precision, for statistics (kept across a lost GPU).
    head: &'static str,
}

impl Compute {
    /// The forward pass on the CPU, with a KV cache of `context` positions (0: the model's
    /// training context, at most 4096).
    pub fn cpu(model: Model, kv: KvPrecision, context: usize) -> Compute {
        let config = model.config.clone();
        let max_len = config.context_length(context);
        let cache = KvCache::new(config.n_layer, config.kv_dim(), config.head_dim, max_len, kv);
        let head = model.head_name();
        Compute { config, place: Place::Cpu { model, cache }, kv, max_len, head }
    }

    /// The forward pass on the GPU that holds `model`'s weights and KV cache.
    pub fn gpu(model: GpuModel, kv: KvPrecision) -> Compute {
        let (config, max_len, head) = (model.config().clone(), model.max_len(), model.head_name());
        Compute { config, place: Place::Gpu(model), kv, max_len, head }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn kind(&self) -> BackendKind {
        match self.place {
            Place::Gpu(_) => BackendKind::Gpu,
            Place::Cpu { .. } | Place::Lost => BackendKind::Cpu,
        }
    }

    /// The GPU, when one runs the forward pass.
    pub fn gpu_device(&self) -> Option<&Gpu> {
        match &self.place {
            Place::Gpu(g) => Some(&g.gpu),
            _ => None,
        }
    }

    /// The model in host memory, when the CPU runs it (evaluation tools read its weights).
    pub fn model(&self) -> Option<&Model> {
        match &self.place {
            Place::Cpu { model, .. } => Some(model),
            _ => None,
        }
    }

    /// Turns the projections the CPU holds from one I2_S reading to another (`Model::reread_i2s`),
    /// emptying the cache; nothing where the host holds no weights.
    pub fn reread_i2s(&mut self, from: crate::quant::I2sLayout, to: crate::quant::I2sLayout) {
        if let Place::Cpu { model, cache } = &mut self.place {
            model.reread_i2s(from, to);
            cache.truncate(0);
        }
    }

    /// Whether a lost GPU took the weights with it (`replace` brings them back).
    pub fn is_lost(&self) -> bool {
        matches!(self.place, Place::Lost)
    }

    /// Positions the KV cache holds.
    pub fn len(&self) -> usize {
        match &self.place {
            Place::Cpu { cache, .. } => cache.len(),
            Place::Gpu(g) => g.len(),
            Place::Lost => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Forgets every position from `n` on.
    pub fn truncate(&mut self, n: usize) {
        match &mut self.place {
            Place::Cpu { cache, .. } => cache.truncate(n),
            Place::Gpu(g) => g.truncate(n),
            Place::Lost => {}
        }
    }

    /// Host memory held: the weights and the KV cache on the CPU (none on a GPU, which holds both).
    pub fn memory_bytes(&self) -> usize {
        match &self.place {
            Place::Cpu { model, cache } => model.memory_bytes() + cache.memory_bytes(),
            Place::Gpu(_) | Place::Lost => 0,
        }
    }

    /// The LM head that runs: "int8", "f16", "f32", "int4→f16" or "int4→f32".
    pub fn head_name(&self) -> &'static str {
        self.head
    }

    /// Runs `tokens` after the cached positions. A GPU failure is `ModelError::Gpu`, after which
    /// the caller moves to the CPU (`to_cpu`); the cache is as it was before the call.
    pub async fn forward(&mut self, tokens: &[u32], want: Want<'_>, opts: ForwardOptions) -> Result<Vec<f32>, ModelError> {
        let n_vocab = self.config.n_vocab;
        match (&mut self.place, want) {
            (Place::Cpu { model, cache }, Want::All) => model.forward(cache, tokens, Logits::All, opts),
            (Place::Cpu { model, cache }, _) => model.forward(cache, tokens, Logits::Last, opts),
            (Place::Gpu(g), Want::All) => g.forward(tokens, Logits::All).await,
            (Place::Gpu(g), Want::Decisive { need, lowered }) if need <= GPU_CANDIDATES => {
                let best = match g.forward_best(tokens, GPU_CANDIDATES).await? {
                    Ok(best) => best,
                    // NaN or infinite logits: the whole row shows them to the caller's check.
                    Err(_) => return g.last_logits().await,
                };
                if best.iter().filter(|&&(t, _)| !lowered(t)).count() >= need || best.len() == n_vocab {
                    let mut all = vec![f32::MIN; n_vocab];
                    best.iter().for_each(|&(t, l)| all[t as usize] = l);
                    Ok(all)
                } else {
                    g.last_logits().await
                }
            }
            (Place::Gpu(g), _) => g.forward(tokens, Logits::Last).await,
            (Place::Lost, _) => Err(ModelError::Gpu(GpuError::Device("the weights were on a GPU that was lost; load the model again".into()))),
        }
    }

    /// An embedding model's vectors for `inputs`, each its own sequence (the cache is emptied
    /// before and after). The CPU packs consecutive inputs of up to `PACK_TOKENS` tokens in all
    /// into one forward call (`Model::embed_batch`); the GPU runs them one at a time. A GPU failure
    /// is `ModelError::Gpu`, as for `forward`.
    pub async fn embed_batch(&mut self, inputs: &[&[u32]], opts: ForwardOptions) -> Result<Vec<Vec<f32>>, ModelError> {
        match &mut self.place {
            Place::Cpu { model, cache } => {
                let mut out = Vec::with_capacity(inputs.len());
                for pack in packs(inputs, cache.max_len().min(PACK_TOKENS)) {
                    out.extend(model.embed_batch(cache, pack, opts)?);
                }
                Ok(out)
            }
            Place::Gpu(g) => {
                let mut out = Vec::with_capacity(inputs.len());
                for tokens in inputs {
                    out.push(g.embed(tokens).await?);
                }
                Ok(out)
            }
            Place::Lost => Err(ModelError::Gpu(GpuError::Device("the weights were on a GPU that was lost; load the model again".into()))),
        }
    }

    /// Moves the forward pass to the CPU with an empty cache. From a GPU, the weights stay behind
    /// with it (`is_lost` until `replace`).
    pub fn to_cpu(&mut self) {
        self.place = match std::mem::replace(&mut self.place, Place::Lost) {
            Place::Cpu { model, .. } => {
                let c = &self.config;
                let cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, self.max_len, self.kv);
                Place::Cpu { model, cache }
            }
            Place::Gpu(_) | Place::Lost => Place::Lost,
        };
    }

    /// Puts `model` (the same file, loaded again for the CPU) in place of one a lost GPU took: the
    /// CPU runs it with an empty cache of the same length.
    pub fn replace(&mut self, model: Model) -> Result<(), ModelError> {
        if model.config != self.config {
            return Err(ModelError::NotTheSameModel);
        }
        let c = &self.config;
        let cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, self.max_len, self.kv);
        self.head = model.head_name();
        self.place = Place::Cpu { model, cache };
        Ok(())
    }
}

/// The tokens of the inputs the CPU packs into one forward call, where every weight is read once for
/// all of them. Measured natively (`bitnet-web embed --threads 1 [--one-at-a-time]`, synth
/// BitNet-embedding-0.6B, 16 inputs, Xeon VM, AVX2 kernel): 10-token queries embed 18 % faster packed
/// 64 tokens at a time than one by one (10.6 against 9.0 a second), 33-token inputs the same (3.24
/// against 3.22); packing more loses, as the activations outgrow the core's cache (everything in one
/// call: 535 tokens took 20 % longer than one at a time).
pub const PACK_TOKENS: usize = 64;

/// `inputs` in order, cut into runs whose tokens add up to at most `max_len` (an input as long as
/// that is a run of its own).
fn packs<'a, 'b>(inputs: &'b [&'a [u32]], max_len: usize) -> Vec<&'b [&'a [u32]]> {
    let mut out = Vec::new();
    let (mut from, mut total) = (0, 0);
    for (i, t) in inputs.iter().enumerate() {
        if i > from && total + t.len() > max_len {
            out.push(&inputs[from..i]);
            (from, total) = (i, 0);
        }
        total += t.len();
    }
    if from < inputs.len() {
        out.push(&inputs[from..]);
    }
    out
}
