//! The forward pass's operations on the GPU, recorded into one command buffer per forward call
//! (`Batch`) and submitted when a result is read back: a decode step is one submission, not one per
//! operation. Each method is one dispatch of one shader in `shaders/`; the shader's header names the
//! CPU reference it is tested against (`tests/suite/gpu.rs`).
//!
//! Every dispatch's parameters go into one uniform buffer, and every dispatch into one compute pass
//! (copies are a shader too): a uniform buffer and a pass per dispatch cost 5.0 ms a dispatch in
//! Chromium's WebGPU on SwiftShader (the embedded model decoded at 1.14 tok/s, 130 dispatches a
//! token).

use wgpu::util::DeviceExt;

use super::layout::{GpuDense, GpuTernary};
use super::{Gpu, GpuError, Shader};

/// `rows` vectors of `cols` f32 on the device.
pub struct Tensor {
    pub buf: wgpu::Buffer,
    pub rows: usize,
    pub cols: usize,
}

/// Activations quantized per row (token) to int8: `q` four per u32, `s` one scale per row, and
/// the sum of `q` over each 128 columns.
pub struct QTensor {
    pub q: wgpu::Buffer,
    pub s: wgpu::Buffer,
    pub qsums: wgpu::Buffer,
    pub rows: usize,
    pub cols: usize,
}

/// Logits per workgroup of topk.wgsl.
pub const TOPK_BLOCK: usize = 2048;

/// The best logits of each block of a row, on the device (`Batch::top_candidates`).
pub struct Candidates {
    best: wgpu::Buffer,
    bad: wgpu::Buffer,
    blocks: usize,
    k: usize,
}

impl Candidates {
    /// The `k` largest (index, value) pairs overall, best first (lower index first on ties), or
    /// `Err(count)` if the row held `count` NaNs or infinities.
    pub async fn read(&self, gpu: &Gpu) -> Result<Result<Vec<(u32, f32)>, u32>, GpuError> {
        let bad: Vec<u32> = bytemuck::pod_collect_to_vec(&gpu.read(&self.bad, 4).await?);
        if bad[0] > 0 {
            return Ok(Err(bad[0]));
        }
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&gpu.read(&self.best, (8 * self.blocks * self.k) as u64).await?);
        let mut all: Vec<(u32, f32)> = words.chunks_exact(2).filter(|w| w[1] != u32::MAX).map(|w| (w[1], f32::from_bits(w[0]))).collect();
        all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(self.k);
        Ok(Ok(all))
    }
}

/// Work groups for `n` items, as (x, y) within the 65535-per-dimension limit; shaders rebuild the
/// item index as `x + y · num_workgroups.x` and skip indices past `n`.
fn grid(n: usize) -> (u32, u32) {
    let n = n.max(1);
    let x = n.min(65535);
    (x as u32, n.div_ceil(x) as u32)
}

fn words(v: &[u32]) -> Vec<u32> {
    let mut v = v.to_vec();
    v.resize(v.len().next_multiple_of(4), 0);
    v
}

/// One recorded dispatch: its parameters are at `params` (bytes) in the batch's uniform buffer.
struct Dispatch {
    shader: Shader,
    params: u64,
    size: u64,
    buffers: Vec<wgpu::Buffer>,
    groups: (u32, u32, u32),
}

pub struct Batch<'g> {
    pub gpu: &'g Gpu,
    params: Vec<u8>,
    dispatches: Vec<Dispatch>,
}

