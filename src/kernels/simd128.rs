//! wasm SIMD128 kernels (no relaxed instructions): for browsers without relaxed SIMD.

use core::arch::wasm32::*;

use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Σ code·q over one packed row; see `scalar::dot_codes`.
///
/// Per 128-column block: 32 code bytes → two vectors; four shift-and-mask steps give the codes of
/// columns `32g + 0..16` and `32g + 16..32`, whose activations are contiguous. The shifts are 16-bit
/// ones: V8 lowers a byte shift to a 16-bit shift plus a mask rebuilt at every use, and the mask is
/// applied here anyway. Products (at most 3·128) are summed in i16 lanes across the block (at most
/// 8 · 2 · 384 < 2^15), then widened.
pub fn dot_codes(codes: &[u8], q: &[i8]) -> i32 {
    assert!(codes.len() * 4 == q.len() && q.len() % BLOCK == 0);
    let mask = u8x16_splat(3);
    let mut acc = i32x4_splat(0);
    for (c, x) in codes.chunks_exact(BLOCK_BYTES).zip(q.chunks_exact(BLOCK)) {
        // SAFETY: the chunks are exactly 32 code bytes and 128 activations; loads are unaligned-safe.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(16) as *const v128);
            let mut sum16 = i16x8_splat(0);
            for g in 0..4u32 {
                let shift = 6 - 2 * g;
                let cl = v128_and(u16x8_shr(lo, shift), mask);
                let ch = v128_and(u16x8_shr(hi, shift), mask);
                let xl = v128_load(x.as_ptr().add(32 * g as usize) as *const v128);
                let xh = v128_load(x.as_ptr().add(32 * g as usize + 16) as *const v128);
                sum16 = i16x8_add(sum16, i16x8_extmul_low_i8x16(cl, xl));
                sum16 = i16x8_add(sum16, i16x8_extmul_high_i8x16(cl, xl));
                sum16 = i16x8_add(sum16, i16x8_extmul_low_i8x16(ch, xh));
                sum16 = i16x8_add(sum16, i16x8_extmul_high_i8x16(ch, xh));
            }
            acc = i32x4_add(acc, i32x4_extadd_pairwise_i16x8(sum16));
        }
    }
    hsum(acc)
}

/// `dot_codes` of one row against four tokens' activations, decoding each code vector once.
pub fn dot_codes_x4(codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
    assert!(codes.len() % BLOCK_BYTES == 0 && q.iter().all(|x| x.len() == codes.len() * 4));
    let mask = u8x16_splat(3);
    let mut acc = [i32x4_splat(0); 4];
    for (b, c) in codes.chunks_exact(BLOCK_BYTES).enumerate() {
        // SAFETY: `c` is 32 code bytes and every `q[t]` holds the block's 128 activations at 128·b.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(16) as *const v128);
            let mut sum16 = [i16x8_splat(0); 4];
            for g in 0..4u32 {
                let shift = 6 - 2 * g;
                let cl = v128_and(u16x8_shr(lo, shift), mask);
                let ch = v128_and(u16x8_shr(hi, shift), mask);
                for t in 0..4 {
                    let x = q[t].as_ptr().add(BLOCK * b + 32 * g as usize);
                    let xl = v128_load(x as *const v128);
                    let xh = v128_load(x.add(16) as *const v128);
                    let s = i16x8_add(i16x8_extmul_low_i8x16(cl, xl), i16x8_extmul_high_i8x16(cl, xl));
                    let s = i16x8_add(s, i16x8_add(i16x8_extmul_low_i8x16(ch, xh), i16x8_extmul_high_i8x16(ch, xh)));
                    sum16[t] = i16x8_add(sum16[t], s);
                }
            }
            for t in 0..4 {
                acc[t] = i32x4_add(acc[t], i32x4_extadd_pairwise_i16x8(sum16[t]));
            }
        }
    }
    acc.map(hsum)
}

