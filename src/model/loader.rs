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
use crate::quant::dense::DenseMatrix;
use crate::quant::ternary::{self, SCALE_BLOCK};
use crate::quant::{DecodeOptions, I2sLayout, decode};

use crate::quant::dense::DenseData;
use crate::quant::file_rows::{FileRows, RowStore};
use crate::quant::int4_rows::{Int4Rows, Int4RowsWriter};
use crate::quant::row_stream::RowStream;
use crate::quant::int8_rows::{Int8Rows, Int8RowsWriter};

use crate::gpu::{Gpu, GpuDense, GpuDenseWriter, GpuTernary};

use super::{Config, GpuModel, HeadPrecision, KvCache, KvPrecision, Layer, Linear, LmHead, Model, ModelError};

#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// I2_S block layout (the file cannot say; the official 2B4T file is 128/32).
    pub i2s_layout: I2sLayout,
    /// Refuse models that would need more bytes than this (weights, heads, the KV cache at
    /// `context`, and the largest tensor in transit), at the header.
    pub memory_limit: Option<u64>,
    /// The LM head's precision (int8 by default).
    pub head: HeadPrecision,
    /// The token embedding and a separate head: as stored, or int8 rows made as they stream in.
    pub embeddings: EmbeddingPrecision,
    /// The context the engine will hold (0: the model's, at most 4096) and its KV cache's
    /// precision: the cache is part of the budget.
    pub context: usize,
    pub kv: KvPrecision,
    /// Kernel threads the engine will run on, for their stacks (0: this process's pool).
    pub threads: usize,
    /// The weights go to a GPU as they load (`ModelLoader::use_gpu`): host memory then holds the
    /// tensor in transit, the norms and the tokenizer, and the estimate counts only those.
    pub on_gpu: bool,
    /// The file can be read again while the model runs (`ModelLoader::rows_from`): the F16/F32
    /// token embedding is then left there and read a row at a time (`quant::file_rows`), unless
    /// the head is the embedding as stored, which reads every row per token.
    pub rows_in_file: bool,
}

/// How the token embedding and a separate LM head are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmbeddingPrecision {
    /// As stored, unless int8 is what makes the model fit `memory_limit` (7-10B models in wasm32).
    #[default]
    Auto,
    Stored,
    /// Int8 rows with one scale each, quantized while the tensor streams in, so that the stored
    /// tensor never sits in memory (F16 and F32 tensors; others stay as stored). The head then
    /// is these int8 rows too. Measured on the reference models in tests/head_accuracy.rs.
    Int8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    AttnNorm,
    Q,
    K,
    V,
    O,
    AttnSubNorm,
    FfnNorm,
    Gate,
    Up,
    Down,
    FfnSubNorm,
}

const PARTS: [(&str, Part); 11] = [
    ("attn_norm", Part::AttnNorm),
    ("attn_q", Part::Q),
    ("attn_k", Part::K),
    ("attn_v", Part::V),
    ("attn_output", Part::O),
    ("attn_sub_norm", Part::AttnSubNorm),
    ("ffn_norm", Part::FfnNorm),
    ("ffn_gate", Part::Gate),
    ("ffn_up", Part::Up),
    ("ffn_down", Part::Down),
    ("ffn_sub_norm", Part::FfnSubNorm),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    TokenEmbd,
    Output,
    OutputNorm,
    Weight(usize, Part),
    /// The `bitnet` arch's per-projection scale.
    Scale(usize, Part),
    Skip,
}

fn role_of(name: &str, n_layer: usize) -> Role {
    match name {
        "token_embd.weight" => return Role::TokenEmbd,
        "output.weight" => return Role::Output,
        "output_norm.weight" => return Role::OutputNorm,
        _ => {}
    }
    let Some(rest) = name.strip_prefix("blk.") else { return Role::Skip };
    let Some((idx, rest)) = rest.split_once('.') else { return Role::Skip };
    let Ok(layer) = idx.parse::<usize>() else { return Role::Skip };
    if layer >= n_layer {
        return Role::Skip;
    }
    let Some((part, suffix)) = rest.rsplit_once('.') else { return Role::Skip };
    let Some(&(_, part)) = PARTS.iter().find(|(n, _)| *n == part) else { return Role::Skip };
    match suffix {
        "weight" => Role::Weight(layer, part),
        "scale" => Role::Scale(layer, part),
        _ => Role::Skip,
    }
}

