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

use crate::weights::dense::{DenseData, DenseMatrix};
use crate::weights::file_rows::FileRows;
use crate::weights::int8_rows::Int8Rows;
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

/// A dense matrix's stored values, borrowed (an int8 head is uploaded without copying it into a
/// `DenseMatrix` first).
enum Stored<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
    Int8(&'a Int8Rows),
}

impl GpuDense {
    pub fn upload(gpu: &Gpu, label: &str, m: &DenseMatrix) -> Result<GpuDense, GpuError> {
        let stored = match &m.data {
            DenseData::F32(v) => Stored::F32(v),
            DenseData::F16(v) => Stored::F16(v),
            DenseData::Int8(q) => Stored::Int8(q),
            DenseData::File(f) => return GpuDense::upload_file_rows(gpu, label, m.rows, m.cols, f),
        };
        GpuDense::upload_stored(gpu, label, m.rows, m.cols, stored)
    }

    /// A matrix left in the model file, read and written to the device row by row.
    fn upload_file_rows(gpu: &Gpu, label: &str, rows: usize, cols: usize, f: &FileRows) -> Result<GpuDense, GpuError> {
        let mut w = GpuDenseWriter::new(gpu, label, rows, cols, f.is_f16())?;
        let mut row = vec![0u8; cols * if f.is_f16() { 2 } else { 4 }];
        let bad = |why: String| GpuError::Unfit(format!("'{label}' could not be read from the model file: {why}"));
        for r in 0..rows {
            f.read_row(r, &mut row).map_err(bad)?;
            w.push(gpu, &row).map_err(|r| bad(format!("row {r} is not finite")))?;
        }
        w.finish(gpu).map_err(|r| bad(format!("row {r} is not finite")))?.ok_or_else(|| bad("it ended early".into()))
    }

    /// An int8 head (a separate F16 head converted in place at load).
    pub fn upload_int8(gpu: &Gpu, label: &str, q: &Int8Rows) -> Result<GpuDense, GpuError> {
        GpuDense::upload_stored(gpu, label, q.rows, q.cols, Stored::Int8(q))
    }

    fn upload_stored(gpu: &Gpu, label: &str, n_rows: usize, cols: usize, stored: Stored<'_>) -> Result<GpuDense, GpuError> {
        let (kind, row_bytes) = match stored {
            Stored::F32(_) => (DenseKind::F32, 4 * cols),
            Stored::F16(_) => (DenseKind::F16, 2 * cols),
            Stored::Int8(_) => (DenseKind::Int8, cols),
        };
        if (kind == DenseKind::F16 && cols % 2 != 0) || (kind == DenseKind::Int8 && cols % 4 != 0) {
            return Err(GpuError::Unfit(format!("'{label}' has rows of {cols} values, which the GPU layout cannot pack")));
        }
        let per_part = (gpu.max_binding as usize / row_bytes.max(1)).min(n_rows.max(1));
        if per_part == 0 {
            return Err(GpuError::Unfit(format!("one row of '{label}' is larger than the device's largest binding")));
        }
        let mut parts = Vec::new();
        for row0 in (0..n_rows).step_by(per_part) {
            let rows = per_part.min(n_rows - row0);
            let span = row0 * cols..(row0 + rows) * cols;
            let (data, scales) = match stored {
                Stored::F32(v) => (gpu.upload(label, bytemuck::cast_slice(&v[span])), gpu.upload(label, &[0; 4])),
                Stored::F16(v) => (gpu.upload(label, bytemuck::cast_slice(&v[span])), gpu.upload(label, &[0; 4])),
                Stored::Int8(q) => {
                    let bytes: Vec<u8> = (row0..row0 + rows).flat_map(|r| q.row(r).iter().map(|&v| v as u8)).collect();
                    (gpu.upload(label, &bytes), gpu.upload(label, bytemuck::cast_slice(&q.scales[row0..row0 + rows])))
                }
            };
            parts.push(DensePart { row0, rows, data, scales });
        }
        Ok(GpuDense { rows: n_rows, cols, kind, parts })
    }

    /// Bytes held on the device.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.data.size() + p.scales.size()).sum()
    }
}