/// Σ w·x over an int8 row and int16 activations (the int8 LM head). Each 16 weights are widened
/// to two i16x8 vectors and multiplied pairwise into i32 lanes; the caller bounds x so that no sum
/// can overflow. `w.len()` is a multiple of 16.
pub fn dot_i8_i16(w: &[i8], x: &[i16]) -> i32 {
    assert!(w.len() == x.len() && w.len() % 16 == 0);
    let (mut acc0, mut acc1) = (i32x4_splat(0), i32x4_splat(0));
    for (w, x) in w.chunks_exact(16).zip(x.chunks_exact(16)) {
        // SAFETY: 16 bytes of weights and 32 bytes of activations; loads are unaligned-safe.
        unsafe {
            let wv = v128_load(w.as_ptr() as *const v128);
            let x0 = v128_load(x.as_ptr() as *const v128);
            let x1 = v128_load(x.as_ptr().add(8) as *const v128);
            acc0 = i32x4_add(acc0, i32x4_dot_i16x8(i16x8_extend_low_i8x16(wv), x0));
            acc1 = i32x4_add(acc1, i32x4_dot_i16x8(i16x8_extend_high_i8x16(wv), x1));
        }
    }
    let acc = i32x4_add(acc0, acc1);
    hsum(acc)
}

/// `scalar::dot_rows`, bit-identically: the same eight lanes per row (two f32x4 sums, multiply
/// then add), summed in the same order at the end. Four rows at a time share each load of `q`.
pub fn dot_rows(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = q.len();
    assert_eq!(rows.len(), out.len() * d);
    let mut quads = out.chunks_exact_mut(4);
    for (j, o) in (&mut quads).enumerate() {
        o.copy_from_slice(&dot_rows_block::<4>(q, &rows[4 * j * d..4 * (j + 1) * d]));
    }
    let done = out.len() / 4 * 4;
    for (j, o) in out[done..].iter_mut().enumerate() {
        *o = dot_rows_block::<1>(q, &rows[(done + j) * d..(done + j + 1) * d])[0];
    }
}

/// `R` rows of `dot_rows`. `R` is a constant so that the sums stay in registers: an array indexed
/// by a run-time count lives in linear memory in wasm, and every add becomes a load and a store.
#[inline(always)]
fn dot_rows_block<const R: usize>(q: &[f32], rows: &[f32]) -> [f32; R] {
    let d = q.len();
    let body = d / 8 * 8;
    assert!(rows.len() == R * d);
    let mut acc = [[f32x4_splat(0.0); 2]; R];
    for c in (0..body).step_by(8) {
        // SAFETY: c + 8 <= body <= d, and `rows` holds R rows of d (checked above).
        unsafe {
            let q0 = v128_load(q.as_ptr().add(c) as *const v128);
            let q1 = v128_load(q.as_ptr().add(c + 4) as *const v128);
            for (k, a) in acc.iter_mut().enumerate() {
                let r = rows.as_ptr().add(k * d + c);
                a[0] = f32x4_add(a[0], f32x4_mul(q0, v128_load(r as *const v128)));
                a[1] = f32x4_add(a[1], f32x4_mul(q1, v128_load(r.add(4) as *const v128)));
            }
        }
    }
    std::array::from_fn(|k| {
        let [lo, hi] = acc[k];
        let lanes = [f32_lanes(lo), f32_lanes(hi)];
        let row = &rows[k * d..(k + 1) * d];
        let tail: f32 = q[body..].iter().zip(&row[body..]).map(|(x, y)| x * y).sum();
        lanes.as_flattened().iter().sum::<f32>() + tail
    })
}

/// `scalar::add_weighted_rows`, bit-identically (every output is the same sequence of multiplies
/// and adds over `j`): 32 outputs at a time in eight registers, then 4, then one.
pub fn add_weighted_rows(p: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = out.len();
    assert_eq!(rows.len(), p.len() * d);
    let mut c0 = 0;
    while c0 + 32 <= d {
        weighted_block::<8>(p, rows, d, c0, &mut out[c0..c0 + 32]);
        c0 += 32;
    }
    while c0 + 4 <= d {
        weighted_block::<1>(p, rows, d, c0, &mut out[c0..c0 + 4]);
        c0 += 4;
    }
    for (c, o) in out.iter_mut().enumerate().skip(c0) {
        *o = super::scalar::add_weighted_column(*o, p, rows, d, c);
    }
}

