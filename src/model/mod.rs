//! The model: configuration from GGUF metadata, weights in kernel layout, and the forward pass.

mod config;
mod forward;
mod kv_cache;
mod loader;

use thiserror::Error;

use crate::gguf::GgufError;
use crate::quant::QuantError;
use crate::quant::dense::DenseMatrix;
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

#[derive(Clone, Debug)]
pub struct Model {
    pub config: Config,
    pub token_embd: DenseMatrix,
    /// A separate LM head; `None` means tied to `token_embd` (always so for `bitnet-b1.58`).
    pub output: Option<DenseMatrix>,
    pub output_norm: Vec<f32>,
    pub layers: Vec<Layer>,
}

impl Model {
    /// The LM head matrix.
    pub fn head(&self) -> &DenseMatrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    /// Bytes of weights held.
    pub fn memory_bytes(&self) -> usize {
        let lin = |l: &Linear| l.w.memory_bytes();
        let norms = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, |v| 4 * v.len());
        self.token_embd.memory_bytes()
            + self.output.as_ref().map_or(0, DenseMatrix::memory_bytes)
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
