//! bitnet-web: BitNet b1.58 (ternary) language models from GGUF files, in a browser tab.
//!
//! The data flow is the module layout: `gguf` (container) → `quant` (storage formats) → kernels →
//! model → engine (with the tokenizer, chat formats, sampler and output constraints) → `web` (the
//! wasm-bindgen face). No module depends on one further down the list.

pub mod chat;
pub mod constraint;
/// HF checkpoints to GGUF (the CLI's `convert`): files on disk, so native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
pub mod engine;
pub mod gguf;
pub mod gpu;
pub mod kernels;
pub mod model;
pub mod quant;
pub mod weights;
pub mod sampler;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;
