//! Builds a [`Model`] from a GGUF byte stream as it arrives.
//!
//! The header is checked first (architecture, shapes, memory), so an unusable file fails before the
//! download goes on. Then each tensor is gathered into a buffer of exactly its size and converted
//! into its kernel layout as soon as it is complete, so the file never exists twice in memory: at
//! most one tensor's stored bytes are held beside the model.
//!
//! On the GPU path (`ModelLoader::use_gpu`) each tensor goes to the device as it completes (an F16
//! or F32 embedding and head row piece by row piece, `gpu::GpuDenseWriter`), and host memory holds
//! only the tensor in transit, the norms and the tokenizer, whatever the model's size.

use std::sync::Arc;

use crate::gguf::{Event, Gguf, GgufError, GgufStream, Limits, TensorInfo, TensorType};
use crate::weights::dense::DenseMatrix;
use crate::quant::ternary;
use crate::quant::{DecodeOptions, decode};

use crate::weights::dense::DenseData;
use crate::weights::file_rows::{FileRows, RowStore};
use crate::weights::int4_rows::{Int4Rows, Int4RowsWriter};
use crate::weights::row_stream::RowStream;
use crate::weights::int8_rows::Int8RowsWriter;

use crate::gpu::{Gpu, GpuDense, GpuDenseWriter, GpuTernary};

use super::gpu::GpuLayerWeights;
use super::plan::{LoadOptions, MemoryEstimate, Part, Plan, Role, is_projection, streams_to_int8};
use super::{Config, GpuModel, HeadPrecision, Layer, Linear, LmHead, Model, ModelError};

#[derive(Default)]
struct LayerParts {
    attn_norm: Option<Vec<f32>>,
    attn_sub_norm: Option<Vec<f32>>,
    ffn_norm: Option<Vec<f32>>,
    ffn_sub_norm: Option<Vec<f32>>,
    proj: [Option<Linear>; 7],
    scales: [Option<f32>; 7],
    /// TL1/TL2 projections: their scales (a tensor of their own), and a projection untiled before its
    /// scale arrived, held until it does (the converter writes the scale right after it).
    tiled_scales: [Option<f32>; 7],
    waiting: [Option<ternary::PackedTernary>; 7],
    /// BitNet-embedding's norms before q, k, v, gate and up, then Qwen3's q and k head norms.
    extra_norms: [Option<Vec<f32>>; 9],
}

/// The parts held in `LayerParts::extra_norms`, in its order.
const EXTRA_NORMS: [Part; 9] = [
    Part::QNormIn,
    Part::KNormIn,
    Part::VNormIn,
    Part::GateNormIn,
    Part::UpNormIn,
    Part::QHeadNorm,
    Part::KHeadNorm,
    Part::PostAttnNorm,
    Part::PostFfnNorm,
];

fn proj_index(p: Part) -> usize {
    match p {
        Part::Q => 0,
        Part::K => 1,
        Part::V => 2,
        Part::O => 3,
        Part::Gate => 4,
        Part::Up => 5,
        Part::Down => 6,
        _ => unreachable!("not a projection"),
    }
}

/// A tensor's bytes as they arrive: F16 embeddings go straight into their final `u16` storage.
enum Buffer {
    Bytes(Vec<u8>),
    F16(Vec<u16>),
    /// Rows quantized as they arrive (the stream delivers a tensor's bytes in order).
    Int8(Int8RowsWriter),
    /// Rows written to the GPU as they arrive.
    Gpu(GpuDenseWriter),
    /// A tied head's shortlist rows, made as the embedding streams past into the file's keeping.
    Int4(Int4RowsWriter),
    /// An embedding left in the file: its rows only checked as they pass.
    Checked(RowStream),
}

impl Buffer {
    fn write(&mut self, offset: usize, bytes: &[u8], gpu: Option<&Gpu>) -> Result<(), usize> {
        match self {
            Buffer::Bytes(v) => v[offset..offset + bytes.len()].copy_from_slice(bytes),
            Buffer::F16(v) => bytemuck::cast_slice_mut::<u16, u8>(v)[offset..offset + bytes.len()].copy_from_slice(bytes),
            Buffer::Int8(w) => w.push(bytes)?,
            Buffer::Gpu(w) => w.push(gpu.expect("GPU buffers only on the GPU path"), bytes)?,
            Buffer::Int4(w) => w.push(bytes)?,
            Buffer::Checked(rows) => rows.push(bytes, |_, _| {})?,
        }
        Ok(())
    }
}

