//! Dense (non-ternary) matrices for the token embedding and the LM head.
//!
//! F32 and F16 tensors are kept as stored. Other float and K-quant types are decoded once at load
//! to f16 (or to f32 when small): the head reads every row per token, so a simple layout wins.

use crate::gguf::TensorType;

use super::file_rows::FileRows;
use super::int8_rows::Int8Rows;
use crate::quant::{DecodeOptions, QuantError, decode};

/// Tensors up to this many elements are kept in f32 when they need decoding anyway.
const F32_LIMIT: usize = 16 << 20;

#[derive(Clone, Debug)]
pub enum DenseData {
    F32(Vec<f32>),
    /// IEEE half bit patterns.
    F16(Vec<u16>),
    /// Rows quantized to int8 while they streamed in, for models that fit only this way
    /// (`EmbeddingPrecision::Int8`).
    Int8(Int8Rows),
    /// Left in the model file and read a row at a time (`file_rows`): an embedding that is only
    /// looked up, or a tied head that only rescores its shortlist.
    File(FileRows),
}

/// `rows` vectors of `cols` floats, row-major (a token embedding is vocab rows of n_embd).
#[derive(Clone, Debug)]
pub struct DenseMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: DenseData,
}

impl DenseMatrix {
    /// An int8 copy, one scale per row (`Int8Rows`).
    pub fn to_int8(&self) -> Int8Rows {
        Int8Rows::from_rows(self.rows, self.cols, |r, out| self.row_into(r, out))
    }

    /// `to_int8`, consuming the matrix: F16 data is converted within its own allocation, so the
    /// heap never holds both forms (a separate 2B4T-size head: 656 MB of F16, then 328 MB).
    pub fn into_int8(self) -> Int8Rows {
        match self.data {
            DenseData::F16(bits) => Int8Rows::from_f16_in_place(bits, self.rows, self.cols),
            _ => self.to_int8(),
        }
    }

    /// Builds from a tensor's stored bytes. F16 bytes are reinterpreted, not decoded.
    pub fn from_bytes(ty: TensorType, data: &[u8], cols: usize, rows: usize) -> Result<Self, QuantError> {
        let n = rows * cols;
        let dense = match ty {
            TensorType::F16 => {
                let expected = 2 * n;
                if data.len() != expected {
                    return Err(QuantError::WrongLength { ty, n: n as u64, expected: expected as u64, got: data.len() });
                }
                DenseData::F16(data.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect())
            }
            _ if ty == TensorType::F32 || n <= F32_LIMIT => DenseData::F32(decode(ty, data, n as u64, DecodeOptions::default())?),
            _ => {
                // A row at a time, so that a large embedding never exists in f32 (a 2B4T-size one in
                // Q4_0 would take 1.3 GB for a moment, which no memory estimate counts).
                let expected = ty.byte_size(n as u64).unwrap_or(u64::MAX);
                let row_bytes = ty.byte_size(cols as u64).filter(|_| rows > 0 && data.len() as u64 == expected);
                let Some(row_bytes) = row_bytes else {
                    return Err(QuantError::WrongLength { ty, n: n as u64, expected, got: data.len() });
                };
                let mut bits = Vec::with_capacity(n);
                for row in data.chunks_exact(row_bytes as usize) {
                    let v = decode(ty, row, cols as u64, DecodeOptions::default())?;
                    bits.extend(v.iter().map(|&x| half::f16::from_f32(x).to_bits()));
                }
                DenseData::F16(bits)
            }
        };
        Ok(DenseMatrix { rows, cols, data: dense })
    }

    /// Builds directly from f16 bit patterns (the streaming loader fills these in place).
    pub fn from_f16(bits: Vec<u16>, cols: usize, rows: usize) -> Self {
        debug_assert_eq!(bits.len(), rows * cols);
        DenseMatrix { rows, cols, data: DenseData::F16(bits) }
    }

    /// Row `r` widened to f32 into `out`.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let range = r * self.cols..(r + 1) * self.cols;
        match &self.data {
            DenseData::F32(v) => out.copy_from_slice(&v[range]),
            DenseData::F16(v) => {
                for (o, &h) in out.iter_mut().zip(&v[range]) {
                    *o = half::f16::from_bits(h).to_f32();
                }
            }
            DenseData::Int8(q) => q.row_into(r, out),
            DenseData::File(f) => f.row_into(r, out),
        }
    }

    /// Rows `rows` widened to f32, one after another, into `out` (a matrix left in the file reads
    /// them in one request).
    pub fn rows_into(&self, rows: &[usize], out: &mut [f32]) {
        match &self.data {
            DenseData::File(f) => f.rows_into(rows, out),
            _ => rows.iter().zip(out.chunks_exact_mut(self.cols)).for_each(|(&r, o)| self.row_into(r, o)),
        }
    }

    /// The first value that is NaN or infinite (row-major index), if any. An F16 value is one when
    /// its exponent bits are all set, so the check is one mask and compare per value.
    pub fn first_non_finite(&self) -> Option<usize> {
        match &self.data {
            DenseData::F32(v) => v.iter().position(|x| !x.is_finite()),
            // Chunks scanned without an early exit vectorise (2B4T's 328M values: a fraction of
            // its load); the chunk that has one is then searched.
            DenseData::F16(v) => {
                let bad = |h: &u16| h & 0x7c00 == 0x7c00;
                let chunk = v.chunks(4096).position(|c| c.iter().fold(false, |a, h| a | bad(h)))?;
                Some(chunk * 4096 + v[chunk * 4096..].iter().position(bad)?)
            }
            // Checked row by row as it streamed in.
            DenseData::Int8(_) | DenseData::File(_) => None,
        }
    }

    /// Why a row of a matrix left in the file could not be read, once one could not.
    pub fn read_failure(&self) -> Option<&super::file_rows::RowsError> {
        match &self.data {
            DenseData::File(f) => f.failure(),
            _ => None,
        }
    }

    pub fn memory_bytes(&self) -> usize {
        match &self.data {
            DenseData::F32(v) => 4 * v.len(),
            DenseData::F16(v) => 2 * v.len(),
            DenseData::Int8(q) => q.memory_bytes(),
            DenseData::File(_) => 0,
        }
    }
}
