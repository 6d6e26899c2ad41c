//! An int8 copy of a dense matrix, one f32 scale per row: the LM head's fast form. The head is read
//! whole for every generated token, so halving its bytes (F16 → int8) speeds up decode directly.

use rayon::prelude::*;

use super::dense::DenseMatrix;

/// `rows` rows of `cols` int8 values in -127..=127; row `r` stands for `scales[r] · data[r]`.
#[derive(Clone, Debug)]
pub struct Int8Rows {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<i8>,
    pub scales: Vec<f32>,
    /// Σ of each row's int8 values (the relaxed-SIMD kernel offsets activations by a constant).
    pub row_sums: Vec<i32>,
}

impl Int8Rows {
    /// Quantizes every row symmetrically to its own absolute maximum (round half to even).
    pub fn quantize(m: &DenseMatrix) -> Int8Rows {
        let cols = m.cols;
        let mut data = vec![0i8; m.rows * cols];
        let mut scales = vec![0f32; m.rows];
        data.par_chunks_mut(cols).zip(scales.par_iter_mut()).enumerate().for_each_init(
            || vec![0f32; cols],
            |wide, (r, (q, scale))| {
                m.row_into(r, wide);
                let max = wide.iter().fold(0f32, |a, v| a.max(v.abs()));
                if max == 0.0 {
                    return;
                }
                let inv = 127.0 / max;
                for (qi, &x) in q.iter_mut().zip(wide.iter()) {
                    *qi = (x * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
                }
                *scale = max / 127.0;
            },
        );
        let row_sums = data.chunks_exact(cols).map(|r| r.iter().map(|&v| v as i32).sum()).collect();
        Int8Rows { rows: m.rows, cols, data, scales, row_sums }
    }

    pub fn row(&self, r: usize) -> &[i8] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn memory_bytes(&self) -> usize {
        self.data.len() + 4 * (self.scales.len() + self.row_sums.len())
    }
}