fn is_projection(p: Part) -> bool {
    matches!(p, Part::Q | Part::K | Part::V | Part::O | Part::Gate | Part::Up | Part::Down)
}

/// The ggml shape `[cols, rows]` a tensor must have.
fn expected_shape(c: &Config, role: Role) -> Option<Vec<u64>> {
    let (e, kv, ff, v) = (c.n_embd as u64, c.kv_dim() as u64, c.n_ff as u64, c.n_vocab as u64);
    Some(match role {
        Role::TokenEmbd | Role::Output => vec![e, v],
        Role::OutputNorm => vec![e],
        Role::Weight(_, p) => match p {
            Part::AttnNorm | Part::AttnSubNorm | Part::FfnNorm => vec![e],
            Part::FfnSubNorm => vec![ff],
            Part::Q | Part::O => vec![e, e],
            Part::K | Part::V => vec![e, kv],
            Part::Gate | Part::Up => vec![e, ff],
            Part::Down => vec![ff, e],
        },
        Role::Scale(..) => vec![1],
        Role::Skip => return None,
    })
}

/// Every tensor the forward pass needs is in the table, checked at the header, before anything is
/// allocated per layer: a lying `block_count` (2^31 − 1 aborted the CLI allocating 1.4 TB for layer
/// bookkeeping, and trapped the wasm build) or a file without a layer's weights fails here, not
/// after the download.
fn check_table(c: &Config, roles: &[Role]) -> Result<(), ModelError> {
    let layers_in_table = roles.iter().filter_map(|r| if let Role::Weight(l, _) = r { Some(l + 1) } else { None }).max().unwrap_or(0);
    // Each layer has at least nine tensors; a count beyond the table is the metadata lying.
    if c.n_layer > roles.len() / 9 + 1 || c.n_layer > layers_in_table {
        return Err(ModelError::BadValue {
            key: format!("{}.block_count", c.arch_name),
            reason: format!("says {} layers, but the tensor table holds weights for {layers_in_table}", c.n_layer),
        });
    }
    let has = |r: Role| roles.contains(&r);
    for (role, name) in [(Role::TokenEmbd, "token_embd.weight"), (Role::OutputNorm, "output_norm.weight")] {
        if !has(role) {
            return Err(ModelError::MissingTensor(name.into()));
        }
    }
    let mut present = vec![[false; PARTS.len()]; c.n_layer];
    for r in roles {
        if let Role::Weight(l, p) = *r {
            if let Some(i) = PARTS.iter().position(|&(_, q)| q == p) {
                present[l][i] = true;
            }
        }
    }
    for (l, parts) in present.iter().enumerate() {
        for (i, &(label, part)) in PARTS.iter().enumerate() {
            let needed = c.sub_norms || !matches!(part, Part::AttnSubNorm | Part::FfnSubNorm);
            if needed && !parts[i] {
                return Err(ModelError::MissingTensor(format!("blk.{l}.{label}.weight")));
            }
        }
    }
    Ok(())
}

/// What the header says the model needs, counted before the first weight byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The weights in their converted form, with the LM head copies the options ask for.
    pub weights: u64,
    /// The largest tensor as stored that is gathered whole: the one buffer that exists beside the
    /// converted weights (tensors quantized while streaming are never whole).
    pub largest_tensor: u64,
    /// The KV cache when the context is full.
    pub kv_cache: u64,
    /// The tokenizer, the header held while loading, the forward pass's scratch and each kernel
    /// thread's stack: see [`runtime_bytes`].
    pub runtime: u64,
    /// Whether the embedding (and a separate head) become int8 rows as they stream in.
    pub int8_embeddings: bool,
    /// Whether the token embedding is left in the file (`LoadOptions::rows_in_file`).
    pub embedding_in_file: bool,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights + self.largest_tensor + self.kv_cache + self.runtime
    }
}

