//! The header's verdict, before the first weight byte: what each tensor is for (its role), that
//! the table holds every tensor the forward pass needs in the shape and type the kernels take,
//! and what loading it will cost in memory, with what would make it fit when it does not.
//!
//! Why apart from the loader: the browser asks it of a header alone (`estimateMemory`, the
//! catalog's fit check) with no load to follow, and the loader only streams into the destination
//! this plan chose. Each new arch or layout is decided here, once, before any download goes on.

use crate::gguf::{Gguf, TensorInfo, TensorType};
use crate::quant::I2sLayout;
use crate::quant::ternary::{self, SCALE_BLOCK};
use crate::quant::tl::{self, KernelConfig, Tiling};
use crate::weights::int8_rows::Int8RowsWriter;

use super::{Config, HeadPrecision, KvCache, KvPrecision, ModelError};

#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// I2_S block layout, where the caller knows it; `None`: the file's `quantize.i2_s.block_size`, else
    /// 128/32 (the official files'), which the engine then probes (`model::i2s_layout`).
    pub i2s_layout: Option<I2sLayout>,
    /// What the layout probe decided when this same copy was loaded before (the package keeps it with a
    /// model kept offline): read so where neither the caller nor the file says, and not probed again.
    pub i2s_layout_found: Option<I2sLayout>,
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
    /// token embedding is then left there and read a row at a time (`weights::file_rows`), unless
    /// the head is the embedding as stored, which reads every row per token.
    pub rows_in_file: bool,
    /// The FFN activation, where the caller knows better than the file's clues (`evidence.rs`).
    pub activation: Option<super::Activation>,
    /// The tilings of a TL1/TL2 file whose shapes bitnet.cpp's presets do not cover: the
    /// `kernel_config.ini` of the build that converted it (`quant::tl`). Tried before the presets.
    pub tl_kernels: KernelConfig,
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
    /// is these int8 rows too. Measured on the reference models in tests/suite/head_accuracy.rs.
    Int8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
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
    /// BitNet-embedding's norms before the q, k, v, gate and up projections (`*_norm_in`).
    QNormIn,
    KNormIn,
    VNormIn,
    GateNormIn,
    UpNormIn,
    /// Qwen3's per-head q/k norms.
    QHeadNorm,
    KHeadNorm,
    /// Gemma's norms of attention's and the FFN's outputs.
    PostAttnNorm,
    PostFfnNorm,
}

/// The tensor names of a layer's parts. BitNet-embedding names the norms before o and down
/// `attn_output_norm_in` and `ffn_down_norm_in`: they stand where BitNet's sub-norms do, and are them.
const PARTS: [(&str, Part); 22] = [
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
    ("attn_q_norm_in", Part::QNormIn),
    ("attn_k_norm_in", Part::KNormIn),
    ("attn_v_norm_in", Part::VNormIn),
    ("ffn_gate_norm_in", Part::GateNormIn),
    ("ffn_up_norm_in", Part::UpNormIn),
    ("attn_q_norm", Part::QHeadNorm),
    ("attn_k_norm", Part::KHeadNorm),
    ("post_attention_norm", Part::PostAttnNorm),
    ("post_ffw_norm", Part::PostFfnNorm),
    ("attn_output_norm_in", Part::AttnSubNorm),
    ("ffn_down_norm_in", Part::FfnSubNorm),
];