/// The GPU path's tensors, uploaded as they completed.
struct GpuSink {
    gpu: Gpu,
    projs: Vec<[Option<GpuTernary>; 7]>,
    token_embd: Option<GpuDense>,
    output: Option<GpuDense>,
}

/// Feed it the file's bytes in chunks; `finish` returns the model and the header (which also
/// carries the tokenizer).
pub struct ModelLoader {
    stream: GgufStream,
    opts: LoadOptions,
    config: Option<Config>,
    roles: Vec<Role>,
    /// The tensor table (the stream is borrowed while its events are handled).
    tensors: Vec<TensorInfo>,
    buffers: Vec<Option<Buffer>>,
    token_embd: Option<DenseMatrix>,
    output: Option<DenseMatrix>,
    output_norm: Option<Vec<f32>>,
    layers: Vec<LayerParts>,
    estimate: Option<MemoryEstimate>,
    error: Option<ModelError>,
    gpu: Option<GpuSink>,
    /// Where the file can be read again (`rows_from`), and whether the embedding is left there.
    store: Option<Arc<dyn RowStore>>,
    embd_in_file: bool,
    /// The head made while the embedding streamed past on its way to being left in the file.
    embd_head: Option<LmHead>,
    data_offset: u64,
    /// The I2_S packing the header's plan chose to read the weights with.
    i2s_layout: crate::quant::I2sLayout,
    /// The tiling of each TL1/TL2 projection, by tensor index.
    tilings: Vec<Option<crate::quant::tl::Tiling>>,
}

impl ModelLoader {
    pub fn new(opts: LoadOptions, file_len: Option<u64>) -> Self {
        ModelLoader {
            stream: GgufStream::new(Limits::default(), file_len),
            opts,
            config: None,
            roles: Vec::new(),
            tensors: Vec::new(),
            buffers: Vec::new(),
            token_embd: None,
            output: None,
            output_norm: None,
            layers: Vec::new(),
            estimate: None,
            error: None,
            gpu: None,
            store: None,
            embd_in_file: false,
            embd_head: None,
            data_offset: 0,
            i2s_layout: Default::default(),
            tilings: Vec::new(),
        }
    }

    /// The file can be read again at any offset while the model runs: the token embedding is left
    /// there (see `LoadOptions::rows_in_file`). Call before the first byte is fed.
    pub fn rows_from(&mut self, store: Arc<dyn RowStore>) {
        debug_assert!(self.config.is_none());
        self.opts.rows_in_file = true;
        self.store = Some(store);
    }

    /// Sends the weights to `gpu` as they load, before the first byte is fed (`opts.on_gpu`
    /// must be set, so that the header's memory check counts host memory only). `finish_on_gpu`
    /// then returns the model's device half.
    pub fn use_gpu(&mut self, gpu: Gpu) {
        debug_assert!(self.opts.on_gpu && self.config.is_none());
        self.gpu = Some(GpuSink { gpu, projs: Vec::new(), token_embd: None, output: None });
    }

    /// The header's memory estimate, once the header has passed the checks.
    pub fn estimate(&self) -> Option<&MemoryEstimate> {
        self.estimate.as_ref()
    }

