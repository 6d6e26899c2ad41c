//! The forward pass's operations on the GPU: the model's weights in device buffers (`gpu::layout`),
//! the KV cache in device memory (f32), and each operation one shader dispatch (`gpu::ops`). A call
//! to `forward` records every layer into one command buffer; only the logits come back.

use crate::gpu::layout::DenseKind;
use crate::gpu::{Batch, Gpu, GpuDense, GpuError, GpuTernary, MAX_HEAD_DIM, QTensor, Tensor};

use super::backend::{Backend, Norm, Proj};
use super::forward::{Logits, forward, hidden, pool};
use super::{Activation, Config, ModelError, RopeStyle};

struct GpuLinear {
    w: GpuTernary,
    extra: f32,
}

struct GpuLayer {
    norms: [Option<wgpu::Buffer>; NORMS],
    projs: Vec<GpuLinear>,
    keys: wgpu::Buffer,
    values: wgpu::Buffer,
}

/// A model's weights and KV cache on one device.
pub struct GpuModel {
    pub gpu: Gpu,
    config: Config,
    token_embd: GpuDense,
    /// `None`: the head is the token embedding.
    head: Option<GpuDense>,
    output_norm: wgpu::Buffer,
    layers: Vec<GpuLayer>,
    max_len: usize,
    len: usize,
    /// The last forward call's logits, still on the device (`last_logits`).
    last: Option<Tensor>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// The norms a layer may have: attention's, its sub-norm, the FFN's, its sub-norm, then
/// BitNet-embedding's before q, k, v, gate and up, Qwen3's q and k head norms, and Gemma's after
/// attention and after the FFN.
pub const NORMS: usize = 13;

/// The norm's place in `GpuLayer::norms` (none for `In(O)` and `In(Down)`: those are `AttnSub` and `FfnSub`).
fn norm_index(n: Norm) -> Option<usize> {
    match n {
        Norm::Attn => Some(0),
        Norm::AttnSub => Some(1),
        Norm::Ffn => Some(2),
        Norm::FfnSub => Some(3),
        Norm::In(p) => [Proj::Q, Proj::K, Proj::V, Proj::Gate, Proj::Up].iter().position(|&q| q == p).map(|i| 4 + i),
        Norm::QHead => Some(9),
        Norm::KHead => Some(10),
        Norm::PostAttn => Some(11),
        Norm::PostFfn => Some(12),
    }
}

/// gate.wgsl's code for an activation.
fn act_code(act: Activation) -> u32 {
    match act {
        Activation::Relu2 => 0,
        Activation::Silu => 1,
        Activation::GeluTanh => 2,
    }
}

const PROJS: [Proj; 7] = [Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down];

/// One layer's weights as the GPU path's loader hands them over: the norms in `NORMS` order, the
/// seven projections on the device in `PROJS` order, and each projection's extra scale (the
/// `bitnet` arch's).
pub struct GpuLayerWeights {
    pub norms: [Option<Vec<f32>>; NORMS],
    pub projs: [GpuTernary; 7],
    pub scales: [Option<f32>; 7],
}

impl GpuModel {
    /// A model from weights already on `gpu` (the GPU path's loader uploads them as they arrive).
    /// `head` is `None` when the head is the token embedding.
    pub fn assemble(
        gpu: Gpu,
        config: Config,
        weights: Vec<GpuLayerWeights>,
        output_norm: &[f32],
        token_embd: GpuDense,
        head: Option<GpuDense>,
        max_len: usize,
    ) -> Result<GpuModel, GpuError> {
        GpuModel::check_fits(&gpu, &config, max_len, 0)?;
        let kv_bytes = (max_len * config.kv_dim() * 4) as u64;
        let f32s = |label: &str, v: &[f32]| gpu.upload(label, bytemuck::cast_slice(v));
        let layers = weights
            .into_iter()
            .map(|w| {
                let norms = w.norms.map(|v| v.map(|v| f32s("norm", &v)));
                let projs = w.projs.into_iter().zip(w.scales).map(|(w, s)| GpuLinear { w, extra: s.unwrap_or(1.0) }).collect();
                GpuLayer { norms, projs, keys: gpu.storage("keys", kv_bytes), values: gpu.storage("values", kv_bytes) }
            })
            .collect();
        let output_norm = f32s("output_norm", output_norm);
        gpu.check()?;
        Ok(GpuModel { gpu, config, token_embd, head, output_norm, layers, max_len, len: 0, last: None })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The LM head's precision, for statistics: the head as stored ("f16" or "f32"), or "int8".
    pub fn head_name(&self) -> &'static str {
        match self.head.as_ref().unwrap_or(&self.token_embd).kind {
            DenseKind::F16 => "f16",
            DenseKind::F32 => "f32",
            DenseKind::Int8 => "int8",
        }
    }