/// What the engine holds besides weights and cache: the tokenizer and the parsed header (both
/// grow with the vocabulary, which is most of a header's bytes), scratch, and a stack per kernel
/// thread. Measured, not derived: the wasm memory past weights and cache after a full context in
/// Chromium was 48 MiB with 2B4T's 8.3 MB header (Llama 3's 128k vocabulary), ~10 MiB with
/// bitnet_b1_58-large's 0.76 MB SentencePiece one; natively the Llama 3 tokenizer alone took
/// 33 MB and the parsed header 21 MB (`tests/e2e/family.test.mjs` holds the estimate to 5 %).
pub fn runtime_bytes(header_bytes: u64, threads: usize) -> u64 {
    const BASE: u64 = 4 << 20;
    const PER_HEADER_BYTE: u64 = 5;
    const PER_THREAD: u64 = 2 << 20;
    BASE.saturating_add(PER_HEADER_BYTE.saturating_mul(header_bytes)).saturating_add(PER_THREAD.saturating_mul(threads as u64))
}

/// Validates a header (architecture, tensor table, shapes, types) and estimates what loading it
/// takes, without reading a weight.
pub fn check_header(g: &Gguf, opts: &LoadOptions) -> Result<(Config, MemoryEstimate), ModelError> {
    let plan = Plan::of(g, opts)?;
    Ok((plan.config, plan.estimate))
}

struct Plan {
    config: Config,
    roles: Vec<Role>,
    estimate: MemoryEstimate,
}

impl Plan {
    fn of(g: &Gguf, opts: &LoadOptions) -> Result<Plan, ModelError> {
        let config = Config::from_gguf(g)?;
        let mut roles: Vec<Role> = g.tensors.iter().map(|t| role_of(&t.name, config.n_layer)).collect();
        if config.arch == super::Arch::BitnetB158 {
            // bitnet.cpp always uses the tied embedding for this arch, even when output.weight exists.
            for role in roles.iter_mut().filter(|r| **r == Role::Output) {
                *role = Role::Skip;
            }
        }
        check_table(&config, &roles)?;
        for (t, &role) in g.tensors.iter().zip(&roles) {
            let Some(shape) = expected_shape(&config, role) else { continue };
            if t.shape != shape {
                return Err(ModelError::BadTensor {
                    tensor: t.name.clone(),
                    reason: format!("has shape {:?}, but the metadata implies {shape:?}", t.shape),
                });
            }
            if let Role::Weight(_, p) = role {
                if is_projection(p) && !ternary::is_ternary(t.ty) {
                    return Err(ModelError::BadTensor {
                        tensor: t.name.clone(),
                        reason: format!(
                            "is stored as {}, but bitnet-web runs ternary projections only (I2_S, TQ1_0, TQ2_0)",
                            t.ty
                        ),
                    });
                }
                // The kernels keep each row in I2_S's 128-weight blocks (bitnet_b1_58-3B's 8640-wide
                // FFN is why its only official conversions are TL1/TL2).
                if is_projection(p) && t.shape[0] % ternary::BLOCK as u64 != 0 {
                    return Err(ModelError::BadTensor {
                        tensor: t.name.clone(),
                        reason: format!(
                            "has rows of {} weights, but bitnet-web's ternary kernels need a multiple of {}; \
                             such models exist only as TL1/TL2 files, which bitnet-web does not read",
                            t.shape[0],
                            ternary::BLOCK
                        ),
                    });
                }
            }
        }
        let ctx = config.context_length(opts.context);
        if opts.on_gpu {
            return Ok(Plan { estimate: host_estimate_on_gpu(g, &roles, opts), config, roles });
        }
        let kv_cache = KvCache::bytes_for(config.n_layer, config.kv_dim(), ctx, opts.kv);
        let stored = estimate(g, &roles, &config, opts, false, kv_cache);
        let int8 = estimate(g, &roles, &config, opts, true, kv_cache);
        let estimate = match (opts.embeddings, opts.memory_limit) {
            (EmbeddingPrecision::Int8, _) => int8,
            (EmbeddingPrecision::Auto, Some(limit)) if stored.total() > limit && int8.total() <= limit => int8,
            _ => stored,
        };
        if let Some(limit) = opts.memory_limit.filter(|&l| estimate.total() > l) {
            return Err(ModelError::OutOfMemory {
                needed_mb: estimate.total() >> 20,
                limit_mb: limit >> 20,
                hint: fit_hint(ctx, opts, &stored, &int8, limit, &estimate_with_stored_head(g, &roles, &config, opts, kv_cache)),
            });
        }
        Ok(Plan { config, roles, estimate })
    }
}

