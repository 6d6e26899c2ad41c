//! Ternary weights repacked for the kernels, whatever format the file stored them in.
//!
//! The kernel layout is I2_S's own 128/32 packing, applied row by row: each row of `cols` weights
//! (a multiple of 128) is `cols/4` bytes, and byte `p` of each 32-byte block holds codes for columns
//! `p, 32+p, 64+p, 96+p` in bits 7:6, 5:4, 3:2, 1:0 (code = weight + 1). A SIMD kernel turns 16
//! packed bytes into four 16-lane code vectors with one shift and mask each, and the activations
//! they multiply sit contiguously. The official I2_S file already has this layout, so loading it
//! is a copy; TQ2_0 (LSB-first, f16 scale per 256) and TQ1_0 (base-3) are converted once at load.
//!
//! I2_S rows whose length is not a multiple of 128 (bitnet_b1_58-3B's 8640-wide `ffn_down`, which x86
//! `llama-quantize` packs in 128-blocks over the flat index, so that rows straddle blocks) are padded
//! with zero weights to the next block here, and the activations they multiply are padded with zeros
//! (`pad_cols`; `model::cpu`'s quantize): the product is exact, and every kernel keeps its whole blocks.
//! For 3B that is 64 more columns in 8640 (0.7 % more bytes for `ffn_down`).

use crate::gguf::TensorType;

use super::tl::{self, Tiling};
use super::{I2sLayout, QuantError, f16_at, i2_s, tq1_0, tq2_0};

/// Columns per packed block.
pub const BLOCK: usize = 128;
/// Bytes per packed block.
pub const BLOCK_BYTES: usize = BLOCK / 4;
/// Columns per scale block of the TQ formats.
pub const SCALE_BLOCK: usize = 256;

/// How packed codes turn into weights: `weight = (code - 1) * scale`.
#[derive(Clone, Debug, PartialEq)]
pub enum TernaryScale {
    /// One scale for the whole tensor (I2_S).
    PerTensor(f32),
    /// One scale per 256 columns of each row, `rows * cols/256` of them, row-major (TQ1_0, TQ2_0).
    PerBlock(Vec<f32>),
}

/// A ternary matrix of `rows` outputs by `cols` inputs, in the kernel layout.
#[derive(Clone, Debug)]
pub struct PackedTernary {
    pub rows: usize,
    pub cols: usize,
    /// `rows * cols/4` bytes.
    pub codes: Vec<u8>,
    pub scale: TernaryScale,
}

impl PackedTernary {
    pub fn row(&self, r: usize) -> &[u8] {
        let stride = self.cols / 4;
        &self.codes[r * stride..(r + 1) * stride]
    }

    /// The weights as f32, row-major: the reference the kernels are tested against.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            let row = self.row(r);
            for c in 0..self.cols {
                let t = code_at(row, c) as f32 - 1.0;
                out.push(t * self.scale_at(r, c));
            }
        }
        out
    }

    pub fn scale_at(&self, r: usize, c: usize) -> f32 {
        match &self.scale {
            TernaryScale::PerTensor(s) => *s,
            TernaryScale::PerBlock(s) => s[r * (self.cols / SCALE_BLOCK) + c / SCALE_BLOCK],
        }
    }

    /// Bytes held (codes and scales).
    pub fn memory_bytes(&self) -> usize {
        self.codes.len()
            + match &self.scale {
                TernaryScale::PerTensor(_) => 4,
                TernaryScale::PerBlock(s) => 4 * s.len(),
            }
    }
}

/// Code (0..=2) of column `c` within one packed row.
#[inline]
pub fn code_at(row: &[u8], c: usize) -> u8 {
    let (block, j) = (c / BLOCK, c % BLOCK);
    (row[block * BLOCK_BYTES + j % 32] >> (6 - 2 * (j / 32))) & 3
}

/// Packs one row of codes (each 0..=2) into the kernel layout, appending to `out`.
fn pack_row(codes: impl Fn(usize) -> u8, cols: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + cols / 4, 0);
    for c in 0..cols {
        let (block, j) = (c / BLOCK, c % BLOCK);
        out[start + block * BLOCK_BYTES + j % 32] |= (codes(c) & 3) << (6 - 2 * (j / 32));
    }
}

/// The packed width of a row of `cols` weights: the next multiple of the kernel block.
pub fn pad_cols(cols: usize) -> usize {
    cols.next_multiple_of(BLOCK)
}

/// Whether a tensor type holds ternary weights this module can pack.
pub fn is_ternary(ty: TensorType) -> bool {
    matches!(ty, TensorType::I2_S | TensorType::TQ2_0 | TensorType::TQ1_0 | TensorType::TL1 | TensorType::TL2)
}

