//! The model: configuration from GGUF metadata, weights in kernel layout, and the forward pass.

mod backend;
mod compute;
mod config;
mod cpu;
mod evidence;
mod forward;
mod gpu;
pub mod i2s_layout;
mod kv_cache;
mod loader;
mod plan;
mod scratch;

use thiserror::Error;

use crate::gguf::GgufError;
use crate::gpu::GpuError;
use crate::quant::QuantError;
use crate::weights::dense::DenseMatrix;
use crate::weights::int4_rows::Int4Rows;
use crate::weights::int8_rows::Int8Rows;
use crate::quant::ternary::PackedTernary;

pub use compute::{BackendKind, Compute, GPU_CANDIDATES, PACK_TOKENS, Want};
pub use config::{Arch, Config, Pooling, RopeStyle};
pub use evidence::{Activation, Decision};
pub use forward::{ForwardOptions, Logits};
pub use gpu::GpuModel;
pub use kv_cache::{KvCache, KvPrecision};
pub use loader::{ModelLoader, load_bytes};
pub use plan::{EmbeddingPrecision, LoadOptions, MemoryEstimate, check_header};


#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("tensor '{tensor}': {source}")]
    Quant { tensor: String, source: QuantError },
    #[error(
        "model architecture '{0}' is not supported; bitnet-web runs 'bitnet-b1.58' (Microsoft's BitNet b1.58 2B4T), \
         'bitnet-25', 'bitnet' and 'llama' models, and 'qwen3' BitNet-embedding models, with ternary (I2_S, TQ1_0, TQ2_0) weights"
    )]
    UnsupportedArch(String),
    #[error("the model file lacks the metadata key '{0}'; it is incomplete or not a language model")]
    MissingKey(String),
    #[error("metadata key '{key}': {reason}")]
    BadValue { key: String, reason: String },
    #[error("the model file lacks the tensor '{0}'")]
    MissingTensor(String),
    #[error("tensor '{tensor}': {reason}")]
    BadTensor { tensor: String, reason: String },
    /// A real tensor layout that bitnet-web does not run (a model to convert, not a corrupt file).
    #[error("tensor '{tensor}': {reason}")]
    UnsupportedTensor { tensor: String, reason: String },
    #[error("this model needs about {needed_mb} MB of memory, more than the {limit_mb} MB available here; {hint}")]
    OutOfMemory { needed_mb: u64, limit_mb: u64, hint: String },
    #[error("the context is full ({0} tokens); start a new conversation or shorten it")]
    ContextFull(usize),
    /// Logits asked of an embedding model, or an embedding of a language model.
    #[error("{0}")]
    WrongKind(String),
    #[error("token id {id} is outside the vocabulary (size {n_vocab})")]
    BadToken { id: u32, n_vocab: usize },
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("the hidden state became NaN or infinite in layer {layer}: that layer's weights or norms are corrupt")]
    NonFinite { layer: usize },
    /// A row of the embedding left in the file (`LoadOptions::rows_in_file`) could not be read.
    #[error("{0}; load the model again")]
    FileRows(crate::weights::file_rows::RowsError),
    /// A model given to replace one a lost GPU took is not the same model.
    #[error("the model loaded again is not the one that was lost")]
    NotTheSameModel,
}

/// A ternary projection (BitLinear), with the optional extra scale of the `bitnet` arch.
#[derive(Clone, Debug)]
pub struct Linear {
    pub w: PackedTernary,
    pub scale: Option<f32>,
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Linear,
    pub wk: Linear,
    pub wv: Linear,
    pub wo: Linear,
    pub attn_sub_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub w_gate: Linear,
    pub w_up: Linear,
    pub w_down: Linear,
    pub ffn_sub_norm: Option<Vec<f32>>,
    /// BitNet-embedding's norms before the q, k, v, gate and up projections, in that order.
    pub in_norms: Option<[Vec<f32>; 5]>,
    /// Qwen3's per-head norms of the queries and the keys.
    pub head_norms: Option<[Vec<f32>; 2]>,
    /// Gemma's norms of attention's output and of the FFN's.
    pub post_norms: Option<[Vec<f32>; 2]>,
}

/// Which LM head to run, chosen at load (`LoadOptions::head`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeadPrecision {
    /// `Shortlist` when the head is the token embedding (2B4T's), whose exact rows are in memory
    /// anyway; otherwise `Int8`, which replaces a separate head in place instead of adding a copy
    /// beside it.
    #[default]
    Auto,
    /// An int8 copy with one scale per row, built at load: half the bytes of F16 per token.
    Int8,
    /// The head exactly as stored (F16 in the 2B4T file).
    Stored,
    /// A 4-bit copy shortlists rows per token and the stored head scores them
    /// (`kernels::shortlist_matvec`): the fewest bytes per token, and the logits that sampling
    /// picks from are the stored head's. Rows that are not whole 64-value blocks get `Int8`.
    Shortlist,
}

impl HeadPrecision {
    /// The head that `Auto` (or an unfit `Shortlist`) stands for, given whether the head is the
    /// token embedding and how long its rows are.
    pub fn resolve(self, tied: bool, n_embd: usize) -> HeadPrecision {
        match self {
            HeadPrecision::Auto if tied => HeadPrecision::Shortlist.resolve(tied, n_embd),
            HeadPrecision::Auto => HeadPrecision::Int8,
            HeadPrecision::Shortlist if !Int4Rows::fits(n_embd) => HeadPrecision::Int8,
            chosen => chosen,
        }
    }

