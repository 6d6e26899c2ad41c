//! The model: configuration from GGUF metadata, weights in kernel layout, and the forward pass.

mod config;
mod forward;
mod kv_cache;
mod loader;

use thiserror::Error;

use crate::gguf::GgufError;
use crate::quant::QuantError;
use crate::quant::dense::DenseMatrix;
use crate::quant::int8_rows::Int8Rows;
use crate::quant::ternary::PackedTernary;

pub use config::{Activation, Arch, Config, RopeStyle};
pub use forward::{ForwardOptions, Logits};
pub use kv_cache::{KvCache, KvPrecision};
pub use loader::{LoadOptions, ModelLoader, load_bytes};


#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("tensor '{tensor}': {source}")]
    Quant { tensor: String, source: QuantError },
    #[error(
        "model architecture '{0}' is not supported; bitnet-web runs 'bitnet-b1.58' (Microsoft's BitNet b1.58 2B4T), \
         'bitnet-25', 'bitnet' and 'llama' models with ternary (I2_S, TQ1_0, TQ2_0) weights"
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
    #[error(
        "this model needs about {needed_mb} MB of memory, more than the {limit_mb} MB available here \
         (WebAssembly can address at most 4 GiB); choose a smaller model"
    )]
    OutOfMemory { needed_mb: u64, limit_mb: u64 },
    #[error("the context is full ({0} tokens); start a new conversation or shorten it")]
    ContextFull(usize),
    #[error("token id {id} is outside the vocabulary (size {n_vocab})")]
    BadToken { id: u32, n_vocab: usize },
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
}

/// Which LM head to run, chosen at load (`LoadOptions::head`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeadPrecision {
    /// An int8 copy with one scale per row, built at load: half the bytes of F16 per token.
    #[default]
    Int8,
    /// The head exactly as stored (F16 in the 2B4T file).
    Stored,
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
            LmHead::Dense(m) => Some(m),
            LmHead::Int8(_) => None,
        }
    }

    /// The LM head's precision, for statistics: "int8", "f16" or "f32".
    pub fn head_name(&self) -> &'static str {
        match self.stored_head().map(|m| &m.data) {
            None => "int8",
            Some(crate::quant::dense::DenseData::F16(_)) => "f16",
            Some(crate::quant::dense::DenseData::F32(_)) => "f32",
        }
    }

    /// Bytes of weights held.
    pub fn memory_bytes(&self) -> usize {
        let lin = |l: &Linear| l.w.memory_bytes();
        let norms = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, |v| 4 * v.len());
        self.token_embd.memory_bytes()
            + match &self.head {
                LmHead::Tied => 0,
                LmHead::Dense(m) => m.memory_bytes(),
                LmHead::Int8(m) => m.memory_bytes(),
            }
            + 4 * self.output_norm.len()
            + self
                .layers
                .iter()
                .map(|l| {
                    lin(&l.wq) + lin(&l.wk) + lin(&l.wv) + lin(&l.wo) + lin(&l.w_gate) + lin(&l.w_up) + lin(&l.w_down)
                        + 4 * (l.attn_norm.len() + l.ffn_norm.len())
                        + norms(&l.attn_sub_norm)
                        + norms(&l.ffn_sub_norm)
                })
                .sum::<usize>()
    }
}
