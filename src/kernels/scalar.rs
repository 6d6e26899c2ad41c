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

/// Σ over blocks of `scale · Σ value·q` for one row of `Int4Rows` (`weights::int4_rows`), with the
/// SIMD kernels' order of float operations: within a block, lane `l` (0..4) sums values
/// `16v + 4l .. 16v + 4l + 4` for every `v` exactly in integers; each lane keeps its own f32
/// total of `sum · scale` over blocks; the four totals are added pairwise at the end.
pub fn dot_int4(codes: &[u8], scales: &[f32], q: &[i8]) -> f32 {
    use crate::weights::int4_rows::{BLOCK, BLOCK_BYTES, value};
    let mut acc = [0f32; 4];
    for ((block, &s), x) in codes.chunks_exact(BLOCK_BYTES).zip(scales).zip(q.chunks_exact(BLOCK)) {
        for (l, a) in acc.iter_mut().enumerate() {
            let mut sum = 0i32;
            for v in 0..BLOCK / 16 {
                for j in 16 * v + 4 * l..16 * v + 4 * l + 4 {
                    sum += value(block, j) * x[j] as i32;
                }
            }
            *a += sum as f32 * s;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
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

/// A whole number to i8, saturating, and NaN to 0 on every target (`clamp(..) as i8` gave -128 for
/// NaN in wasm, where LLVM turned the clamp into a NaN-skipping max).
pub fn saturate_i8(v: f32) -> i8 {
    if v >= 127.0 {
        127
    } else if v <= -128.0 {
        -128
    } else {
        v as i8
    }
}

/// The largest |x|, skipping NaNs on every target: a compare and select, where `f32::max` becomes
/// a NaN-propagating `f32.max` in wasm but skips NaNs natively.
pub fn abs_max(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m })
}

/// The largest x (-∞ for none), skipping NaNs on every target, as `abs_max`.
pub fn max_f32(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Per-token int8 quantization before every BitLinear (bitnet.cpp's `quantize_row_i8_s`, HF's
/// `ActQuant`): `s = 127 / max(|x|, 1e-5)`, `q = round_half_even(x·s)` clamped to [-128, 127].
/// Returns `s`.
pub fn quantize_activations(x: &[f32], q: &mut [i8]) -> f32 {
    let max = abs_max(x).max(1e-5);
    let s = 127.0 / max;
    for (qi, &xi) in q.iter_mut().zip(x) {
        *qi = saturate_i8((xi * s).round_ties_even());
    }
    s
}

/// RMSNorm: `y = w · x / sqrt(mean(x²) + eps)`, with the sum of squares in f64 as ggml does. Four
/// partial sums (a fixed order) let the sum vectorise: one running f64 sum is a chain of dependent
/// adds, which cost more than the rest of the norm. The order moves the f64 sum by ~1e-16.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let quads = x.chunks_exact(4);
    let tail: f64 = quads.remainder().iter().map(|&v| (v * v) as f64).sum();
    let mut acc = [0f64; 4];
    for v in quads {
        for i in 0..4 {
            acc[i] += (v[i] * v[i]) as f64;
        }
    }
    let sum = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
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

/// `out[j] = q · rows[j]` for consecutive rows of `q.len()` values (attention's q·k), each exactly
/// as `dot_f32` computes it; the SIMD kernels take four rows at a time.
pub fn dot_rows(q: &[f32], rows: &[f32], out: &mut [f32]) {
    assert_eq!(rows.len(), out.len() * q.len());
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(q.len().max(1))) {
        *o = dot_f32(q, row);
    }
}

/// `out += Σ_j p[j] · rows[j]` for consecutive rows of `out.len()` values, added to each element
/// in the order of `j` (as repeated `out += p[j]·rows[j]` would): so a sum over positions split
/// into blocks, one call per block, is bit-identical to one call over them all. Blocks of 32
/// outputs stay in registers across all rows, instead of being loaded and stored again for every
/// row (attention's second half).
pub fn add_weighted_rows(p: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = out.len();
    assert_eq!(rows.len(), p.len() * d);
    const B: usize = 32;
    let mut c0 = 0;
    while c0 + B <= d {
        let mut acc: [f32; B] = out[c0..c0 + B].try_into().expect("a block of B values");
        for (row, &pj) in rows.chunks_exact(d).zip(p) {
            let r: &[f32; B] = row[c0..c0 + B].try_into().expect("a block of B values");
            for i in 0..B {
                acc[i] += pj * r[i];
            }
        }
        out[c0..c0 + B].copy_from_slice(&acc);
        c0 += B;
    }
    for (c, o) in out.iter_mut().enumerate().skip(c0) {
        *o = add_weighted_column(*o, p, rows, d, c);
    }
}

/// Element `c` of `add_weighted_rows`, from its value `init`.
pub(super) fn add_weighted_column(init: f32, p: &[f32], rows: &[f32], d: usize, c: usize) -> f32 {
    p.iter().enumerate().fold(init, |a, (j, &pj)| a + pj * rows[j * d + c])
}

/// e^x for softmax, from arithmetic alone: wasm has no exp instruction, and the library routine
/// cost more than the rest of attention put together (~30 ns per call). Cephes' method: x = n·ln2
/// + r with |r| ≤ ln2/2 (ln2 in two parts, so r is exact), e^r by a degree-7 polynomial, and 2^n
/// put into the exponent bits. Within 2 ulp of e^x over the clamped range; x is clamped to
/// [-87.3, 88.3], where 2^n stays a normal number (softmax only needs x ≤ 0, and e^-87.3 ≈ 1e-38 is
/// as good as 0 there). The SIMD kernels compute the same operations lane by lane.
pub fn exp_f32(x: f32) -> f32 {
    let x = if x < EXP_MIN { EXP_MIN } else if x > EXP_MAX { EXP_MAX } else { x };
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for &c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let e = (p * r) * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

pub(super) const EXP_MIN: f32 = -87.3;
pub(super) const EXP_MAX: f32 = 88.3;
pub(super) const LN2_HI: f32 = 0.693_359_4;
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes' expf coefficients, highest degree first: e^r ≈ 1 + r + r²·P(r).
pub(super) const EXP_POLY: [f32; 6] =
    [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];

/// In-place softmax, with `exp_f32`. The sum runs in four lanes (element i in lane i mod 4), the
/// order a four-wide SIMD sum has, then the lanes in order and the tail.
pub fn softmax(x: &mut [f32]) {
    let max = max_f32(x);
    x.iter_mut().for_each(|v| *v = exp_f32(*v - max));
    let quads = x.chunks_exact(4);
    let tail: f32 = quads.remainder().iter().sum();
    let mut lanes = [0f32; 4];
    for q in quads {
        for i in 0..4 {
            lanes[i] += q[i];
        }
    }
    let inv = 1.0 / (lanes.iter().sum::<f32>() + tail);
    x.iter_mut().for_each(|v| *v *= inv);
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