impl<'g> Batch<'g> {
    pub fn new(gpu: &'g Gpu) -> Batch<'g> {
        Batch { gpu, params: Vec::new(), dispatches: Vec::new() }
    }

    fn dispatch(&mut self, shader: Shader, params: &[u32], buffers: &[&wgpu::Buffer], groups: (u32, u32, u32)) {
        let at = (self.params.len() as u64).next_multiple_of(self.gpu.uniform_align);
        let bytes = words(params);
        self.params.resize(at as usize, 0);
        self.params.extend_from_slice(bytemuck::cast_slice(&bytes));
        self.dispatches.push(Dispatch { shader, params: at, size: 4 * bytes.len() as u64, buffers: buffers.iter().map(|&b| b.clone()).collect(), groups });
    }

    /// Encodes what was recorded: one uniform buffer, one compute pass.
    fn encode(self) -> wgpu::CommandBuffer {
        let gpu = self.gpu;
        let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        if !self.dispatches.is_empty() {
            let uniform = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &self.params,
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            for d in &self.dispatches {
                let pipeline = gpu.pipeline(d.shader);
                let params = wgpu::BufferBinding { buffer: &uniform, offset: d.params, size: wgpu::BufferSize::new(d.size) };
                let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(params) }];
                entries.extend(d.buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() }));
                let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &entries });
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(d.groups.0, d.groups.1, d.groups.2);
            }
        }
        enc.finish()
    }

    /// Copies `len` f32 of `src` from element `from` into `dst` at element `to`.
    fn copy(&mut self, src: &wgpu::Buffer, from: usize, dst: &wgpu::Buffer, to: usize, len: usize) {
        let (gx, gy) = grid(len.div_ceil(64));
        self.dispatch(Shader::Copy, &[from as u32, to as u32, len as u32], &[src, dst], (gx, gy, 1));
    }

    fn tensor(&self, rows: usize, cols: usize) -> Tensor {
        Tensor { buf: self.gpu.storage("activations", 4 * (rows * cols) as u64), rows, cols }
    }

    /// Submits what was recorded.
    pub fn submit(self) {
        let gpu = self.gpu;
        gpu.queue.submit([self.encode()]);
    }

    /// Submits what was recorded and reads `t` back.
    pub async fn read(self, t: &Tensor) -> Result<Vec<f32>, GpuError> {
        let gpu = self.gpu;
        self.submit();
        gpu.read_f32(&t.buf, t.rows * t.cols).await
    }

    /// Uploads rows of f32 (activations from the CPU; tests).
    pub fn upload(&self, v: &[f32], cols: usize) -> Tensor {
        Tensor { buf: self.gpu.upload("activations", bytemuck::cast_slice(v)), rows: v.len() / cols.max(1), cols }
    }

    /// Uploads int8 activations quantized on the CPU (`kernels::scalar::quantize_activations`), one
    /// scale per row: the ternary shader's input without the quantize shader (tests).
    pub fn upload_quantized(&self, q: &[i8], s: &[f32], cols: usize) -> QTensor {
        let qsums: Vec<i32> = q.chunks_exact(128).map(|b| b.iter().map(|&v| v as i32).sum()).collect();
        let g = self.gpu;
        QTensor {
            q: g.upload("q", bytemuck::cast_slice(q)),
            s: g.upload("s", bytemuck::cast_slice(s)),
            qsums: g.upload("qsums", bytemuck::cast_slice(&qsums)),
            rows: s.len(),
            cols,
        }
    }

    /// Each row of `x` RMS-normalised and scaled by `w` (a buffer of `x.cols` f32).
    pub fn rms_norm(&mut self, x: &Tensor, w: &wgpu::Buffer, eps: f32) -> Tensor {
        self.rms_norm_pieces(x, w, eps, x.cols)
    }

    /// Each `width`-wide piece of each row of `x` RMS-normalised and scaled by `w` (`width` f32):
    /// the whole row, or each head (Qwen3's q/k norms). The pieces are rows of their own to the shader.
    pub fn rms_norm_pieces(&mut self, x: &Tensor, w: &wgpu::Buffer, eps: f32, width: usize) -> Tensor {
        debug_assert_eq!(x.cols % width, 0);
        let y = self.tensor(x.rows, x.cols);
        let pieces = x.rows * x.cols / width;
        let (gx, gy) = grid(pieces);
        self.dispatch(Shader::RmsNorm, &[width as u32, eps.to_bits(), pieces as u32], &[&x.buf, w, &y.buf], (gx, gy, 1));
        y
    }

    /// Rows `rows` of `x`, RMS-normalised (the output norm, for the rows that need logits).
    pub fn rms_norm_rows(&mut self, x: &Tensor, rows: &[usize], w: &wgpu::Buffer, eps: f32) -> Tensor {
        if rows.len() == x.rows {
            return self.rms_norm(x, w, eps);
        }
        let picked = self.tensor(rows.len(), x.cols);
        for (i, &r) in rows.iter().enumerate() {
            self.copy(&x.buf, r * x.cols, &picked.buf, i * x.cols, x.cols);
        }
        self.rms_norm(&picked, w, eps)
    }

    /// Each row of `x` quantized to int8, padded with zeros to whole 128-column blocks
    /// (`ternary::pad_cols`), the width of the weights it meets.
    pub fn quantize(&mut self, x: &Tensor) -> QTensor {
        let g = self.gpu;
        let padded = crate::quant::ternary::pad_cols(x.cols);
        let out = QTensor {
            q: g.storage("q", (x.rows * padded) as u64),
            s: g.storage("s", 4 * x.rows as u64),
            qsums: g.storage("qsums", 4 * (x.rows * padded / 128) as u64),
            rows: x.rows,
            cols: padded,
        };
        self.dispatch(Shader::Quantize, &[x.cols as u32, padded as u32], &[&x.buf, &out.q, &out.s, &out.qsums], (x.rows as u32, 1, 1));
        out
    }

    /// `w · x` for each row of `x`, times `extra` (the `bitnet` arch's per-projection scale).
    pub fn ternary(&mut self, w: &GpuTernary, x: &QTensor, extra: f32) -> Tensor {
        debug_assert_eq!(w.cols, x.cols);
        let y = self.tensor(x.rows, w.rows);
        let (gx, gy) = grid(w.rows);
        let (shader, tokens) = if x.rows == 1 { (Shader::Ternary, 1) } else { (Shader::TernaryX4, 4) };
        self.dispatch(
            shader,
            &[w.rows as u32, w.cols as u32, w.spans as u32, extra.to_bits(), x.rows as u32],
            &[&w.codes, &w.scales, &x.q, &x.s, &x.qsums, &y.buf],
            (gx, gy, x.rows.div_ceil(tokens) as u32),
        );
        y
    }

    /// Rotates each head of each row of `x` in place; `cs` holds (cos, sin) for each row and pair.
    pub fn rope(&mut self, x: &Tensor, head_dim: usize, cs: &[f32], interleaved: bool) {
        let heads = x.cols / head_dim;
        let total = x.rows * heads * head_dim / 2;
        let cs = self.gpu.upload("rope", bytemuck::cast_slice(cs));
        let (gx, gy) = grid(total.div_ceil(64));
        self.dispatch(Shader::Rope, &[heads as u32, head_dim as u32, interleaved as u32, total as u32], &[&x.buf, &cs], (gx, gy, 1));
    }

    /// Copies the rows of `x` into `cache` from row `at` on (the KV cache append).
    pub fn store(&mut self, x: &Tensor, cache: &wgpu::Buffer, at: usize) {
        self.copy(&x.buf, 0, cache, at * x.cols, x.rows * x.cols);
    }

    /// Causal attention of `q`'s rows (tokens at positions `p0..`) over the cached keys and values,
    /// each over its last `window` positions only where `window` is some (a sliding-window layer).
    #[allow(clippy::too_many_arguments)]
    pub fn attention(&mut self, q: &Tensor, k: &wgpu::Buffer, v: &wgpu::Buffer, n_kv_head: usize, head_dim: usize, p0: usize, scale: f32, window: Option<usize>) -> Tensor {
        let n_head = q.cols / head_dim;
        let out = self.tensor(q.rows, q.cols);
        self.dispatch(
            Shader::Attention,
            &[n_head as u32, n_kv_head as u32, head_dim as u32, p0 as u32, scale.to_bits(), window.map_or(0, |w| w.max(1) as u32)],
            &[&q.buf, k, v, &out.buf],
            (n_head as u32, q.rows as u32, 1),
        );
        out
    }

    /// `g = act(g) · u` in place; `act` is gate.wgsl's: 0 ReLU², 1 SiLU, 2 GELU (tanh form).
    pub fn gate(&mut self, g: &Tensor, u: &Tensor, act: u32) {
        let len = g.rows * g.cols;
        let (gx, gy) = grid(len.div_ceil(64));
        self.dispatch(Shader::Gate, &[len as u32, act], &[&g.buf, &u.buf], (gx, gy, 1));
    }

    /// `x += y`.
    pub fn add(&mut self, x: &Tensor, y: &Tensor) {
        let len = x.rows * x.cols;
        let (gx, gy) = grid(len.div_ceil(64));
        self.dispatch(Shader::Add, &[len as u32], &[&x.buf, &y.buf], (gx, gy, 1));
    }

    /// The rows of `table` for `tokens`, times `scale` (Gemma's √width; 1 otherwise).
    pub fn embed(&mut self, table: &GpuDense, tokens: &[u32], scale: f32) -> Tensor {
        let out = self.tensor(tokens.len(), table.cols);
        let ids = self.gpu.upload("tokens", bytemuck::cast_slice(tokens));
        let total = tokens.len() * table.cols;
        let (gx, gy) = grid(total.div_ceil(64));
        for part in &table.parts {
            self.dispatch(
                Shader::Embed,
                &[table.cols as u32, part.row0 as u32, part.rows as u32, table.kind as u32, total as u32, scale.to_bits()],
                &[&part.data, &part.scales, &ids, &out.buf],
                (gx, gy, 1),
            );
        }
        out
    }

    /// The `k` largest values of a row of `n` logits, for each block of `TOPK_BLOCK`: (value,
    /// index) pairs, best first per block (`Candidates::read` merges them).
    pub fn top_candidates(&mut self, logits: &Tensor, k: usize) -> Candidates {
        let n = logits.cols;
        let blocks = n.div_ceil(TOPK_BLOCK);
        let c = Candidates { best: self.gpu.storage("candidates", (8 * blocks * k) as u64), bad: self.gpu.upload("bad", &[0; 4]), blocks, k };
        self.dispatch(Shader::TopK, &[n as u32, k as u32], &[&logits.buf, &c.best, &c.bad], (blocks as u32, 1, 1));
        c
    }

    /// `table · x` for each row of `x`: `x.rows` rows of `table.rows` values.
    pub fn dense(&mut self, table: &GpuDense, x: &Tensor) -> Tensor {
        let out = self.tensor(x.rows, table.rows);
        for part in &table.parts {
            let (gx, gy) = grid(part.rows);
            self.dispatch(
                Shader::Dense,
                &[table.cols as u32, part.row0 as u32, part.rows as u32, table.kind as u32, table.rows as u32],
                &[&part.data, &part.scales, &x.buf, &out.buf],
                (gx, gy, x.rows as u32),
            );
        }
        out
    }
}