    /// The header, once it has arrived and passed the checks.
    pub fn header(&self) -> Option<&Gguf> {
        self.config.as_ref().and(self.stream.header())
    }

    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ModelError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut stream = std::mem::take(&mut self.stream);
        let result = stream.feed(chunk, |ev| self.on_event(ev));
        self.stream = stream;
        if let Err(e) = &result {
            self.error = Some(e.clone());
        }
        result
    }

    fn on_event(&mut self, ev: Event<'_>) -> Result<(), ModelError> {
        match ev {
            Event::Header(g) => self.plan(g),
            Event::TensorData { index, offset, bytes } => {
                if self.roles[index] == Role::Skip {
                    return Ok(());
                }
                if self.buffers[index].is_none() {
                    self.buffers[index] = Some(self.gpu_buffer(index)?);
                }
                let buf = self.buffers[index].as_mut().expect("allocated at the header");
                buf.write(offset as usize, bytes, self.gpu.as_ref().map(|g| &g.gpu)).map_err(|row| ModelError::BadTensor {
                    tensor: self.tensors[index].name.clone(),
                    reason: format!("row {row} holds a value that is not a finite number"),
                })
            }
            Event::TensorEnd { index } => {
                if self.roles[index] == Role::Skip {
                    return Ok(());
                }
                let info = self.tensors[index].clone();
                if self.buffers[index].is_none() {
                    self.buffers[index] = Some(self.gpu_buffer(index)?);
                }
                let buf = self.buffers[index].take().expect("allocated at the header");
                self.convert(index, &info, self.roles[index], buf)
            }
        }
    }

    /// Checks the header and decides what each tensor becomes.
    fn plan(&mut self, g: &Gguf) -> Result<(), ModelError> {
        let opts = LoadOptions { rows_in_file: self.opts.rows_in_file && self.store.is_some(), ..self.opts };
        let plan = Plan::of(g, &opts)?;
        let int8 = plan.estimate.int8_embeddings;
        self.embd_in_file = plan.estimate.embedding_in_file;
        self.data_offset = g.data_offset;
        self.i2s_layout = plan.i2s_layout;
        self.tilings = plan.tilings;
        let tied = !plan.roles.contains(&Role::Output);
        let embeds = plan.config.pooling.is_some();
        if embeds {
            self.opts.head = HeadPrecision::Stored;
        }
        let head = self.opts.head.resolve(tied, plan.config.n_embd);
        self.estimate = Some(plan.estimate);
        let (config, roles) = (plan.config, plan.roles);
        self.roles = roles;
        if let Some(sink) = &mut self.gpu {
            let largest = g.tensors.iter().zip(&self.roles).filter(|(_, r)| matches!(r, Role::Weight(_, p) if is_projection(*p))).map(|(t, _)| t.n_elements / 4).max();
            GpuModel::check_fits(&sink.gpu, &config, config.context_length(self.opts.context), largest.unwrap_or(0))?;
            // One tensor in transit at a time: each buffer is made when its first byte arrives.
            self.buffers = g.tensors.iter().map(|_| None).collect();
            sink.projs = (0..config.n_layer).map(|_| Default::default()).collect();
            self.layers = (0..config.n_layer).map(|_| LayerParts::default()).collect();
            self.tensors = g.tensors.clone();
            self.config = Some(config);
            return Ok(());
        }
        self.buffers = g
            .tensors
            .iter()
            .zip(&self.roles)
            .map(|(t, &role)| match role {
                Role::Skip => None,
                Role::TokenEmbd if self.embd_in_file => {
                    let (cols, rows, f16) = (t.shape[0] as usize, t.shape[1] as usize, t.ty == TensorType::F16);
                    Some(match (tied && !embeds, head) {
                        (true, HeadPrecision::Shortlist) => Buffer::Int4(Int4RowsWriter::new(rows, cols, f16)),
                        (true, _) => Buffer::Int8(Int8RowsWriter::new(rows, cols, f16)),
                        (false, _) => Buffer::Checked(RowStream::new(rows, cols, f16)),
                    })
                }
                _ if streams_to_int8(t, role, int8) => Some(Buffer::Int8(Int8RowsWriter::new(
                    t.shape[1] as usize,
                    t.shape[0] as usize,
                    t.ty == TensorType::F16,
                ))),
                Role::TokenEmbd | Role::Output if t.ty == TensorType::F16 => {
                    Some(Buffer::F16(vec![0u16; t.n_elements as usize]))
                }
                _ => Some(Buffer::Bytes(vec![0u8; t.n_bytes as usize])),
            })
            .collect();
        self.layers = (0..config.n_layer).map(|_| LayerParts::default()).collect();
        self.tensors = g.tensors.clone();
        self.config = Some(config);
        Ok(())
    }

    /// The GPU path's buffer for tensor `index`, made when its first byte arrives.
    fn gpu_buffer(&self, index: usize) -> Result<Buffer, ModelError> {
        let (t, role) = (&self.tensors[index], self.roles[index]);
        let sink = self.gpu.as_ref().expect("CPU buffers are all made at the header");
        Ok(match role {
            Role::TokenEmbd | Role::Output if matches!(t.ty, TensorType::F16 | TensorType::F32) => Buffer::Gpu(
                GpuDenseWriter::new(&sink.gpu, &t.name, t.shape[1] as usize, t.shape[0] as usize, t.ty == TensorType::F16)
                    .map_err(ModelError::from)?,
            ),
            _ => Buffer::Bytes(vec![0u8; t.n_bytes as usize]),
        })
    }

    fn convert(&mut self, index: usize, t: &TensorInfo, role: Role, buf: Buffer) -> Result<(), ModelError> {
        let quant_err = |source| ModelError::Quant { tensor: t.name.clone(), source };
        // Norms and scales: a NaN here would be absorbed by the int8 activations (NaN casts to 0)
        // and turn into silent garbage, so a non-finite value is a corrupt tensor.
        let floats = |buf: Buffer| -> Result<Vec<f32>, ModelError> {
            let Buffer::Bytes(b) = buf else { unreachable!("only embeddings use F16 and int8 buffers") };
            let v = decode(t.ty, &b, t.n_elements, DecodeOptions::default()).map_err(quant_err)?;
            match v.iter().position(|x| !x.is_finite()) {
                Some(i) => Err(ModelError::BadTensor { tensor: t.name.clone(), reason: format!("value {i} is {}, not a finite number", v[i]) }),
                None => Ok(v),
            }
        };
        // The embedding and the head too: the 4-bit shortlist would hide a NaN row (its estimate
        // stays finite), and a NaN token row poisons every prompt that uses the token.
        let dense = |buf: Buffer| -> Result<DenseMatrix, ModelError> {
            let (cols, rows) = (t.shape[0] as usize, t.shape[1] as usize);
            let m = match buf {
                Buffer::F16(bits) => DenseMatrix::from_f16(bits, cols, rows),
                Buffer::Bytes(b) => DenseMatrix::from_bytes(t.ty, &b, cols, rows).map_err(quant_err)?,
                Buffer::Int8(w) => DenseMatrix {
                    rows,
                    cols,
                    data: DenseData::Int8(w.finish().ok_or_else(|| ModelError::BadTensor {
                        tensor: t.name.clone(),
                        reason: "ended before its last row".into(),
                    })?),
                },
                Buffer::Gpu(_) | Buffer::Int4(_) | Buffer::Checked(_) => unreachable!("finished where they are made"),
            };
            match m.first_non_finite() {
                Some(i) => Err(ModelError::BadTensor {
                    tensor: t.name.clone(),
                    reason: format!("value {} of row {} is not a finite number", i % cols, i / cols),
                }),
                None => Ok(m),
            }
        };
        // Projections, on either path: packed into the kernel layout, then kept or uploaded.
        if let Role::Weight(l, p) = role {
            if is_projection(p) {
                let Buffer::Bytes(b) = buf else { unreachable!("projections are gathered as bytes") };
                let (cols, rows) = (t.shape[0] as usize, t.shape[1] as usize);
                let tiling = self.tilings[index];
                let w = match tiling {
                    Some(tiling) => ternary::pack_tiled(t.ty, &b, cols, rows, tiling, f32::NAN).map_err(quant_err)?,
                    None => ternary::pack(t.ty, b, cols, rows, self.i2s_layout).map_err(quant_err)?,
                };
                return self.place(l, p, w, tiling.is_some());
            }
        }
        let weights = matches!(role, Role::TokenEmbd | Role::Output);
        if let (Some(sink), true) = (&mut self.gpu, weights) {
            // The device keeps the weights; host memory keeps none of them.
            let on_device = match (role, buf) {
                (_, Buffer::Gpu(w)) => w
                    .finish(&sink.gpu)
                    .map_err(|row| ModelError::BadTensor { tensor: t.name.clone(), reason: format!("row {row} holds a value that is not a finite number") })?
                    .ok_or_else(|| ModelError::BadTensor { tensor: t.name.clone(), reason: "ended before its last row".into() })?,
                (_, buf) => GpuDense::upload(&sink.gpu, &t.name, &dense(buf)?)?,
            };
            match role {
                Role::TokenEmbd => sink.token_embd = Some(on_device),
                _ => sink.output = Some(on_device),
            }
            return Ok(());
        }
        if role == Role::TokenEmbd && self.embd_in_file {
            let ended = || ModelError::BadTensor { tensor: t.name.clone(), reason: "ended before its last row".into() };
            self.embd_head = match buf {
                Buffer::Int4(w) => Some(LmHead::Shortlist { int4: w.finish().ok_or_else(ended)?, output: None }),
                Buffer::Int8(w) => Some(LmHead::Int8(w.finish().ok_or_else(ended)?)),
                Buffer::Checked(rows) if rows.complete() => None,
                _ => return Err(ended()),
            };
            let store = self.store.clone().expect("rows_from gave the store");
            let rows = FileRows::new(store, self.data_offset + t.offset, t.shape[0] as usize, t.ty == TensorType::F16);
            self.token_embd = Some(DenseMatrix { rows: t.shape[1] as usize, cols: t.shape[0] as usize, data: DenseData::File(rows) });
            return Ok(());
        }
        match role {
            Role::TokenEmbd => self.token_embd = Some(dense(buf)?),
            Role::Output => self.output = Some(dense(buf)?),
            Role::OutputNorm => self.output_norm = Some(floats(buf)?),
            Role::Scale(l, p) if is_projection(p) => {
                self.layers[l].scales[proj_index(p)] = Some(floats(buf)?[0]);
            }
            Role::TiledScale(l, p) => {
                let s = floats(buf)?[0];
                self.layers[l].tiled_scales[proj_index(p)] = Some(s);
                if let Some(w) = self.layers[l].waiting[proj_index(p)].take() {
                    return self.place(l, p, w, true);
                }
            }
            Role::Weight(_, p) if is_projection(p) => unreachable!("packed above"),
            Role::Weight(l, p) => {
                let v = Some(floats(buf)?);
                let parts = &mut self.layers[l];
                match p {
                    Part::AttnNorm => parts.attn_norm = v,
                    Part::AttnSubNorm => parts.attn_sub_norm = v,
                    Part::FfnNorm => parts.ffn_norm = v,
                    Part::FfnSubNorm => parts.ffn_sub_norm = v,
                    extra => match EXTRA_NORMS.iter().position(|&e| e == extra) {
                        Some(i) => parts.extra_norms[i] = v,
                        None => unreachable!("projections are handled above"),
                    },
                }
            }
            Role::Scale(..) | Role::Skip => {}
        }
        Ok(())
    }

    /// Puts a packed projection where the model keeps it (host memory, or the GPU). A TL1/TL2 one
    /// (`tiled`) takes its scale from its own tensor, and waits for it if it has not arrived yet.
    fn place(&mut self, l: usize, p: Part, mut w: ternary::PackedTernary, tiled: bool) -> Result<(), ModelError> {
        let i = proj_index(p);
        if tiled {
            match self.layers[l].tiled_scales[i] {
                Some(s) => w.scale = ternary::TernaryScale::PerTensor(s),
                None => {
                    self.layers[l].waiting[i] = Some(w);
                    return Ok(());
                }
            }
        }
        match &mut self.gpu {
            Some(sink) => {
                let name = format!("blk.{l}.{}.weight", PROJ_NAMES[i]);
                sink.projs[l][i] = Some(GpuTernary::upload(&sink.gpu, &name, &w)?);
            }
            None => self.layers[l].proj[i] = Some(Linear { w, scale: None }),
        }
        Ok(())
    }

    /// Ends the stream; errors if the file was truncated or lacks a tensor the model needs.
    pub fn finish(mut self) -> Result<(Model, Gguf), ModelError> {
        assert!(self.gpu.is_none(), "a GPU load ends with finish_on_gpu");
        let (gguf, config) = self.end()?;
        let missing = |name: String| ModelError::MissingTensor(name);
        let token_embd = self.token_embd.take().ok_or_else(|| missing("token_embd.weight".into()))?;
        let output_norm = self.output_norm.take().ok_or_else(|| missing("output_norm.weight".into()))?;
        let mut layers = Vec::with_capacity(config.n_layer);
        for (i, mut p) in std::mem::take(&mut self.layers).into_iter().enumerate() {
            let [attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm] = take_norms(i, &mut p, config.sub_norms)?;
            let mut take = |part: Part| -> Result<Linear, ModelError> {
                let idx = proj_index(part);
                let mut lin = p.proj[idx].take().ok_or_else(|| missing(format!("blk.{i}.{}.weight", PROJ_NAMES[idx])))?;
                lin.scale = p.scales[idx];
                Ok(lin)
            };
            let (wq, wk, wv, wo) = (take(Part::Q)?, take(Part::K)?, take(Part::V)?, take(Part::O)?);
            let (w_gate, w_up, w_down) = (take(Part::Gate)?, take(Part::Up)?, take(Part::Down)?);
            let [q, k, v, g, u, qh, kh, pa, pf] = take_extra_norms(i, &mut p, &config)?;
            let in_norms = q.zip(k).zip(v).zip(g).zip(u).map(|((((q, k), v), g), u)| [q, k, v, g, u]);
            let head_norms = qh.zip(kh).map(|(q, k)| [q, k]);
            let post_norms = pa.zip(pf).map(|(a, f)| [a, f]);
            layers.push(Layer {
                in_norms,
                head_norms,
                post_norms,
                attn_norm: attn_norm.expect("take_norms checks it"),
                ffn_norm: ffn_norm.expect("take_norms checks it"),
                attn_sub_norm,
                ffn_sub_norm,
                wq,
                wk,
                wv,
                wo,
                w_gate,
                w_up,
                w_down,
            });
        }
        // A separate int8 head is converted in place; a tied one is copied, since the embedding
        // stays as stored (int8 embeddings moved logits several times more than the int8 head
        // does). The shortlist's 4-bit copy sits beside the stored head, which scores its rows.
        let int8_embd = matches!(token_embd.data, DenseData::Int8(_));
        let head = match (self.opts.head.resolve(self.output.is_none(), token_embd.cols), self.output) {
            // Made while the embedding streamed past into the file's keeping.
            (_, None) if self.embd_head.is_some() => self.embd_head.expect("just checked"),
            // Quantized while streaming: the head is those int8 rows as they are.
            (_, Some(DenseMatrix { data: DenseData::Int8(q), .. })) => LmHead::Int8(q),
            (_, None) if int8_embd => LmHead::Tied,
            (HeadPrecision::Shortlist, output) => {
                LmHead::Shortlist { int4: Int4Rows::quantize(output.as_ref().unwrap_or(&token_embd)), output }
            }
            (HeadPrecision::Stored, Some(output)) => LmHead::Dense(output),
            (HeadPrecision::Stored, None) => LmHead::Tied,
            (_, Some(output)) => LmHead::Int8(output.into_int8()),
            (_, None) => LmHead::Int8(token_embd.to_int8()),
        };
        Ok((Model { config, token_embd, head, output_norm, layers }, gguf))
    }

    /// `finish` for a load begun with `use_gpu`: the weights on the device, with its norms and a
    /// KV cache of `max_len` positions there. Host memory keeps nothing of the model.
    pub fn finish_on_gpu(mut self, max_len: usize) -> Result<(GpuModel, Gguf), ModelError> {
        let sink = self.gpu.take().expect("use_gpu began this load");
        let (gguf, config) = self.end()?;
        let missing = |name: String| ModelError::MissingTensor(name);
        let output_norm = self.output_norm.take().ok_or_else(|| missing("output_norm.weight".into()))?;
        let mut layers = Vec::with_capacity(config.n_layer);
        for (i, (mut p, projs)) in std::mem::take(&mut self.layers).into_iter().zip(sink.projs).enumerate() {
            let [attn, attn_sub, ffn, ffn_sub] = take_norms(i, &mut p, config.sub_norms)?;
            let [q, k, v, g, u, qh, kh, pa, pf] = take_extra_norms(i, &mut p, &config)?;
            let norms = [attn, attn_sub, ffn, ffn_sub, q, k, v, g, u, qh, kh, pa, pf];
            let v = projs.into_iter().zip(PROJ_NAMES).map(|(w, n)| w.ok_or_else(|| missing(format!("blk.{i}.{n}.weight")))).collect::<Result<Vec<_>, _>>()?;
            let projs = <[GpuTernary; 7]>::try_from(v).unwrap_or_else(|_| unreachable!("seven projections"));
            layers.push(GpuLayerWeights { norms, projs, scales: p.scales });
        }
        let token_embd = sink.token_embd.ok_or_else(|| missing("token_embd.weight".into()))?;
        let gpu = GpuModel::assemble(sink.gpu, config, layers, &output_norm, token_embd, sink.output, max_len)?;
        Ok((gpu, gguf))
    }

    /// Ends the stream: the header and the configuration, once every byte arrived.
    fn end(&mut self) -> Result<(Gguf, Config), ModelError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let stream = std::mem::replace(&mut self.stream, GgufStream::new(Limits::default(), None));
        let gguf = stream.finish()?;
        for (l, parts) in self.layers.iter().enumerate() {
            if let Some(i) = parts.waiting.iter().position(Option::is_some) {
                return Err(ModelError::MissingTensor(format!("blk.{l}.{}.weight_scale", PROJ_NAMES[i])));
            }
        }
        let config = self.config.take().ok_or(ModelError::Gguf(GgufError::Truncated { context: "the header", got: 0 }))?;
        Ok((gguf, config))
    }
}

