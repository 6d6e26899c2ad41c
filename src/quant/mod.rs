//! Storage formats: exact byte sizes (in `gguf::TensorType`) and reference decoders to f32.
//!
//! One file per format. Each decoder follows its reference's float arithmetic operation for
//! operation, so that the result is bit-identical to gguf-py's `gguf.quants.dequantize`
//! (checked by `tests/suite/gguf_fixtures.rs`). These decoders are the reference; the kernels repack
//! the same bytes into their own layouts.

mod float;
pub mod i2_s;
mod q3_k;
mod q4_0;
mod q4_k;
mod q5_0;
mod q6_k;
mod q8_0;
pub mod tq1_0;
pub mod tq2_0;
pub mod relayout;
pub mod ternary;
pub mod tl;

use thiserror::Error;

use crate::gguf::TensorType;

pub use i2_s::I2sLayout;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuantError {
    #[error("decoding tensors of type {0} is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q3_K, Q4_K, Q6_K, TQ1_0, TQ2_0, I2_S)")]
    Unsupported(TensorType),
    #[error("{ty} data for {n} elements must be {expected} bytes, but {got} were given")]
    WrongLength { ty: TensorType, n: u64, expected: u64, got: usize },
    #[error("{ty} needs the element count to be a multiple of {block}, but it is {n}")]
    PartialBlock { ty: TensorType, n: u64, block: u64 },
    /// TL1/TL2 bytes no converter writes, or a tiling that does not fit the matrix.
    #[error("{ty}: {reason}")]
    Tiled { ty: TensorType, reason: String },
}

/// The formats `decode` reads for the dense tensors (embeddings, heads, norms), as the header check
/// names them (`model::plan`): a file whose embedding is stored otherwise is refused before its
/// first weight byte, not while it streams. Q4_0, Q5_0 and Q3_K are here because bitnet.cpp's
/// embedding-quantization study writes its token embeddings in them.
pub const DENSE: [TensorType; 9] = [
    TensorType::F32,
    TensorType::F16,
    TensorType::BF16,
    TensorType::Q8_0,
    TensorType::Q4_0,
    TensorType::Q5_0,
    TensorType::Q3_K,
    TensorType::Q4_K,
    TensorType::Q6_K,
];

/// Options that the file cannot express.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    /// I2_S files do not say which packing they use; the official 2B4T file uses 128/32.
    pub i2s_layout: I2sLayout,
    /// A row's length, which the 1×4 I2_S packing needs (0: the tensor is one row).
    pub row_len: usize,
}

/// Decodes `n` elements of `ty` stored in `data` to f32.
pub fn decode(ty: TensorType, data: &[u8], n: u64, opts: DecodeOptions) -> Result<Vec<f32>, QuantError> {
    let row = if opts.row_len == 0 { n } else { opts.row_len as u64 };
    let block = match ty {
        TensorType::I2_S if opts.i2s_layout == I2sLayout::Rows4 => 4 * row,
        TensorType::I2_S => opts.i2s_layout.block_size() as u64,
        _ => ty.block_size(),
    };
    if n % block != 0 {
        return Err(QuantError::PartialBlock { ty, n, block });
    }
    let expected = ty.byte_size(n).unwrap_or(u64::MAX);
    if data.len() as u64 != expected {
        return Err(QuantError::WrongLength { ty, n, expected, got: data.len() });
    }
    let mut out = vec![0f32; n as usize];
    match ty {
        TensorType::F32 => float::decode_f32(data, &mut out),
        TensorType::F16 => float::decode_f16(data, &mut out),
        TensorType::BF16 => float::decode_bf16(data, &mut out),
        TensorType::Q8_0 => q8_0::decode(data, &mut out),
        TensorType::Q4_0 => q4_0::decode(data, &mut out),
        TensorType::Q5_0 => q5_0::decode(data, &mut out),
        TensorType::Q3_K => q3_k::decode(data, &mut out),
        TensorType::Q4_K => q4_k::decode(data, &mut out),
        TensorType::Q6_K => q6_k::decode(data, &mut out),
        TensorType::TQ1_0 => tq1_0::decode(data, &mut out),
        TensorType::TQ2_0 => tq2_0::decode(data, &mut out),
        TensorType::I2_S => i2_s::decode(data, &mut out, row as usize, opts.i2s_layout),
        other => return Err(QuantError::Unsupported(other)),
    }
    Ok(out)
}

/// Reads a little-endian f16 as f32 (exact).
#[inline]
pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}
