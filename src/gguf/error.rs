//! Every way a GGUF byte stream can be wrong, each with a message a person can act on.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufError {
    #[error(
        "not a GGUF file: it starts with bytes {found:02X?}, but a GGUF file starts with \"GGUF\" \
         (47 47 55 46). Check that the URL or file points at a .gguf model, not an HTML page or another format"
    )]
    BadMagic { found: [u8; 4] },

    #[error(
        "this GGUF file is big-endian (version reads as {raw:#010x}); only little-endian GGUF files are \
         supported. Re-convert the model without --bigendian"
    )]
    BigEndian { raw: u32 },

    #[error(
        "GGUF version {version} is not supported (only versions 2 and 3 are). Re-convert the model with a \
         current llama.cpp / gguf-py"
    )]
    UnsupportedVersion { version: u32 },

    #[error(
        "the file ended after {got} bytes, in the middle of {context}; it is truncated. Download it again \
         (the download may have been cut off)"
    )]
    Truncated { context: &'static str, got: u64 },

    #[error(
        "the file declares {count} {what}, which cannot fit in a GGUF header (limit {limit} bytes); the \
         file is corrupt"
    )]
    TooMany { what: &'static str, count: u64, limit: u64 },

    #[error(
        "a string at byte {at} claims a length of {len} bytes, over the limit of {limit}; the file is corrupt"
    )]
    StringTooLong { at: u64, len: u64, limit: u64 },

    #[error("the GGUF header is larger than {limit} bytes; the file is corrupt or not a model")]
    HeaderTooLarge { limit: u64 },

    #[error("a string at byte {at} is not valid UTF-8; the file is corrupt")]
    InvalidUtf8 { at: u64 },

    #[error("metadata key '{key}' has unknown value type {id} (valid types are 0..=12); the file is corrupt")]
    UnknownValueType { key: String, id: u32 },

    #[error("metadata key '{key}' holds an array of arrays, which GGUF readers do not support")]
    NestedArray { key: String },

    #[error("metadata key '{key}' holds a bool with byte value {value} (must be 0 or 1); the file is corrupt")]
    BadBool { key: String, value: u8 },

    #[error("metadata key '{key}' appears twice; the file is corrupt")]
    DuplicateKey { key: String },

    #[error(
        "general.alignment is {value}, but it must be a power of two stored as a uint32; the file is corrupt"
    )]
    BadAlignment { value: String },

    #[error("tensor #{index} has a {len}-byte name; the limit is 63, so the file is corrupt")]
    BadTensorName { index: u64, len: u64 },

    #[error("tensor '{name}' appears twice; the file is corrupt")]
    DuplicateTensor { name: String },

    #[error("tensor '{name}' has {n_dims} dimensions; GGUF allows at most 4")]
    TooManyDims { name: String, n_dims: u32 },

    #[error("tensor '{name}' has shape {shape:?}, whose size overflows 64 bits; the file is corrupt")]
    DimensionOverflow { name: String, shape: Vec<u64> },

    #[error("tensor '{name}' uses an unknown or unsupported tensor type: {reason}")]
    UnknownTensorType { name: String, id: u32, reason: String },

    #[error("tensor '{name}' of type {ty} has shape {shape:?}, but {reason}")]
    BadShape { name: String, ty: &'static str, shape: Vec<u64>, reason: String },

    #[error(
        "tensor '{name}' starts at data offset {offset}, which is not a multiple of the alignment {alignment}; \
         the file is corrupt"
    )]
    MisalignedTensor { name: String, offset: u64, alignment: u64 },

    #[error("tensors '{first}' and '{second}' overlap in the data section; the file is corrupt")]
    OverlappingTensors { first: String, second: String },

    #[error(
        "tensor '{name}' ends at byte {end}, past the end of the file ({file_len} bytes); the file is \
         truncated or corrupt"
    )]
    TensorOutOfBounds { name: String, end: u64, file_len: u64 },

    #[error("the file is {file_len} bytes long but its tensors need {needed}; it is truncated. Download it again")]
    TruncatedData { needed: u64, file_len: u64 },
}