/// Repacks a TL1 or TL2 tensor of shape `[cols, rows]` (ggml order), tiled with `tiling`, into the
/// kernel layout (`quant::tl` says how the files are laid out). The scale is a tensor of its own in
/// these files: `scale` is what the caller has of it so far (it may arrive after the weights).
pub fn pack_tiled(ty: TensorType, data: &[u8], cols: usize, rows: usize, tiling: Tiling, scale: f32) -> Result<PackedTernary, QuantError> {
    let tiled = |reason| QuantError::Tiled { ty, reason };
    tl::check(ty, rows, cols, tiling).map_err(tiled)?;
    let expected = ty.bytes_for(&[cols as u64, rows as u64]).unwrap_or(u64::MAX);
    if data.len() as u64 != expected {
        return Err(QuantError::WrongLength { ty, n: (rows * cols) as u64, expected, got: data.len() });
    }
    let padded = pad_cols(cols);
    // Code 1 (weight 0) in every slot: the padding columns stay so, and each weight is set once.
    let mut codes = vec![0x55u8; rows * padded / 4];
    let stride = padded / 4;
    tl::untile(ty, data, rows, cols, tiling, &mut |r, c, code| {
        let (block, j) = (c / BLOCK, c % BLOCK);
        let (at, shift) = (r * stride + block * BLOCK_BYTES + j % 32, 6 - 2 * (j / 32));
        codes[at] = codes[at] & !(3 << shift) | code << shift;
    })
    .map_err(tiled)?;
    Ok(PackedTernary { rows, cols: padded, codes, scale: TernaryScale::PerTensor(scale) })
}

/// Repacks a ternary tensor of shape `[cols, rows]` (ggml order) into the kernel layout.
/// `data` is the tensor's bytes as stored; I2_S data in the kernel layout already is moved, not copied.
pub fn pack(
    ty: TensorType,
    mut data: Vec<u8>,
    cols: usize,
    rows: usize,
    i2s_layout: I2sLayout,
) -> Result<PackedTernary, QuantError> {
    let n = (rows * cols) as u64;
    if matches!(ty, TensorType::TL1 | TensorType::TL2) {
        // Their tiling is not in the bytes: `pack_tiled`.
        return Err(QuantError::Unsupported(ty));
    }
    if ty != TensorType::I2_S && cols % SCALE_BLOCK != 0 {
        return Err(QuantError::PartialBlock { ty, n: cols as u64, block: SCALE_BLOCK as u64 });
    }
    // I2_S's blocks run over the flat index and may straddle rows, but the last one must be whole:
    // a part-block's codes would overlap the scale stored after them.
    if ty == TensorType::I2_S && n % i2s_layout.block_size() as u64 != 0 {
        return Err(QuantError::PartialBlock { ty, n, block: i2s_layout.block_size() as u64 });
    }
    // 1×4 packs rows in fours (bitnet.cpp asserts it when it writes them).
    if ty == TensorType::I2_S && i2s_layout == I2sLayout::Rows4 && rows % 4 != 0 {
        return Err(QuantError::PartialBlock { ty, n, block: 4 * cols as u64 });
    }
    let padded = pad_cols(cols);
    let expected = ty.byte_size(n).unwrap_or(u64::MAX);
    if data.len() as u64 != expected {
        return Err(QuantError::WrongLength { ty, n, expected, got: data.len() });
    }
    let mut codes = Vec::with_capacity(rows * padded / 4);
    let scale = match ty {
        TensorType::I2_S => {
            let s = i2_s::scale(&data, rows * cols);
            if i2s_layout == I2sLayout::Block128 && cols == padded {
                // Blocks run over the flat index; with cols % 128 == 0 they never straddle rows.
                data.truncate(rows * cols / 4);
                codes = data;
            } else {
                // Code 1 is weight 0: the padding columns add nothing.
                for r in 0..rows {
                    pack_row(|c| if c < cols { i2_s::code(&data, r * cols + c, cols, i2s_layout) } else { 1 }, padded, &mut codes);
                }
            }
            TernaryScale::PerTensor(s)
        }
        TensorType::TQ2_0 | TensorType::TQ1_0 => {
            let (block_bytes, d_at) = match ty {
                TensorType::TQ2_0 => (tq2_0::BLOCK_BYTES, 64),
                _ => (tq1_0::BLOCK_BYTES, 52),
            };
            let blocks_per_row = cols / SCALE_BLOCK;
            let mut scales = Vec::with_capacity(rows * blocks_per_row);
            let mut trits = vec![0u8; SCALE_BLOCK];
            for r in 0..rows {
                let row_start = codes.len();
                codes.resize(row_start + cols / 4, 0);
                for b in 0..blocks_per_row {
                    let blk = &data[(r * blocks_per_row + b) * block_bytes..][..block_bytes];
                    scales.push(f16_at(blk, d_at));
                    if ty == TensorType::TQ2_0 {
                        for (i, t) in trits.iter_mut().enumerate() {
                            *t = tq2_0::code(blk, i);
                        }
                    } else {
                        tq1_0::codes(blk, &mut trits);
                    }
                    let mut packed = Vec::with_capacity(SCALE_BLOCK / 4);
                    pack_row(|c| trits[c], SCALE_BLOCK, &mut packed);
                    codes[row_start + b * SCALE_BLOCK / 4..][..SCALE_BLOCK / 4].copy_from_slice(&packed);
                }
            }
            // Files converted from a BitNet checkpoint repeat the tensor's one scale in every block:
            // then a single scale is exact, and the kernels skip a float epilogue per 256 columns.
            match scales.split_first() {
                Some((&first, rest)) if rest.iter().all(|&v| v.to_bits() == first.to_bits()) => {
                    TernaryScale::PerTensor(first)
                }
                _ => TernaryScale::PerBlock(scales),
            }
        }
        other => return Err(QuantError::Unsupported(other)),
    };
    Ok(PackedTernary { rows, cols: padded, codes, scale })
}