/// Whether a tensor in this role becomes int8 rows while it streams in.
fn streams_to_int8(t: &TensorInfo, role: Role, int8: bool) -> bool {
    int8 && matches!(role, Role::TokenEmbd | Role::Output) && matches!(t.ty, TensorType::F16 | TensorType::F32)
}

fn estimate(g: &Gguf, roles: &[Role], config: &Config, opts: &LoadOptions, int8: bool, kv_cache: u64) -> MemoryEstimate {
    let (mut weights, mut largest) = (0u64, 0u64);
    let in_file = embedding_in_file(g, roles, config, opts);
    for (t, &role) in g.tensors.iter().zip(roles) {
        if role == Role::TokenEmbd && in_file {
            continue;
        }
        if streams_to_int8(t, role, int8) {
            weights += Int8RowsWriter::bytes_for(t.shape[1] as usize, t.shape[0] as usize);
        } else {
            weights += kept_bytes(t, role);
            // An F16 embedding or head is gathered into the buffer it then lives in; every other
            // tensor's buffer is dropped once converted, so the largest of those is extra.
            let in_place = matches!(role, Role::TokenEmbd | Role::Output) && t.ty == TensorType::F16;
            if role != Role::Skip && !in_place {
                largest = largest.max(t.n_bytes);
            }
        }
    }
    let head = g.tensors.iter().zip(roles).find(|(_, r)| **r == Role::Output).or_else(|| g.tensors.iter().zip(roles).find(|(_, r)| **r == Role::TokenEmbd));
    // A head streamed into int8 rows is used as it is: nothing is added beside it. An embedding
    // left in the file adds its head (the shortlist's 4-bit rows, or int8 rows) and nothing else.
    if !head.is_some_and(|(t, &r)| streams_to_int8(t, r, int8) && !(r == Role::TokenEmbd && in_file)) {
        let tied = !roles.contains(&Role::Output);
        weights += opts.head.added_bytes(tied, config.n_vocab, config.n_embd);
    }
    let threads = if opts.threads == 0 { crate::kernels::threads() } else { opts.threads };
    let runtime = runtime_bytes(g.data_offset, threads);
    MemoryEstimate { weights, largest_tensor: largest, kv_cache, runtime, int8_embeddings: int8, embedding_in_file: in_file }
}

/// Whether the token embedding is left in the file: it can be read again, it is F16 or F32 (other
/// types are decoded at load), and the head does not read every row of it per token.
fn embedding_in_file(g: &Gguf, roles: &[Role], config: &Config, opts: &LoadOptions) -> bool {
    let tied = !roles.contains(&Role::Output);
    let embd = g.tensors.iter().zip(roles).find(|(_, r)| **r == Role::TokenEmbd);
    opts.rows_in_file
        && !opts.on_gpu
        && embd.is_some_and(|(t, _)| matches!(t.ty, TensorType::F16 | TensorType::F32))
        && !(tied && opts.head.resolve(tied, config.n_embd) == HeadPrecision::Stored)
}

/// Host memory on the GPU path: the norms, the largest tensor in transit (a ternary one, gathered
/// then packed; an F16/F32 embedding or head streams through in 4 MiB pieces; one stored in another
/// type is decoded whole before its upload), and the runtime. No weights, heads or KV cache.
fn host_estimate_on_gpu(g: &Gguf, roles: &[Role], opts: &LoadOptions) -> MemoryEstimate {
    let (mut weights, mut largest) = (0u64, 0u64);
    for (t, &role) in g.tensors.iter().zip(roles) {
        match role {
            Role::Skip => {}
            Role::TokenEmbd | Role::Output if matches!(t.ty, TensorType::F16 | TensorType::F32) => largest = largest.max(4 << 20),
            Role::TokenEmbd | Role::Output => largest = largest.max(t.n_bytes + kept_bytes(t, role)),
            Role::Weight(_, p) if is_projection(p) => largest = largest.max(t.n_bytes + kept_bytes(t, role) + t.n_elements / 4),
            _ => weights += kept_bytes(t, role),
        }
    }
    let threads = if opts.threads == 0 { crate::kernels::threads() } else { opts.threads };
    MemoryEstimate {
        weights,
        largest_tensor: largest,
        kv_cache: 0,
        runtime: runtime_bytes(g.data_offset, threads),
        int8_embeddings: false,
        embedding_in_file: false,
    }
}