    /// Whether `gpu` can run a model of this configuration at `max_len` positions whose largest
    /// ternary matrix is `largest_ternary` bytes in the GPU layout: the header decides, before a
    /// weight is read. WebGPU cannot tell how much memory a device has; running out while loading
    /// is a device error at the end of the load.
    pub fn check_fits(gpu: &Gpu, c: &Config, max_len: usize, largest_ternary: u64) -> Result<(), GpuError> {
        // Rows that are not whole 128-weight blocks (bitnet_b1_58-3B's 8640-wide FFN) were padded at
        // load, and quantize.wgsl pads the activations that meet them.
        if c.head_dim > MAX_HEAD_DIM {
            return Err(GpuError::Unfit(format!("head dimension {} is over the attention shader's {MAX_HEAD_DIM}", c.head_dim)));
        }
        let kv_bytes = (max_len * c.kv_dim() * 4) as u64;
        if kv_bytes > gpu.max_binding {
            return Err(GpuError::Unfit(format!(
                "a layer's KV cache ({} at {max_len} positions) is over the device's largest binding ({}); a shorter context would fit",
                mib(kv_bytes),
                mib(gpu.max_binding)
            )));
        }
        if largest_ternary > gpu.max_binding {
            return Err(GpuError::Unfit(format!("a ternary matrix of {} is over the device's largest binding ({})", mib(largest_ternary), mib(gpu.max_binding))));
        }
        Ok(())
    }

    /// Positions held in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Forgets every position from `n` on.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Bytes of weights and cache on the device.
    pub fn device_bytes(&self) -> u64 {
        self.token_embd.bytes()
            + self.head.as_ref().map_or(0, |h| h.bytes())
            + self
                .layers
                .iter()
                .map(|l| l.projs.iter().map(|p| p.w.bytes()).sum::<u64>() + l.keys.size() + l.values.size())
                .sum::<u64>()
    }

    /// Records the forward pass of `tokens` at positions `len()..`: the batch, the logits it will
    /// hold, and the positions it adds to the cache.
    fn record(&self, tokens: &[u32], which: Logits) -> Result<Option<(Batch<'_>, Tensor, usize)>, ModelError> {
        let mut run = GpuRun { batch: Some(Batch::new(&self.gpu)), m: self, committed: 0 };
        let Some(logits) = forward(&mut run, &self.config, tokens, self.len, self.max_len, which)? else { return Ok(None) };
        Ok(Some((run.batch.take().expect("not yet submitted"), logits, run.committed)))
    }

    /// Runs `tokens` at positions `len()..`, as `Model::forward` does on the CPU: the commands are
    /// recorded and submitted at once, and the logits come back when the device is done.
    pub async fn forward(&mut self, tokens: &[u32], which: Logits) -> Result<Vec<f32>, ModelError> {
        let Some((batch, logits, committed)) = self.record(tokens, which)? else { return Ok(Vec::new()) };
        let out = batch.read(&logits).await?;
        // Positions count once their logits came back: a failed step leaves the cache as it was.
        self.len += committed;
        self.last = Some(logits);
        Ok(out)
    }

    /// `forward` for one token's logits of which only the `k` largest come back, as (token, logit)
    /// pairs, best first (`Err(n)`: the logits held `n` NaNs or infinities). The whole row stays on
    /// the device for `last_logits`: a decode step reads 8·k bytes per 2048 tokens of vocabulary
    /// (2B4T: 32 KB at k = 64) instead of 4 per token (513 KB).
    pub async fn forward_best(&mut self, tokens: &[u32], k: usize) -> Result<Result<Vec<(u32, f32)>, u32>, ModelError> {
        let Some((mut batch, logits, committed)) = self.record(tokens, Logits::Last)? else { return Ok(Ok(Vec::new())) };
        let best = batch.top_candidates(&logits, k);
        batch.submit();
        let out = best.read(&self.gpu).await?;
        self.len += committed;
        self.last = Some(logits);
        Ok(out)
    }

    /// The whole logits of the last forward call (after `forward_best`, when its candidates
    /// were not enough for the sampler).
    pub async fn last_logits(&self) -> Result<Vec<f32>, ModelError> {
        let t = self.last.as_ref().ok_or_else(|| GpuError::Device("no logits on the device yet".into()))?;
        Ok(self.gpu.read_f32(&t.buf, t.rows * t.cols).await?)
    }

    /// An embedding model's vector for one input, as `Model::embed` makes it on the CPU: `tokens`
    /// run from an empty cache (left empty), the output norm of the rows pooling reads on the
    /// device, and only those rows read back to be pooled and normalised here.
    pub async fn embed(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let Some(pooling) = self.config.pooling else {
            return Err(ModelError::WrongKind("this is a language model, not an embedding model: it has no pooling to make embeddings".into()));
        };
        self.len = 0;
        let mut run = GpuRun { batch: Some(Batch::new(&self.gpu)), m: self, committed: 0 };
        let Some(h) = hidden(&mut run, &self.config, &[tokens], self.max_len, pooling)? else { return Ok(Vec::new()) };
        let rows = run.batch.take().expect("not yet submitted").read(&h).await?;
        Ok(pool(&rows, h.cols, pooling))
    }