/// A dense tensor written to the device as its bytes arrive (the GPU path's loader): rows are
/// gathered into pieces of at most `PIECE` bytes and written to their part, so the stored tensor
/// never sits in host memory (Llama3-8B's F16 embedding and head are 1 GiB each).
pub struct GpuDenseWriter {
    rows: usize,
    cols: usize,
    kind: DenseKind,
    row_bytes: usize,
    parts: Vec<DensePart>,
    /// Bytes of the rows not yet written, from row `done` on.
    pending: Vec<u8>,
    done: usize,
}

/// The most bytes gathered before a write.
const PIECE: usize = 4 << 20;

impl GpuDenseWriter {
    /// For a tensor of `rows` rows of `cols` f32 (`f16 = false`) or f16 values.
    pub fn new(gpu: &Gpu, label: &str, rows: usize, cols: usize, f16: bool) -> Result<GpuDenseWriter, GpuError> {
        let (kind, row_bytes) = if f16 { (DenseKind::F16, 2 * cols) } else { (DenseKind::F32, 4 * cols) };
        if f16 && cols % 2 != 0 {
            return Err(GpuError::Unfit(format!("'{label}' has rows of {cols} values, which the GPU layout cannot pack")));
        }
        let per_part = (gpu.max_binding as usize / row_bytes.max(1)).min(rows.max(1));
        if per_part == 0 {
            return Err(GpuError::Unfit(format!("one row of '{label}' is larger than the device's largest binding")));
        }
        let parts = (0..rows)
            .step_by(per_part)
            .map(|row0| {
                let n = per_part.min(rows - row0);
                DensePart { row0, rows: n, data: gpu.storage(label, (n * row_bytes) as u64), scales: gpu.upload(label, &[0; 4]) }
            })
            .collect();
        Ok(GpuDenseWriter { rows, cols, kind, row_bytes, parts, pending: Vec::new(), done: 0 })
    }

    /// Takes the tensor's next bytes (in order). A row with a NaN or an infinity is an error
    /// naming the row: the GPU would otherwise carry it into every logit.
    pub fn push(&mut self, gpu: &Gpu, mut bytes: &[u8]) -> Result<(), usize> {
        while !bytes.is_empty() {
            let want = (PIECE / self.row_bytes).max(1) * self.row_bytes;
            let take = (want - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == want {
                self.flush(gpu)?;
            }
        }
        Ok(())
    }

    /// Writes the whole rows gathered so far, each to its part.
    fn flush(&mut self, gpu: &Gpu) -> Result<(), usize> {
        let whole = self.pending.len() / self.row_bytes;
        if let Some(bad) = self.pending[..whole * self.row_bytes].chunks_exact(self.row_bytes).position(|row| !finite_row(row, self.kind)) {
            return Err(self.done + bad);
        }
        let mut r = 0;
        while r < whole {
            let row = self.done + r;
            let part = self.parts.iter().find(|p| (p.row0..p.row0 + p.rows).contains(&row)).expect("rows stay within the tensor");
            let n = (part.row0 + part.rows - row).min(whole - r);
            // Rows are a multiple of 4 bytes (f16 rows have an even length), as write_buffer needs.
            let bytes = &self.pending[r * self.row_bytes..(r + n) * self.row_bytes];
            gpu.queue.write_buffer(&part.data, ((row - part.row0) * self.row_bytes) as u64, bytes);
            r += n;
        }
        self.done += whole;
        self.pending.drain(..whole * self.row_bytes);
        Ok(())
    }

    /// The tensor on the device; `None` if fewer bytes than its size arrived.
    pub fn finish(mut self, gpu: &Gpu) -> Result<Option<GpuDense>, usize> {
        self.flush(gpu)?;
        if self.done != self.rows || !self.pending.is_empty() {
            return Ok(None);
        }
        Ok(Some(GpuDense { rows: self.rows, cols: self.cols, kind: self.kind, parts: self.parts }))
    }
}

fn finite_row(row: &[u8], kind: DenseKind) -> bool {
    match kind {
        DenseKind::F16 => row.chunks_exact(2).all(|h| u16::from_le_bytes([h[0], h[1]]) & 0x7c00 != 0x7c00),
        _ => row.chunks_exact(4).all(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]]).is_finite()),
    }
}