/// The parts every layer of a model must have, and the name each goes by in its files.
fn needed_parts(c: &Config) -> Vec<(&'static str, Part)> {
    let base = [Part::AttnNorm, Part::Q, Part::K, Part::V, Part::O, Part::FfnNorm, Part::Gate, Part::Up, Part::Down];
    let sub = [Part::AttnSubNorm, Part::FfnSubNorm];
    let ins = [Part::QNormIn, Part::KNormIn, Part::VNormIn, Part::GateNormIn, Part::UpNormIn];
    let heads = [Part::QHeadNorm, Part::KHeadNorm];
    let mut parts: Vec<Part> = base.to_vec();
    parts.extend(sub.iter().filter(|_| c.sub_norms));
    parts.extend(ins.iter().filter(|_| c.proj_norms));
    parts.extend(heads.iter().filter(|_| c.qk_norm));
    parts.extend([Part::PostAttnNorm, Part::PostFfnNorm].iter().filter(|_| c.post_norms));
    parts
        .into_iter()
        .map(|p| {
            // The last name listed for a part is the one its own family uses.
            let names = PARTS.iter().filter(|(_, q)| *q == p).map(|(n, _)| *n);
            let name = if c.proj_norms { names.last() } else { names.into_iter().next() };
            (name.expect("every part is named"), p)
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    TokenEmbd,
    Output,
    OutputNorm,
    Weight(usize, Part),
    /// The `bitnet` arch's per-projection scale.
    Scale(usize, Part),
    /// The scale of a TL1/TL2 projection (`<name>_scale`: bitnet.cpp's converter writes it apart).
    TiledScale(usize, Part),
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
        "weight_scale" if is_projection(part) => Role::TiledScale(layer, part),
        _ => Role::Skip,
    }
}

pub(super) fn is_projection(p: Part) -> bool {
    matches!(p, Part::Q | Part::K | Part::V | Part::O | Part::Gate | Part::Up | Part::Down)
}

/// The ggml shape `[cols, rows]` a tensor must have.
fn expected_shape(c: &Config, role: Role) -> Option<Vec<u64>> {
    let (e, kv, ff, v) = (c.n_embd as u64, c.kv_dim() as u64, c.n_ff as u64, c.n_vocab as u64);
    let (q, hd) = (c.q_dim() as u64, c.head_dim as u64);
    Some(match role {
        Role::TokenEmbd | Role::Output => vec![e, v],
        Role::OutputNorm => vec![e],
        Role::Weight(_, p) => match p {
            Part::AttnNorm | Part::FfnNorm | Part::PostAttnNorm | Part::PostFfnNorm => vec![e],
            Part::QNormIn | Part::KNormIn | Part::VNormIn | Part::GateNormIn | Part::UpNormIn => vec![e],
            Part::AttnSubNorm => vec![q],
            Part::QHeadNorm | Part::KHeadNorm => vec![hd],
            Part::FfnSubNorm => vec![ff],
            Part::Q => vec![e, q],
            Part::O => vec![q, e],
            Part::K | Part::V => vec![e, kv],
            Part::Gate | Part::Up => vec![e, ff],
            Part::Down => vec![ff, e],
        },
        Role::Scale(..) => vec![1],
        Role::TiledScale(..) | Role::Skip => return None,
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
    let needed = needed_parts(c);
    let mut present = vec![vec![false; needed.len()]; c.n_layer];
    for r in roles {
        if let Role::Weight(l, p) = *r {
            if let Some(i) = needed.iter().position(|&(_, q)| q == p) {
                present[l][i] = true;
            }
        }
    }
    for (l, parts) in present.iter().enumerate() {
        if let Some(i) = parts.iter().position(|&p| !p) {
            return Err(ModelError::MissingTensor(format!("blk.{l}.{}.weight", needed[i].0)));
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

pub(super) struct Plan {
    pub(super) config: Config,
    /// The I2_S packing the weights are read with.
    pub(super) i2s_layout: I2sLayout,
    /// The tiling of each TL1/TL2 projection, by tensor index (`None` for every other tensor).
    pub(super) tilings: Vec<Option<Tiling>>,
    pub(super) roles: Vec<Role>,
    pub(super) estimate: MemoryEstimate,
}

impl Plan {
    pub(super) fn of(g: &Gguf, opts: &LoadOptions) -> Result<Plan, ModelError> {
        let config = Config::decide(g, opts.activation)?;
        let i2s_layout = super::i2s_layout::choose(g, opts.i2s_layout, opts.i2s_layout_found)?.layout;
        // An embedding model has no LM head: nothing is made beside the embedding, and since it
        // reads only its input's rows, the embedding may stay in the file.
        let opts = &LoadOptions { head: if config.pooling.is_some() { HeadPrecision::Stored } else { opts.head }, ..*opts };
        let mut roles: Vec<Role> = g.tensors.iter().map(|t| role_of(&t.name, config.n_layer)).collect();
        if config.arch == super::Arch::BitnetB158 || config.pooling.is_some() {
            // bitnet.cpp always uses the tied embedding for this arch, even when output.weight exists.
            for role in roles.iter_mut().filter(|r| **r == Role::Output) {
                *role = Role::Skip;
            }
        }
        // Arch `qwen3` with none of BitNet's per-projection norms is a full-precision Qwen3 (Microsoft's
        // converter writes the teacher that way with `--outtype f16`), not a ternary model to run.
        if config.proj_norms && !roles.iter().any(|r| matches!(r, Role::Weight(_, Part::QNormIn))) {
            return Err(ModelError::UnsupportedTensor {
                tensor: "blk.0.attn_q_norm_in.weight".into(),
                reason: format!(
                    "is missing, as are all of BitNet's per-projection norms: this '{}' file is a full-precision model, \
                     not a BitNet-embedding one; bitnet-web runs ternary models",
                    config.arch_name
                ),
            });
        }
        check_table(&config, &roles)?;
        let tilings = tiled(g, &mut roles, &opts.tl_kernels)?;
        for (t, &role) in g.tensors.iter().zip(&roles) {
            let Some(shape) = expected_shape(&config, role) else { continue };
            if t.shape != shape {
                return Err(ModelError::BadTensor {
                    tensor: t.name.clone(),
                    reason: format!("has shape {:?}, but the metadata implies {shape:?}", t.shape),
                });
            }
            let projection = matches!(role, Role::Weight(_, p) if is_projection(p));
            if !projection && !crate::quant::DENSE.contains(&t.ty) {
                let names: Vec<String> = crate::quant::DENSE.iter().map(|ty| ty.to_string()).collect();
                return Err(ModelError::UnsupportedTensor {
                    tensor: t.name.clone(),
                    reason: format!(
                        "is stored as {}, but bitnet-web reads embeddings, heads and norms stored as {} only; \
                         requantize the file with one of those for this tensor (llama-quantize \
                         --token-embedding-type f16 --output-tensor-type f16)",
                        t.ty,
                        names.join(", ")
                    ),
                });
            }
            if let Role::Weight(_, p) = role {
                if is_projection(p) && !ternary::is_ternary(t.ty) {
                    return Err(ModelError::UnsupportedTensor {
                        tensor: t.name.clone(),
                        reason: format!(
                            "is stored as {}, but bitnet-web runs ternary projections only (I2_S, TQ1_0, TQ2_0, TL1, TL2)",
                            t.ty
                        ),
                    });
                }
                // Rows that are not whole kernel blocks (bitnet_b1_58-3B's 8640-wide FFN) are padded at
                // load (`ternary::pack`), but I2_S's last flat block must be whole: a part-block's codes
                // would overlap the tensor's scale.
                let block = i2s_layout.block_size() as u64;
                if is_projection(p) && t.ty == TensorType::I2_S && t.n_elements % block != 0 {
                    return Err(ModelError::BadTensor {
                        tensor: t.name.clone(),
                        reason: format!(
                            "holds {} I2_S weights, not whole {block}-weight blocks, so its last codes overlap its scale",
                            t.n_elements
                        ),
                    });
                }
            }
        }
        let ctx = config.context_length(opts.context);
        if opts.on_gpu {
            return Ok(Plan { estimate: host_estimate_on_gpu(g, &roles, opts), config, roles, i2s_layout, tilings });
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
        Ok(Plan { config, roles, estimate, i2s_layout, tilings })
    }
}

/// The tiling of each TL1/TL2 projection, from the caller's kernel config, else bitnet.cpp's presets,
/// each checked against its matrix, with its scale tensor present: decided here, before a weight byte,
/// because the wrong tiling reads as garbage without an error (`quant::tl`). A scale tensor beside no
/// tiled projection is skipped.
fn tiled(g: &Gguf, roles: &mut [Role], config: &KernelConfig) -> Result<Vec<Option<Tiling>>, ModelError> {
    let mut tilings = vec![None; g.tensors.len()];
    for (i, t) in g.tensors.iter().enumerate() {
        let Role::Weight(_, p) = roles[i] else { continue };
        if !is_projection(p) || !matches!(t.ty, TensorType::TL1 | TensorType::TL2) {
            continue;
        }
        let scale_name = format!("{}_scale", t.name);
        let scale = g.tensor(&scale_name).map(|(_, s)| s);
        if t.ty == TensorType::TL2 && scale.is_none() {
            return Err(ModelError::UnsupportedTensor {
                tensor: t.name.clone(),
                reason: format!(
                    "is type 39, which is TL2 in bitnet.cpp's fork and MXFP4 in upstream llama.cpp, and has no \
                     '{scale_name}' beside it as bitnet.cpp's TL2 files do: neither is a format bitnet-web reads; \
                     use the I2_S (or TQ2_0 / TQ1_0) version of the model"
                ),
            });
        }
        let (cols, rows) = (t.shape[0] as usize, t.shape[1] as usize);
        let tiling = config.find(rows, cols).or_else(|| tl::preset(t.ty, rows, cols)).ok_or_else(|| {
            let models: Vec<&str> = tl::PRESETS.iter().map(|p| p.1).fold(Vec::new(), |mut v, m| {
                if !v.contains(&m) {
                    v.push(m);
                }
                v
            });
            ModelError::UnsupportedTensor {
                tensor: t.name.clone(),
                reason: format!(
                    "is bitnet.cpp's {} lookup-table format for a {rows}×{cols} matrix, whose tiling the file does not \
                     record and bitnet.cpp's presets ({}) do not cover: give the kernel_config.ini it was converted \
                     with (the CLI's --kernel-config, the package's tlKernelConfig), or re-convert the model to I2_S \
                     (or TQ2_0)",
                    t.ty,
                    models.join(", ")
                ),
            }
        })?;
        tl::check(t.ty, rows, cols, tiling).map_err(|reason| ModelError::BadTensor { tensor: t.name.clone(), reason })?;
        match scale {
            None => return Err(ModelError::MissingTensor(scale_name)),
            Some(s) if s.ty != TensorType::F32 || s.n_elements != 1 => {
                return Err(ModelError::BadTensor {
                    tensor: scale_name,
                    reason: format!("is {} with {} elements; a TL scale is one F32", s.ty, s.n_elements),
                });
            }
            Some(_) => {}
        }
        tilings[i] = Some(tiling);
    }
    // Scales of tiled projections only; a stray one is not ours to read.
    for (i, t) in g.tensors.iter().enumerate() {
        if let Role::TiledScale(..) = roles[i] {
            let owner = t.name.strip_suffix("_scale").and_then(|w| g.tensor(w));
            if !owner.is_some_and(|(j, _)| tilings[j].is_some()) {
                roles[i] = Role::Skip;
            }
        }
    }
    Ok(tilings)
}

/// Whether a tensor in this role becomes int8 rows while it streams in.
pub(super) fn streams_to_int8(t: &TensorInfo, role: Role, int8: bool) -> bool {
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
        && (config.pooling.is_some() || !(tied && opts.head.resolve(tied, config.n_embd) == HeadPrecision::Stored))
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
pub(super) fn kept_bytes(t: &TensorInfo, role: Role) -> u64 {
    match role {
        // I2_S has one scale per tensor; a TQ file's blocks may each have their own (known only
        // from the data, so the header counts them all).
        // Rows are padded to whole kernel blocks (`ternary::pad_cols`).
        Role::Weight(_, p) if is_projection(p) && matches!(t.ty, TensorType::I2_S | TensorType::TL1 | TensorType::TL2) => {
            t.shape.get(1).copied().unwrap_or(1) * ternary::pad_cols(t.shape[0] as usize) as u64 / 4 + 4
        }
        Role::Weight(_, p) if is_projection(p) => t.n_elements / 4 + 4 * (t.n_elements / SCALE_BLOCK as u64),
        Role::TokenEmbd | Role::Output if t.ty != TensorType::F32 => 2 * t.n_elements,
        Role::Skip => 0,
        _ => 4 * t.n_elements,
    }
}