    /// `embed`, waiting for the device.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn embed_blocking(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        pollster::block_on(self.embed(tokens))
    }

    /// `forward`, waiting for the device (natively the readback completes within the call).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_blocking(&mut self, tokens: &[u32], which: Logits) -> Result<Vec<f32>, ModelError> {
        pollster::block_on(self.forward(tokens, which))
    }
}

/// One forward call: the commands recorded so far.
struct GpuRun<'a> {
    m: &'a GpuModel,
    batch: Option<Batch<'a>>,
    committed: usize,
}

impl<'a> GpuRun<'a> {
    fn b(&mut self) -> &mut Batch<'a> {
        self.batch.as_mut().expect("the batch lives until the logits are read")
    }
}

impl Backend for GpuRun<'_> {
    type Act = Tensor;
    type Quant = QTensor;

    fn embed(&mut self, tokens: &[u32]) -> Tensor {
        let (table, scale) = (&self.m.token_embd, self.m.config.embed_scale.unwrap_or(1.0));
        self.b().embed(table, tokens, scale)
    }

    fn has_norm(&self, l: usize, norm: Norm) -> bool {
        norm_index(norm).is_some_and(|i| self.m.layers[l].norms[i].is_some())
    }

    fn rms_norm(&mut self, x: &Tensor, l: usize, norm: Norm) -> Tensor {
        let m = self.m;
        let w = norm_index(norm).and_then(|i| m.layers[l].norms[i].as_ref()).expect("callers ask has_norm first");
        let width = match norm {
            Norm::QHead | Norm::KHead => m.config.head_dim,
            _ => x.cols,
        };
        self.b().rms_norm_pieces(x, w, m.config.rms_eps, width)
    }

    fn quantize(&mut self, x: &Tensor) -> QTensor {
        self.b().quantize(x)
    }

    fn bit_linears<const M: usize>(&mut self, l: usize, projs: [Proj; M], x: &QTensor) -> [Tensor; M] {
        let m = self.m;
        projs.map(|p| {
            let lin = &m.layers[l].projs[PROJS.iter().position(|&q| q == p).expect("every projection is uploaded")];
            self.b().ternary(&lin.w, x, lin.extra)
        })
    }

    fn rope(&mut self, x: &mut Tensor, angles: &[Vec<(f32, f32)>], style: RopeStyle) {
        let cs: Vec<f32> = angles.iter().flatten().flat_map(|&(c, s)| [c, s]).collect();
        let hd = self.m.config.head_dim;
        self.b().rope(x, hd, &cs, style == RopeStyle::Interleaved);
    }

    fn store_kv(&mut self, l: usize, k: &Tensor, v: &Tensor, p0: usize) {
        let layer = &self.m.layers[l];
        self.b().store(k, &layer.keys, p0);
        self.b().store(v, &layer.values, p0);
    }

    /// One sequence per call on the GPU (embedding inputs go one at a time): row t attends up to
    /// slot p0 + t, within the layer's window, which the shader takes as p0 and the window.
    fn attention(&mut self, l: usize, q: &Tensor, spans: &[std::ops::Range<usize>]) -> Tensor {
        let (m, layer) = (self.m, &self.m.layers[l]);
        let c = &m.config;
        let p0 = spans[0].end - 1;
        debug_assert!(spans.iter().enumerate().all(|(t, s)| s.end == p0 + t + 1 && s.start == c.attended(l, p0 + t).start), "one sequence from slot 0");
        let window = c.window_of(l);
        self.b().attention(q, &layer.keys, &layer.values, c.n_head_kv, c.head_dim, p0, c.attn_scale, window)
    }

    fn gate(&mut self, g: &mut Tensor, u: &Tensor, act: Activation) {
        self.b().gate(g, u, act_code(act));
    }

    fn add(&mut self, x: &mut Tensor, y: &Tensor) {
        self.b().add(x, y);
    }

    /// Not checked per layer: that would wait for the device after each one. The engine checks
    /// the logits.
    fn check_finite(&mut self, _x: &Tensor, _l: usize) -> Result<(), ModelError> {
        Ok(())
    }

    fn commit(&mut self, n: usize) {
        self.committed = n;
    }

    fn hidden(&mut self, x: &Tensor, rows: &[usize]) -> Tensor {
        let m = self.m;
        self.b().rms_norm_rows(x, rows, &m.output_norm, m.config.rms_eps)
    }

    fn logits(&mut self, x: &Tensor, rows: &[usize]) -> Tensor {
        let m = self.m;
        let xn = self.b().rms_norm_rows(x, rows, &m.output_norm, m.config.rms_eps);
        let head = m.head.as_ref().unwrap_or(&m.token_embd);
        self.b().dense(head, &xn)
    }
}
