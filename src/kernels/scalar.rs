//! Scalar reference kernels. Every SIMD kernel must agree with these (integer parts bit-exactly);
//! they are also what runs natively.

use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Σ code·q over one packed row (codes 0..=2, see `quant::ternary`). The caller subtracts Σq to
/// get Σ (code-1)·q = Σ weight·q, exactly.
pub fn dot_codes(codes: &[u8], q: &[i8]) -> i32 {
    let mut acc = 0i32;
    for (block, x) in codes.chunks_exact(BLOCK_BYTES).zip(q.chunks_exact(BLOCK)) {
        for g in 0..4 {
            let shift = 6 - 2 * g;
            for p in 0..32 {
                acc += ((block[p] >> shift) & 3) as i32 * x[32 * g + p] as i32;
            }
        }
    }
    acc
}

/// `dot_codes` of one row against four tokens' activations (the SIMD kernels decode codes once).
pub fn dot_codes_x4(codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
    q.map(|x| dot_codes(codes, x))
}

/// Σ w·x over an int8 row and int16 activations (the int8 LM head).
pub fn dot_i8_i16(w: &[i8], x: &[i16]) -> i32 {
    w.iter().zip(x).map(|(&a, &b)| a as i32 * b as i32).sum()
}

/// Symmetric int16 quantization of the LM head's input: `s = limit / max|x|`, `q = round(x·s)`.
/// Returns `s`. The caller picks `limit` so that a whole row's dot product fits in i32.
pub fn quantize_i16(x: &[f32], q: &mut [i16], limit: i16) -> f32 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    let s = limit as f32 / max;
    for (qi, &xi) in q.iter_mut().zip(x) {
        *qi = (xi * s).round_ties_even().clamp(-(limit as f32), limit as f32) as i16;
    }
    s
}

/// Per-token int8 quantization before every BitLinear (bitnet.cpp's `quantize_row_i8_s`, HF's
/// `ActQuant`): `s = 127 / max(|x|, 1e-5)`, `q = round_half_even(x·s)` clamped to [-128, 127].
/// Returns `s`.
pub fn quantize_activations(x: &[f32], q: &mut [i8]) -> f32 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-5);
    let s = 127.0 / max;
    for (qi, &xi) in q.iter_mut().zip(x) {
        *qi = (xi * s).round_ties_even().clamp(-128.0, 127.0) as i8;
    }
    s
}

/// RMSNorm: `y = w · x / sqrt(mean(x²) + eps)`, with the sum of squares in f64 as ggml does.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = (xi * scale) * wi;
    }
}

/// f32 dot product with 8 independent partial sums: a fixed summation order that compilers turn
/// into SIMD (a single running sum cannot be reordered, so it would stay scalar).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a8, b8) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0f32; 8];
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `out += a · v`.
pub fn axpy(a: f32, v: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o += a * x;
    }
}

/// Dot product of an f16 row (bit patterns) with f32 activations, accumulated in f32. `scratch`
/// (at least `row.len()` long) receives the widened row: `half` converts whole slices with F16C
/// where the CPU has it, and the f32 dot then vectorises.
pub fn dot_f16(row: &[u16], x: &[f32], scratch: &mut [f32]) -> f32 {
    use half::slice::HalfFloatSliceExt;
    let wide = &mut scratch[..row.len()];
    let row: &[half::f16] = bytemuck::cast_slice(row);
    row.convert_to_f32_slice(wide);
    dot_f32(wide, x)
}
