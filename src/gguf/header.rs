//! The parsed GGUF header: version, metadata, tensor table and data layout.

use std::collections::HashMap;

use serde::Serialize;

use super::{TensorType, Value};

/// `general.alignment` when the file does not set it.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One entry of the tensor table, with its byte size already computed and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `shape[0]` is the contiguous dimension (a matrix is `[K, N]`: N rows of K).
    pub shape: Vec<u64>,
    #[serde(rename = "type")]
    pub ty: TensorType,
    /// Offset from the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Gguf {
    pub version: u32,
    /// Key-value pairs in file order.
    pub metadata: Vec<(String, Value)>,
    pub(crate) key_index: HashMap<String, usize>,
    /// Tensor table in file order.
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset where the data section starts.
    pub data_offset: u64,
}

impl Gguf {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    /// `general.architecture`, which prefixes the model's hyper-parameter keys.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    pub fn tensor(&self, name: &str) -> Option<(usize, &TensorInfo)> {
        self.tensors.iter().enumerate().find(|(_, t)| t.name == name)
    }

    /// The smallest file length that holds every tensor.
    pub fn required_file_len(&self) -> u64 {
        self.data_offset + self.tensors.iter().map(|t| t.offset + t.n_bytes).max().unwrap_or(0)
    }

    /// Total bytes of tensor data (without padding).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}