    /// Bytes that the head adds to the file's tensors once loaded: a copy beside the stored head
    /// (a separate int8 head replaces its F16 original in place instead).
    pub fn added_bytes(self, tied: bool, n_vocab: usize, n_embd: usize) -> u64 {
        match self.resolve(tied, n_embd) {
            HeadPrecision::Int8 if tied => (n_vocab * (n_embd + 4)) as u64,
            HeadPrecision::Shortlist => Int4Rows::bytes_for(n_vocab, n_embd) as u64,
            _ => 0,
        }
    }
}

/// The LM head the forward pass multiplies by.
#[derive(Clone, Debug)]
pub enum LmHead {
    /// The token embedding as stored (the file has no `output.weight`, as `bitnet-b1.58` never has).
    Tied,
    /// A separate `output.weight` as stored.
    Dense(DenseMatrix),
    /// An int8 copy of whichever of the two the file has.
    Int8(Int8Rows),
    /// A 4-bit copy that shortlists rows, and a separate `output.weight` as stored (`None` when
    /// the head is the token embedding) that scores them.
    Shortlist { int4: Int4Rows, output: Option<DenseMatrix> },
}

#[derive(Clone, Debug)]
pub struct Model {
    pub config: Config,
    pub token_embd: DenseMatrix,
    pub head: LmHead,
    pub output_norm: Vec<f32>,
    pub layers: Vec<Layer>,
}

impl Model {
    /// The LM head as stored in the file (the tied embedding when the file has no `output.weight`).
    pub fn stored_head(&self) -> Option<&DenseMatrix> {
        match &self.head {
            LmHead::Tied => Some(&self.token_embd),
            LmHead::Dense(m) | LmHead::Shortlist { output: Some(m), .. } => Some(m),
            LmHead::Shortlist { output: None, .. } => Some(&self.token_embd),
            LmHead::Int8(_) => None,
        }
    }

    /// The LM head's precision, for statistics: "int8", "f16", "f32", "int4→f16" or "int4→f32".
    pub fn head_name(&self) -> &'static str {
        use crate::weights::dense::DenseData::{F16, F32, File, Int8};
        let f16 = |d: &crate::weights::dense::DenseData| matches!(d, F16(_)) || matches!(d, File(f) if f.is_f16());
        match (&self.head, self.stored_head().map(|m| &m.data)) {
            (LmHead::Shortlist { .. }, Some(d)) if f16(d) => "int4→f16",
            (LmHead::Shortlist { .. }, _) => "int4→f32",
            (_, None | Some(Int8(_))) => "int8",
            (_, Some(d)) if f16(d) => "f16",
            (_, Some(F32(_) | F16(_) | File(_))) => "f32",
        }
    }

    /// The ternary weights' bytes, matrix by matrix: what a decoded token streams from memory
    /// (`kernels::bandwidth` reads them to measure the rate).
    pub fn ternary_bytes(&self) -> Vec<&[u8]> {
        self.layers.iter().flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]).map(|lin| lin.w.codes.as_slice()).collect()
    }

    /// Bytes a decoded token reads: every ternary matrix and norm, and the LM head as it is kept
    /// (the 4-bit shortlist copy for the shortlist head, whose few full rows are left out; an
    /// embedding left in the file is read from there).
    pub fn decode_bytes(&self) -> usize {
        use crate::weights::dense::DenseData;
        let dense = |m: &DenseMatrix| match &m.data {
            DenseData::File(f) => m.rows * m.cols * if f.is_f16() { 2 } else { 4 },
            _ => m.memory_bytes(),
        };
        let head = match &self.head {
            LmHead::Tied => dense(&self.token_embd),
            LmHead::Dense(m) => dense(m),
            LmHead::Int8(q) => q.memory_bytes(),
            LmHead::Shortlist { int4, .. } => int4.memory_bytes(),
        };
        self.layer_bytes() + 4 * self.output_norm.len() + head
    }

    /// Bytes of weights held.
    pub fn memory_bytes(&self) -> usize {
        let head = match &self.head {
            LmHead::Tied => 0,
            LmHead::Dense(m) => m.memory_bytes(),
            LmHead::Int8(m) => m.memory_bytes(),
            LmHead::Shortlist { int4, output } => int4.memory_bytes() + output.as_ref().map_or(0, |m| m.memory_bytes()),
        };
        self.token_embd.memory_bytes() + head + 4 * self.output_norm.len() + self.layer_bytes()
    }

    /// Bytes of the layers: their ternary matrices and norms.
    fn layer_bytes(&self) -> usize {
        let lin = |l: &Linear| l.w.memory_bytes();
        let norms = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, |v| 4 * v.len());
        self.layers
            .iter()
            .map(|l| {
                lin(&l.wq) + lin(&l.wk) + lin(&l.wv) + lin(&l.wo) + lin(&l.w_gate) + lin(&l.w_up) + lin(&l.w_down)
                    + 4 * (l.attn_norm.len() + l.ffn_norm.len())
                    + norms(&l.attn_sub_norm)
                    + norms(&l.ffn_sub_norm)
                    + l.in_norms.iter().flatten().chain(l.head_norms.iter().flatten()).chain(l.post_norms.iter().flatten()).map(|v| 4 * v.len()).sum::<usize>()
            })
            .sum::<usize>()
    }
}