/// Outputs `c0..c0 + 4V` of `add_weighted_rows`, in `V` registers (a constant, as in
/// `dot_rows_block`).
#[inline(always)]
fn weighted_block<const V: usize>(p: &[f32], rows: &[f32], d: usize, c0: usize, out: &mut [f32]) {
    assert!(c0 + 4 * V <= d && rows.len() == p.len() * d && out.len() == 4 * V);
    // SAFETY: `out` holds 4V values (checked above).
    let mut acc: [v128; V] = std::array::from_fn(|i| unsafe { v128_load(out.as_ptr().add(4 * i) as *const v128) });
    for (j, &pj) in p.iter().enumerate() {
        let pv = f32x4_splat(pj);
        // SAFETY: columns c0..c0 + 4V of row j are inside `rows` (checked above).
        unsafe {
            let r = rows.as_ptr().add(j * d + c0);
            for (i, a) in acc.iter_mut().enumerate() {
                *a = f32x4_add(*a, f32x4_mul(pv, v128_load(r.add(4 * i) as *const v128)));
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        // SAFETY: `out` holds 4V values (checked above).
        unsafe { v128_store(out.as_mut_ptr().add(4 * i) as *mut v128, *a) };
    }
}

/// `scalar::exp_f32` on four lanes: the same operations in the same order.
#[inline(always)]
fn exp4(x: v128) -> v128 {
    use super::scalar::{EXP_MAX, EXP_MIN, EXP_POLY, LN2_HI, LN2_LO};
    // pmin/pmax are the scalar clamp's compare-and-select for every x but NaN (one instruction each).
    let x = f32x4_pmin(f32x4_splat(EXP_MAX), f32x4_pmax(f32x4_splat(EXP_MIN), x));
    let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)));
    let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HI))), f32x4_mul(n, f32x4_splat(LN2_LO)));
    let mut p = f32x4_splat(EXP_POLY[0]);
    for &c in &EXP_POLY[1..] {
        p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
    }
    let e = f32x4_add(f32x4_add(f32x4_mul(f32x4_mul(p, r), r), r), f32x4_splat(1.0));
    let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
    f32x4_mul(e, scale)
}

/// `scalar::softmax`, bit-identically: `exp4` per four values and the same four-lane sum.
pub fn softmax(x: &mut [f32]) {
    let max = super::scalar::max_f32(x);
    let mv = f32x4_splat(max);
    let mut lanes = f32x4_splat(0.0);
    let (body, tail) = x.as_chunks_mut::<4>();
    for c in body.iter_mut() {
        // SAFETY: a chunk is four f32s; loads and stores are unaligned-safe.
        unsafe {
            let e = exp4(f32x4_sub(v128_load(c.as_ptr() as *const v128), mv));
            v128_store(c.as_mut_ptr() as *mut v128, e);
            lanes = f32x4_add(lanes, e);
        }
    }
    tail.iter_mut().for_each(|v| *v = super::scalar::exp_f32(*v - max));
    let tail: f32 = tail.iter().sum();
    let inv = 1.0 / (f32_lanes(lanes).iter().sum::<f32>() + tail);
    x.iter_mut().for_each(|v| *v *= inv);
}

/// `scalar::quantize_activations`, bit-identically: the same max (order cannot change a max), the
/// same product, `f32x4.nearest` for round-half-even, and saturating narrows for the clamp (a NaN
/// becomes 0 in both: see `scalar::saturate_i8`). Scalar wasm code was slow here: every `f32.max`,
/// clamp and `as i8` is a NaN-careful sequence of several instructions in V8, which made these
/// per-token passes cost ~5% of a decoded token. `x.len()` need not be a multiple of 16.
pub fn quantize_activations(x: &[f32], q: &mut [i8]) -> f32 {
    assert_eq!(x.len(), q.len());
    let (body, tail) = x.split_at(x.len() / 16 * 16);
    let mut m = f32x4_splat(0.0);
    for c in body.chunks_exact(4) {
        // SAFETY: four f32s; loads are unaligned-safe.
        let v = unsafe { v128_load(c.as_ptr() as *const v128) };
        // An explicit compare and select, so a NaN leaves m as `scalar::abs_max` does (V8's pmax
        // let a NaN through in a measured run).
        let a = f32x4_abs(v);
        m = v128_bitselect(a, m, f32x4_gt(a, m));
    }
    let max = super::scalar::abs_max(&f32_lanes(m)).max(super::scalar::abs_max(tail)).max(1e-5);
    let s = 127.0 / max;
    let sv = f32x4_splat(s);
    let (qbody, qtail) = q.split_at_mut(body.len());
    for (c, out) in body.chunks_exact(16).zip(qbody.chunks_exact_mut(16)) {
        // SAFETY: 16 f32s in, 16 bytes out; loads and stores are unaligned-safe.
        unsafe {
            let i = |k: usize| {
                let v = f32x4_mul(v128_load(c.as_ptr().add(4 * k) as *const v128), sv);
                i32x4_trunc_sat_f32x4(f32x4_nearest(v))
            };
            let lo = i16x8_narrow_i32x4(i(0), i(1));
            let hi = i16x8_narrow_i32x4(i(2), i(3));
            v128_store(out.as_mut_ptr() as *mut v128, i8x16_narrow_i16x8(lo, hi));
        }
    }
    for (qi, &xi) in qtail.iter_mut().zip(tail) {
        *qi = super::scalar::saturate_i8((xi * s).round_ties_even());
    }
    s
}