/// The tensor names of the seven projections, in `proj_index` order.
const PROJ_NAMES: [&str; 7] = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

/// Layer `i`'s norms in `gpu::Norm` order (attention, its sub-norm, FFN, its sub-norm), checked
/// complete: the sub-norms exactly when the arch has them.
fn take_norms(i: usize, p: &mut LayerParts, sub_norms: bool) -> Result<[Option<Vec<f32>>; 4], ModelError> {
    let missing = |part: &str| ModelError::MissingTensor(format!("blk.{i}.{part}.weight"));
    let sub = |v: Option<Vec<f32>>, part: &str| match (v, sub_norms) {
        (Some(v), true) => Ok(Some(v)),
        (None, true) => Err(missing(part)),
        (_, false) => Ok(None),
    };
    Ok([
        Some(p.attn_norm.take().ok_or_else(|| missing("attn_norm"))?),
        sub(p.attn_sub_norm.take(), "attn_sub_norm")?,
        Some(p.ffn_norm.take().ok_or_else(|| missing("ffn_norm"))?),
        sub(p.ffn_sub_norm.take(), "ffn_sub_norm")?,
    ])
}

/// Layer `i`'s norms in `EXTRA_NORMS` order, those of the arch only (the others `None`), checked
/// complete: each group whole where the arch has it.
fn take_extra_norms(i: usize, p: &mut LayerParts, c: &Config) -> Result<[Option<Vec<f32>>; 9], ModelError> {
    let mut norms = std::mem::take(&mut p.extra_norms);
    for (has, range) in [(c.proj_norms, 0..5), (c.qk_norm, 5..7), (c.post_norms, 7..9)] {
        let group = &mut norms[range];
        if !has {
            group.iter_mut().for_each(|n| *n = None);
        } else if group.iter().any(Option::is_none) {
            return Err(ModelError::MissingTensor(format!("blk.{i}: a per-projection, head or post norm")));
        }
    }
    Ok(norms)
}

/// Loads a whole in-memory file (tests, the native CLI).
pub fn load_bytes(bytes: &[u8], opts: LoadOptions) -> Result<(Model, Gguf), ModelError> {
    let mut loader = ModelLoader::new(opts, Some(bytes.len() as u64));
    loader.feed(bytes)?;
    loader.finish()
}