/// `estimate` with the LM head as stored: only a refusal needs it.
fn estimate_with_stored_head(g: &Gguf, roles: &[Role], config: &Config, opts: &LoadOptions, kv_cache: u64) -> MemoryEstimate {
    estimate(g, roles, config, &LoadOptions { head: HeadPrecision::Stored, ..*opts }, false, kv_cache)
}

/// What would make a model fit `limit`, for the out-of-memory message: int8 embeddings, an f16
/// KV cache, both, or (with the most economical of those) a shorter context.
///
/// `stored_head` is `stored` with the LM head as stored: no copy beside it (exact; the 4-bit
/// shortlist's copy of 2B4T's head is 176 MiB, and decode reads the whole F16 head instead).
fn fit_hint(ctx: usize, opts: &LoadOptions, stored: &MemoryEstimate, int8: &MemoryEstimate, limit: u64, stored_head: &MemoryEstimate) -> String {
    let can_int8 = opts.embeddings != EmbeddingPrecision::Stored && int8.total() < stored.total();
    let can_f16 = opts.kv == KvPrecision::F32;
    let f16 = |e: &MemoryEstimate| MemoryEstimate { kv_cache: e.kv_cache / 2, ..*e };
    let mut ways = Vec::new();
    if can_int8 && int8.total() <= limit {
        ways.push("int8 embeddings (embeddings: \"int8\")".to_string());
    }
    if can_f16 && f16(stored).total() <= limit {
        ways.push("an f16 KV cache (kvCache: \"f16\")".to_string());
    } else if can_int8 && can_f16 && f16(int8).total() <= limit && int8.total() > limit {
        ways.push("an f16 KV cache (kvCache: \"f16\"; int8 embeddings are then chosen on their own)".to_string());
    }
    if stored_head.total() < stored.total() && stored_head.total() <= limit {
        ways.push("the LM head as stored (lmHead: \"stored\"; exact, decodes slower)".to_string());
    }
    let lean = if can_int8 { *int8 } else { *stored };
    let lean = if can_f16 { f16(&lean) } else { lean };
    let fixed = lean.weights + lean.largest_tensor + lean.runtime;
    let per_token = lean.kv_cache / ctx.max(1) as u64;
    if lean.total() > limit && fixed < limit && per_token > 0 {
        let tokens = ((limit - fixed) / per_token).min(ctx as u64 - 1);
        if tokens >= 1 {
            let with = match (can_int8, can_f16) {
                (true, true) => " with int8 embeddings and an f16 KV cache",
                (false, true) => " with an f16 KV cache",
                (true, false) => " with int8 embeddings",
                (false, false) => "",
            };
            ways.push(format!("a context of at most {tokens} tokens (contextLength){with}"));
        }
    }
    // On a GPU the weights and the KV cache live in the device's memory, not in this budget.
    let gpu = "; or run it on a GPU (device: \"webgpu\"; the CLI's --device gpu), which holds the weights itself";
    match ways.is_empty() {
        true => format!("even its weights need {} MB; choose a smaller model{gpu}", fixed >> 20),
        false => format!("it would fit with {}{gpu}", ways.join(", or ")),
    }
}

/// Bytes a tensor will occupy once converted.
fn kept_bytes(t: &TensorInfo, role: Role) -> u64 {
    match role {
        // I2_S has one scale per tensor; a TQ file's blocks may each have their own (known only
        // from the data, so the header counts them all).
        Role::Weight(_, p) if is_projection(p) && t.ty == TensorType::I2_S => t.n_elements / 4 + 4,
        Role::Weight(_, p) if is_projection(p) => t.n_elements / 4 + 4 * (t.n_elements / SCALE_BLOCK as u64),
        Role::TokenEmbd | Role::Output if t.ty != TensorType::F32 => 2 * t.n_elements,
        Role::Skip => 0,
        _ => 4 * t.n_elements,
    }
}

