//! Weights in GPU buffers, in the layouts the shaders read.
//!
//! Ternary: every format (I2_S, TQ1_0, TQ2_0, already one CPU layout in `quant::ternary`) becomes
//! one GPU layout: each row is `cols/16` u32 words of sixteen 2-bit codes, LSB first, so a shader
//! thread reads whole words and spreads four codes to the four bytes `dot4I8Packed` multiplies. The
//! CPU layout's 128/32 interleave exists for 16-lane SIMD registers and buys nothing here.
//!
//! Dense (embedding, LM head): as stored (f32, f16 or int8 with row scales), split by rows into
//! parts no larger than the device's largest binding (2B4T's F16 embedding is 657 MB; WebGPU's
//! default binding limit is 128 MiB).

use crate::quant::dense::{DenseData, DenseMatrix};
use crate::quant::int8_rows::Int8Rows;
use crate::quant::ternary::{PackedTernary, TernaryScale, code_at};

use super::{Gpu, GpuError};

/// A ternary matrix on the GPU.
pub struct GpuTernary {
    pub rows: usize,
    pub cols: usize,
    pub codes: wgpu::Buffer,
    /// One scale (I2_S), or one per 256 columns of each row.
    pub scales: wgpu::Buffer,
    /// 0 for one scale for the tensor, else the scales per row.
    pub spans: usize,
}

/// Row `r` of `w` in the GPU layout: `cols/16` words, code of column `16i + j` at bits `2j..2j+2` of word `i`.
pub fn gpu_row(w: &PackedTernary, r: usize) -> Vec<u32> {
    let row = w.row(r);
    (0..w.cols / 16).map(|i| (0..16).fold(0u32, |word, j| word | (code_at(row, 16 * i + j) as u32) << (2 * j))).collect()
}

impl GpuTernary {
    pub fn upload(gpu: &Gpu, label: &str, w: &PackedTernary) -> Result<GpuTernary, GpuError> {
        let bytes = (w.rows * w.cols / 4) as u64;
        if bytes > gpu.max_binding {
            return Err(GpuError::Unfit(format!("'{label}' is {bytes} bytes, over the device's {} byte binding limit", gpu.max_binding)));
        }
        let words: Vec<u32> = (0..w.rows).flat_map(|r| gpu_row(w, r)).collect();
        let (scales, spans) = match &w.scale {
            TernaryScale::PerTensor(s) => (vec![*s], 0),
            TernaryScale::PerBlock(s) => (s.clone(), w.cols / crate::quant::ternary::SCALE_BLOCK),
        };
        Ok(GpuTernary {
            rows: w.rows,
            cols: w.cols,
            codes: gpu.upload(label, bytemuck::cast_slice(&words)),
            scales: gpu.upload(label, bytemuck::cast_slice(&scales)),
            spans,
        })
    }

    /// Bytes held on the device.
    pub fn bytes(&self) -> u64 {
        self.codes.size() + self.scales.size()
    }
}

/// How a dense part's elements are stored; the value is the shaders' `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseKind {
    F32 = 0,
    F16 = 1,
    Int8 = 2,
}

/// Rows `row0 .. row0 + rows` of a dense matrix, in one buffer.
pub struct DensePart {
    pub row0: usize,
    pub rows: usize,
    pub data: wgpu::Buffer,
    /// One f32 per row for int8; a placeholder otherwise.
    pub scales: wgpu::Buffer,
}

/// A dense matrix on the GPU, as stored, in parts that each fit one binding.
pub struct GpuDense {
    pub rows: usize,
    pub cols: usize,
    pub kind: DenseKind,
    pub parts: Vec<DensePart>,
}

impl GpuDense {
    pub fn upload(gpu: &Gpu, label: &str, m: &DenseMatrix) -> Result<GpuDense, GpuError> {
        let (kind, row_bytes) = match &m.data {
            DenseData::F32(_) => (DenseKind::F32, 4 * m.cols),
            DenseData::F16(_) => (DenseKind::F16, 2 * m.cols),
            DenseData::Int8(_) => (DenseKind::Int8, m.cols),
        };
        if (kind == DenseKind::F16 && m.cols % 2 != 0) || (kind == DenseKind::Int8 && m.cols % 4 != 0) {
            return Err(GpuError::Unfit(format!("'{label}' has rows of {} values, which the GPU layout cannot pack", m.cols)));
        }
        let per_part = (gpu.max_binding as usize / row_bytes.max(1)).min(m.rows.max(1));
        if per_part == 0 {
            return Err(GpuError::Unfit(format!("one row of '{label}' is larger than the device's largest binding")));
        }
        let mut parts = Vec::new();
        for row0 in (0..m.rows).step_by(per_part) {
            let rows = per_part.min(m.rows - row0);
            let (data, scales) = match &m.data {
                DenseData::F32(v) => (gpu.upload(label, bytemuck::cast_slice(&v[row0 * m.cols..(row0 + rows) * m.cols])), gpu.upload(label, &[0; 4])),
                DenseData::F16(v) => (gpu.upload(label, bytemuck::cast_slice(&v[row0 * m.cols..(row0 + rows) * m.cols])), gpu.upload(label, &[0; 4])),
                DenseData::Int8(q) => {
                    let bytes: Vec<u8> = (row0..row0 + rows).flat_map(|r| q.row(r).iter().map(|&v| v as u8)).collect();
                    (gpu.upload(label, &bytes), gpu.upload(label, bytemuck::cast_slice(&q.scales[row0..row0 + rows])))
                }
            };
            parts.push(DensePart { row0, rows, data, scales });
        }
        Ok(GpuDense { rows: m.rows, cols: m.cols, kind, parts })
    }

    /// An int8 head (a separate F16 head converted in place at load).
    pub fn upload_int8(gpu: &Gpu, label: &str, q: &Int8Rows) -> Result<GpuDense, GpuError> {
        // Int8Rows is not Clone-cheap; the matrix form borrows nothing but shape and data.
        GpuDense::upload(gpu, label, &DenseMatrix { rows: q.rows, cols: q.cols, data: DenseData::Int8(q.clone()) })
    }

    /// Bytes held on the device.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.data.size() + p.scales.size()).sum()
    }
}