/// The four f32 lanes, in order.
fn f32_lanes(v: v128) -> [f32; 4] {
    [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)]
}

/// `scalar::dot_int4` (the same result), given `offsets` from `shortlist::int4_offsets`. Without
/// a byte dot product, codes and activations are widened to i16 for `i32x4.dot_i16x8_s`, whose
/// lanes pair values (2j, 2j+1): two shuffles per block regroup them into the reference's lanes.
pub fn dot_int4(codes: &[u8], scales: &[f32], q: &[i8], offsets: &[i32]) -> f32 {
    use crate::weights::int4_rows::BLOCK_BYTES;
    let m15 = u8x16_splat(15);
    dot_int4_blocks(codes, scales, q, offsets, |c, x| {
        let (mut low, mut high) = (i32x4_splat(0), i32x4_splat(0));
        let mut dot = |i: usize, c: v128| {
            // SAFETY: `x` has the block's BLOCK activations; `i + 16` is within them.
            let (c, xi) = (v128_and(c, m15), unsafe { x.add(i) });
            low = i32x4_add(low, i32x4_dot_i16x8(u16x8_extend_low_u8x16(c), unsafe { i16x8_load_extend_i8x8(xi) }));
            high = i32x4_add(high, i32x4_dot_i16x8(u16x8_extend_high_u8x16(c), unsafe { i16x8_load_extend_i8x8(xi.add(8)) }));
        };
        for i in (0..BLOCK_BYTES).step_by(16) {
            // SAFETY: `c` has the block's BLOCK_BYTES code bytes.
            let v = unsafe { v128_load(c.add(i) as *const v128) };
            dot(i, v);
            dot(BLOCK_BYTES + i, u16x8_shr(v, 4));
        }
        i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(low, high), i32x4_shuffle::<1, 3, 5, 7>(low, high))
    })
}

/// The block walk of the SIMD `dot_int4` kernels: `block_sums(codes, q)` gives one block's four
/// lane sums of code·q (see `scalar::dot_int4` for the lanes), from pointers to its BLOCK_BYTES
/// code bytes and BLOCK activations; this subtracts the offsets and adds the sums up, scaled.
#[inline(always)]
pub(super) fn dot_int4_blocks(
    codes: &[u8],
    scales: &[f32],
    q: &[i8],
    offsets: &[i32],
    block_sums: impl Fn(*const u8, *const i8) -> v128,
) -> f32 {
    use crate::weights::int4_rows::{BLOCK, BLOCK_BYTES};
    assert!(codes.len() * 2 == q.len() && q.len() == scales.len() * BLOCK && offsets.len() == 4 * scales.len());
    let mut acc = f32x4_splat(0.0);
    for (b, &s) in scales.iter().enumerate() {
        // SAFETY: block `b` has BLOCK_BYTES code bytes, BLOCK activations and 4 offsets (asserted).
        unsafe {
            let sums = block_sums(codes.as_ptr().add(BLOCK_BYTES * b), q.as_ptr().add(BLOCK * b));
            let exact = i32x4_sub(sums, v128_load(offsets.as_ptr().add(4 * b) as *const v128));
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(exact), f32x4_splat(s)));
        }
    }
    hsum_f32(acc)
}

/// The four f32 lanes added in `scalar::dot_int4`'s order.
pub(super) fn hsum_f32(v: v128) -> f32 {
    let [a, b, c, d] = f32_lanes(v);
    (a + b) + (c + d)
}

/// The sum of the four i32 lanes.
pub(super) fn hsum(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)
}
