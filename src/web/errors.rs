//! Rust errors → JavaScript `Error`s whose `name` says what went wrong, so the npm package can
//! rethrow them as `GgufError`, `UnsupportedModelError`, `OutOfMemoryError` or `ContextFullError`.

use wasm_bindgen::JsValue;

use crate::chat::ChatError;
use crate::constraint::ConstraintError;
use crate::engine::EngineError;
use crate::gguf::GgufError;
use crate::model::ModelError;
use crate::tokenizer::TokenizerError;

/// An `Error` with the given name and message.
pub fn js_error(name: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name(name);
    e.into()
}

/// The error's JavaScript name.
pub trait ErrorName: std::fmt::Display {
    fn js_name(&self) -> &'static str;
}

impl ErrorName for GgufError {
    fn js_name(&self) -> &'static str {
        match self {
            // TL1/TL2 and other real formats we do not read: a model to convert, not a corrupt file.
            GgufError::UnknownTensorType { id, .. } if crate::gguf::is_known_unsupported(*id) => "UnsupportedModelError",
            _ => "GgufError",
        }
    }
}

impl ErrorName for TokenizerError {
    fn js_name(&self) -> &'static str {
        match self {
            TokenizerError::UnsupportedModel(_)
            | TokenizerError::UnsupportedPreTokenizer(_)
            | TokenizerError::PreTokenizerMismatch(..) => "UnsupportedModelError",
            _ => "GgufError",
        }
    }
}

impl ErrorName for ModelError {
    fn js_name(&self) -> &'static str {
        match self {
            ModelError::Gguf(e) => e.js_name(),
            ModelError::UnsupportedArch(_) | ModelError::UnsupportedTensor { .. } => "UnsupportedModelError",
            // The GPU is unusable for this model (no adapter, its limits, or a device error while
            // loading): "auto" loads for the CPU instead. A GPU lost while running moves the engine
            // to the CPU (`EngineError::GpuLost` when the weights went with it).
            ModelError::Gpu(_) => "WebGpuUnavailableError",
            ModelError::OutOfMemory { .. } => "OutOfMemoryError",
            ModelError::ContextFull(_) => "ContextFullError",
            ModelError::FileRows(_) => "ModelFileError",
            // Chat asked of an embedding model, or embeddings of a language model.
            ModelError::WrongKind(_) => "ModelKindError",
            _ => "GgufError",
        }
    }
}

impl ErrorName for EngineError {
    fn js_name(&self) -> &'static str {
        match self {
            EngineError::Model(e) => e.js_name(),
            EngineError::Tokenizer(e) => e.js_name(),
            EngineError::PromptTooLong { .. } | EngineError::PromptTooManyBytes { .. } => "ContextFullError",
            EngineError::NonFiniteLogits { .. } => "GgufError",
            EngineError::GpuLost(_) => "GpuLostError",
            // The file's template, refused at the header: the model, not the request.
            EngineError::Chat(ChatError::TemplateTooLong { .. } | ChatError::EmptyTemplate) => "UnsupportedModelError",
            EngineError::Chat(_) | EngineError::EmptyPrompt => "TypeError",
            EngineError::Constraint(ConstraintError::Grammar(_)) => "Error",
            EngineError::Constraint(_) | EngineError::Tool(_) => "TypeError",
        }
    }
}

pub fn to_js(e: impl ErrorName) -> JsValue {
    js_error(e.js_name(), &e.to_string())
}