#[derive(Default)]
struct LayerParts {
    attn_norm: Option<Vec<f32>>,
    attn_sub_norm: Option<Vec<f32>>,
    ffn_norm: Option<Vec<f32>>,
    ffn_sub_norm: Option<Vec<f32>>,
    proj: [Option<Linear>; 7],
    scales: [Option<f32>; 7],
}

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

    /// Bytes fed so far.
    pub fn position(&self) -> u64 {
        self.stream.position()
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
                self.convert(&info, self.roles[index], buf)
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
        let tied = !plan.roles.contains(&Role::Output);
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
                    Some(match (tied, head) {
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

    fn convert(&mut self, t: &TensorInfo, role: Role, buf: Buffer) -> Result<(), ModelError> {
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
        let weights = matches!(role, Role::TokenEmbd | Role::Output) || matches!(role, Role::Weight(_, p) if is_projection(p));
        if let (Some(sink), true) = (&mut self.gpu, weights) {
            // The device keeps the weights; the model keeps their shapes.
            let (cols, rows) = (t.shape[0] as usize, t.shape[1] as usize);
            let on_device = match (role, buf) {
                (Role::Weight(l, p), Buffer::Bytes(b)) => {
                    let w = ternary::pack(t.ty, b, cols, rows, self.opts.i2s_layout).map_err(quant_err)?;
                    sink.projs[l][proj_index(p)] = Some(GpuTernary::upload(&sink.gpu, &t.name, &w)?);
                    let shape = ternary::PackedTernary { rows, cols, codes: Vec::new(), scale: ternary::TernaryScale::PerTensor(0.0) };
                    self.layers[l].proj[proj_index(p)] = Some(Linear { w: shape, scale: None });
                    return Ok(());
                }
                (_, Buffer::Gpu(w)) => w
                    .finish(&sink.gpu)
                    .map_err(|row| ModelError::BadTensor { tensor: t.name.clone(), reason: format!("row {row} holds a value that is not a finite number") })?
                    .ok_or_else(|| ModelError::BadTensor { tensor: t.name.clone(), reason: "ended before its last row".into() })?,
                (_, buf) => GpuDense::upload(&sink.gpu, &t.name, &dense(buf)?)?,
            };
            // Empty data of the kind the device holds, so that statistics name the head that runs.
            let kind = match on_device.kind {
                crate::gpu::layout::DenseKind::F16 => DenseData::F16(Vec::new()),
                _ => DenseData::F32(Vec::new()),
            };
            let shape_only = Some(DenseMatrix { rows, cols, data: kind });
            match role {
                Role::TokenEmbd => (self.token_embd, sink.token_embd) = (shape_only, Some(on_device)),
                _ => (self.output, sink.output) = (shape_only, Some(on_device)),
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
            Role::Weight(l, p) if is_projection(p) => {
                let Buffer::Bytes(b) = buf else { unreachable!() };
                let (cols, rows) = (t.shape[0] as usize, t.shape[1] as usize);
                let w = ternary::pack(t.ty, b, cols, rows, self.opts.i2s_layout).map_err(quant_err)?;
                self.layers[l].proj[proj_index(p)] = Some(Linear { w, scale: None });
            }
            Role::Weight(l, p) => {
                let v = Some(floats(buf)?);
                let parts = &mut self.layers[l];
                match p {
                    Part::AttnNorm => parts.attn_norm = v,
                    Part::AttnSubNorm => parts.attn_sub_norm = v,
                    Part::FfnNorm => parts.ffn_norm = v,
                    Part::FfnSubNorm => parts.ffn_sub_norm = v,
                    _ => unreachable!("projections are handled above"),
                }
            }
            Role::Scale(..) | Role::Skip => {}
        }
        Ok(())
    }

    /// Ends the stream; errors if the file was truncated or lacks a tensor the model needs.
    pub fn finish(self) -> Result<(Model, Gguf), ModelError> {
        assert!(self.gpu.is_none(), "a GPU load ends with finish_on_gpu");
        let (model, gguf, _) = self.finish_parts()?;
        Ok((model, gguf))
    }

    /// `finish` for a load begun with `use_gpu`: the model (its shapes and norms; it is not
    /// `resident`) and its weights on the device, with a KV cache of `max_len` positions.
    pub fn finish_on_gpu(self, max_len: usize) -> Result<(Model, GpuModel, Gguf), ModelError> {
        let (model, gguf, sink) = self.finish_parts()?;
        let sink = sink.expect("use_gpu began this load");
        let missing = |name: String| ModelError::MissingTensor(name);
        let projs = sink
            .projs
            .into_iter()
            .enumerate()
            .map(|(l, p)| {
                let names = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];
                let v = p.into_iter().zip(names).map(|(w, n)| w.ok_or_else(|| missing(format!("blk.{l}.{n}.weight")))).collect::<Result<Vec<_>, _>>()?;
                Ok(<[GpuTernary; 7]>::try_from(v).unwrap_or_else(|_| unreachable!("seven projections")))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let token_embd = sink.token_embd.ok_or_else(|| missing("token_embd.weight".into()))?;
        let gpu = GpuModel::assemble(sink.gpu, &model, projs, token_embd, sink.output, max_len)?;
        Ok((model, gpu, gguf))
    }

    fn finish_parts(self) -> Result<(Model, Gguf, Option<GpuSink>), ModelError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let gguf = self.stream.finish()?;
        let config = self.config.ok_or_else(|| ModelError::Gguf(GgufError::Truncated { context: "the header", got: 0 }))?;
        let missing = |name: String| ModelError::MissingTensor(name);
        let token_embd = self.token_embd.ok_or_else(|| missing("token_embd.weight".into()))?;
        let output_norm = self.output_norm.ok_or_else(|| missing("output_norm.weight".into()))?;
        let mut layers = Vec::with_capacity(config.n_layer);
        for (i, mut p) in self.layers.into_iter().enumerate() {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            let mut take = |part: Part, label: &str| -> Result<Linear, ModelError> {
                let idx = proj_index(part);
                let mut lin = p.proj[idx].take().ok_or_else(|| missing(name(label)))?;
                lin.scale = p.scales[idx];
                Ok(lin)
            };
            let (wq, wk, wv, wo) = (take(Part::Q, "attn_q")?, take(Part::K, "attn_k")?, take(Part::V, "attn_v")?, take(Part::O, "attn_output")?);
            let (w_gate, w_up, w_down) = (take(Part::Gate, "ffn_gate")?, take(Part::Up, "ffn_up")?, take(Part::Down, "ffn_down")?);
            let need_sub = |v: Option<Vec<f32>>, label: &str| -> Result<Option<Vec<f32>>, ModelError> {
                match (v, config.sub_norms) {
                    (Some(v), true) => Ok(Some(v)),
                    (None, true) => Err(missing(name(label))),
                    (_, false) => Ok(None),
                }
            };
            layers.push(Layer {
                attn_norm: p.attn_norm.ok_or_else(|| missing(name("attn_norm")))?,
                ffn_norm: p.ffn_norm.ok_or_else(|| missing(name("ffn_norm")))?,
                attn_sub_norm: need_sub(p.attn_sub_norm, "attn_sub_norm")?,
                ffn_sub_norm: need_sub(p.ffn_sub_norm, "ffn_sub_norm")?,
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
        let resident = self.gpu.is_none();
        let head = match (self.opts.head.resolve(self.output.is_none(), token_embd.cols), self.output) {
            // Made while the embedding streamed past into the file's keeping.
            (_, None) if self.embd_head.is_some() => self.embd_head.expect("just checked"),
            // The GPU reads the head as stored (the weights here are shapes only).
            (_, Some(output)) if !resident => LmHead::Dense(output),
            (_, None) if !resident => LmHead::Tied,
            // Quantized while streaming: the head is those int8 rows as they are.
            (_, Some(DenseMatrix { data: DenseData::Int8(q), .. })) => LmHead::Int8(q),
            (_, None) if int8_embd => LmHead::Tied,
            (HeadPrecision::Shortlist, output) => {
                LmHead::Shortlist { int4: Int4Rows::quantize(output.as_ref().unwrap_or(&token_embd)), output }
            }
            (HeadPrecision::Stored, Some(output)) => LmHead::Dense(output),
            (HeadPrecision::Stored, None) => LmHead::Tied,
            (_, Some(output)) => LmHead::Int8(Int8Rows::quantize_in_place(output)),
            (_, None) => LmHead::Int8(Int8Rows::quantize(&token_embd)),
        };
        Ok((Model { config, token_embd, head, output_norm, layers, resident }, gguf, self.gpu))
    }
}

/// Loads a whole in-memory file (tests, the native CLI).
pub fn load_bytes(bytes: &[u8], opts: LoadOptions) -> Result<(Model, Gguf), ModelError> {
    let mut loader = ModelLoader::new(opts, Some(bytes.len() as u64));
    loader.feed(bytes)?;
    loader.finish()
}
