//! wasm relaxed-SIMD kernels, built on the relaxed dot of int8 activations and 7-bit operands. The
//! second operand must be 0..=127 to be deterministic across engines (x86 treats it as unsigned):
//! the 2-bit codes (0..=2) are exactly that, which is why weights are kept as codes and Σq is
//! subtracted afterwards.
//!
//! It comes in two forms, and which is faster depends on the CPU, so both are kernels
//! (`KernelKind::RelaxedSimd` and `RelaxedSimdI32`) and `fused_i32_dot` picks one at run time:
//! - **i16** (`i16x8.relaxed_dot_i8x16_i7x16_s`): one x86 `pmaddubsw`, 16 products summed in pairs
//!   into i16 lanes; an i16 add per dot, and a widening to i32 every few blocks.
//! - **i32** (`i32x4.relaxed_dot_i8x16_i7x16_add_s`): V8 emits one `vpdpbusd` where the CPU has
//!   AVX-VNNI, which multiplies, sums four products and accumulates in one instruction; where it
//!   has not, `pmaddubsw + pmaddwd + paddd`, three.
//!
//! Measured in Chromium 156 on the Intel Xeon of issue 20 (AVX-VNNI; `make bench-kernels`, one
//! thread, GMAC/s, i16 → i32): the four-token GEMM in cache 67.6 → 75.9; the one-row GEMV 48.9 →
//! 48.8 in cache and 35.1 → 36.0 streamed from memory, but two rows in lockstep (`dot_codes_x2`)
//! 49.0 → 57.7 and 40.1 → 43.5. Without VNNI the i32 form was measured slower (prefill 9.7 → 13.1
//! tok/s on the AMD VM when the i16 form replaced it).

use core::arch::wasm32::*;

use super::simd128::hsum;
use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Whether the i32 relaxed dot is one fused instruction here, judged by `i32_dot_probe`.
pub fn fused_i32_dot() -> bool {
    i32_dot_probe() != SSE_PROBE
}

/// `i32_dot_probe` where the i32 dot is lowered to `pmaddubsw + pmaddwd + paddd`: each
/// `pmaddubsw` pair sum saturates to i16 (2 · -128 · 255 → -32768), so -65536 per lane.
pub const SSE_PROBE: i32 = -65536;

/// The i32 relaxed dot of -128s and a 7-bit operand of 255, where the specification lets engines
/// differ: `SSE_PROBE` from the SSE lowering; `vpdpbusd` sums the four products exactly
/// (-130560), and Arm's `sdot` reads 255 as -1 (512).
#[target_feature(enable = "relaxed-simd")]
pub fn i32_dot_probe() -> i32 {
    let (x, c) = (std::hint::black_box(i8x16_splat(-128)), std::hint::black_box(u8x16_splat(255)));
    i32x4_extract_lane::<0>(i32x4_relaxed_dot_i8x16_i7x16_add(x, c, i32x4_splat(0)))
}

/// Blocks summed in i16 lanes before widening to i32.
const BLOCKS_PER_WIDEN: usize = 4;

/// Σ code·q over one packed row; see `scalar::dot_codes`.
///
/// Decoding costs 1.25 instructions per code vector. V8 has no byte shift on x86: `u8x16.shr_u`
/// by a constant becomes a 16-bit shift plus a mask rebuilt on every use (five instructions), which
/// made decoding cost more than the dots. So one 16-bit shift per code vector serves two fields:
/// `(v >> 4) & 3` is bits 5:4 and `(v >> 4) & 12` is 4·(bits 7:6); `v & 3` and `v & 12` give bits
/// 1:0 and 4·(bits 3:2) in place. The ×4 fields have their own accumulator, divided out at the end.
/// Per lane, four blocks sum at most 4 · 4 · 2 · 8 · 128 = 32768 in magnitude, and only all-(-128)
/// activations reach it (i16's -32768); every other sum is smaller.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_codes(codes: &[u8], q: &[i8]) -> i32 {
    assert!(codes.len() * 4 == q.len() && q.len() % BLOCK == 0);
    let (m3, m12) = (u8x16_splat(0x03), u8x16_splat(0x0c));
    let (mut total1, mut total4) = (i32x4_splat(0), i32x4_splat(0));
    let widen_codes = BLOCKS_PER_WIDEN * BLOCK_BYTES;
    for (cs, xs) in codes.chunks(widen_codes).zip(q.chunks(widen_codes * 4)) {
        let (mut acc1, mut acc4) = (i16x8_splat(0), i16x8_splat(0));
        for (c, x) in cs.chunks_exact(BLOCK_BYTES).zip(xs.chunks_exact(BLOCK)) {
            // SAFETY: the chunks are exactly 32 code bytes and 128 activations; loads are unaligned-safe.
            unsafe {
                let lo = v128_load(c.as_ptr() as *const v128);
                let hi = v128_load(c.as_ptr().add(16) as *const v128);
                let (lo4, hi4) = (u16x8_shr(lo, 4), u16x8_shr(hi, 4));
                let xv = |i: usize| v128_load(x.as_ptr().add(16 * i) as *const v128);
                let dot = |x: v128, c: v128| i16x8_relaxed_dot_i8x16_i7x16(x, c);
                // Pairs summed first: shorter dependency chains on the two accumulators.
                let g0 = i16x8_add(dot(xv(0), v128_and(lo4, m12)), dot(xv(1), v128_and(hi4, m12)));
                let g1 = i16x8_add(dot(xv(2), v128_and(lo4, m3)), dot(xv(3), v128_and(hi4, m3)));
                let g2 = i16x8_add(dot(xv(4), v128_and(lo, m12)), dot(xv(5), v128_and(hi, m12)));
                let g3 = i16x8_add(dot(xv(6), v128_and(lo, m3)), dot(xv(7), v128_and(hi, m3)));
                acc4 = i16x8_add(acc4, i16x8_add(g0, g2));
                acc1 = i16x8_add(acc1, i16x8_add(g1, g3));
            }
        }
        total1 = i32x4_add(total1, i32x4_extadd_pairwise_i16x8(acc1));
        total4 = i32x4_add(total4, i32x4_extadd_pairwise_i16x8(acc4));
    }
    hsum(i32x4_add(total1, i32x4_shr(total4, 2)))
}

/// `dot_codes` of one row against four tokens' activations: each code vector is decoded once and
/// used four times, which is what makes prefill (a GEMM) cheaper per token than decode (a GEMV).
/// Per lane and block each token's i16 sum stays below 8·2·2·128 = 4096.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_codes_x4(codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
    assert!(codes.len() % BLOCK_BYTES == 0 && q.iter().all(|x| x.len() == codes.len() * 4));
    let m3 = u8x16_splat(3);
    let mut total = [i32x4_splat(0); 4];
    let blocks = codes.len() / BLOCK_BYTES;
    let mut b = 0;
    while b < blocks {
        let end = (b + BLOCKS_PER_WIDEN).min(blocks);
        let mut acc = [i16x8_splat(0); 4];
        for b in b..end {
            // SAFETY: block `b` has 32 code bytes at 32·b, and every `q[t]` its 128 activations at 128·b.
            unsafe {
                let c = codes.as_ptr().add(BLOCK_BYTES * b);
                let lo = v128_load(c as *const v128);
                let hi = v128_load(c.add(16) as *const v128);
                for g in 0..4 {
                    // 16-bit shifts: see `dot_codes` for why not byte shifts.
                    let shift = 6 - 2 * g as u32;
                    let (cl, ch) = (v128_and(u16x8_shr(lo, shift), m3), v128_and(u16x8_shr(hi, shift), m3));
                    for t in 0..4 {
                        let x = q[t].as_ptr().add(BLOCK * b + 32 * g);
                        acc[t] = i16x8_add(acc[t], i16x8_relaxed_dot_i8x16_i7x16(v128_load(x as *const v128), cl));
                        acc[t] = i16x8_add(acc[t], i16x8_relaxed_dot_i8x16_i7x16(v128_load(x.add(16) as *const v128), ch));
                    }
                }
            }
        }
        for t in 0..4 {
            total[t] = i32x4_add(total[t], i32x4_extadd_pairwise_i16x8(acc[t]));
        }
        b = end;
    }
    total.map(hsum)
}

/// `dot_codes` in the i32 form: the same decoding, each dot accumulated in place into one of four
/// i32 accumulators (the dot's latency is several cycles), so no adds and no widening.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_codes_i32(codes: &[u8], q: &[i8]) -> i32 {
    assert!(codes.len() * 4 == q.len() && q.len() % BLOCK == 0);
    let (m3, m12) = (u8x16_splat(0x03), u8x16_splat(0x0c));
    let mut a = [i32x4_splat(0); 4];
    for (c, x) in codes.chunks_exact(BLOCK_BYTES).zip(q.chunks_exact(BLOCK)) {
        // SAFETY: the chunks are exactly 32 code bytes and 128 activations; loads are unaligned-safe.
        unsafe {
            let v = fields(c.as_ptr());
            for i in 0..8 {
                let (x, mask) = (v128_load(x.as_ptr().add(16 * i) as *const v128), if i % 4 < 2 { m12 } else { m3 });
                a[i % 4] = i32x4_relaxed_dot_i8x16_i7x16_add(x, v128_and(v[i / 4 * 2 + i % 2], mask), a[i % 4]);
            }
        }
    }
    hsum(i32x4_add(i32x4_add(a[2], a[3]), i32x4_shr(i32x4_add(a[0], a[1]), 2)))
}

/// `dot_codes_x4` in the i32 form, with two accumulators per token (the low and the high code
/// vector's dots) for the dot's latency.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_codes_x4_i32(codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
    assert!(codes.len() % BLOCK_BYTES == 0 && q.iter().all(|x| x.len() == codes.len() * 4));
    let m3 = u8x16_splat(3);
    let mut acc = [i32x4_splat(0); 8];
    for (b, c) in codes.chunks_exact(BLOCK_BYTES).enumerate() {
        // SAFETY: `c` is block b's 32 code bytes, and every `q[t]` holds its 128 activations at 128·b.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(16) as *const v128);
            for g in 0..4 {
                let shift = 6 - 2 * g as u32;
                let (cl, ch) = (v128_and(u16x8_shr(lo, shift), m3), v128_and(u16x8_shr(hi, shift), m3));
                for t in 0..4 {
                    let x = q[t].as_ptr().add(BLOCK * b + 32 * g);
                    acc[2 * t] = i32x4_relaxed_dot_i8x16_i7x16_add(v128_load(x as *const v128), cl, acc[2 * t]);
                    acc[2 * t + 1] = i32x4_relaxed_dot_i8x16_i7x16_add(v128_load(x.add(16) as *const v128), ch, acc[2 * t + 1]);
                }
            }
        }
    }
    [0, 1, 2, 3].map(|t| hsum(i32x4_add(acc[2 * t], acc[2 * t + 1])))
}

/// A block's two code vectors as the kernels' four sources: shifted right by 4 (low, high), then
/// in place (low, high). Masked with 12, each gives 4 × a field; with 3, a field (see `dot_codes`).
///
/// # Safety
/// `c` must point to a block's 32 code bytes.
#[inline(always)]
unsafe fn fields(c: *const u8) -> [v128; 4] {
    // SAFETY: the caller's 32 bytes.
    let (lo, hi) = unsafe { (v128_load(c as *const v128), v128_load(c.add(16) as *const v128)) };
    [u16x8_shr(lo, 4), u16x8_shr(hi, 4), lo, hi]
}

/// `dot_codes` of two rows against one token's activations, in lockstep: each activation vector
/// is loaded once for both rows. Per lane and widening, each accumulator takes what `dot_codes`'s
/// do (at most 32768 in magnitude, reached only by all-(-128) activations).
///
/// Why: decode streams its rows from memory, and fewer instructions per byte let more of the
/// stream be in flight. Measured in Chromium on the AVX-VNNI Xeon (`make bench-kernels`, one
/// thread, rows from 8 places, GMAC/s, one row → two): streamed 35.0 → 38.8, in cache 48.9 → 49.1.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_codes_x2(rows: [&[u8]; 2], q: &[i8]) -> [i32; 2] {
    assert!(rows.iter().all(|c| c.len() * 4 == q.len()) && q.len() % BLOCK == 0);
    let (m3, m12) = (u8x16_splat(0x03), u8x16_splat(0x0c));
    let mut total = [i32x4_splat(0); 4];
    let blocks = q.len() / BLOCK;
    let mut b = 0;
    while b < blocks {
        let end = (b + BLOCKS_PER_WIDEN).min(blocks);
        // Per row: the ×4 fields' sum, then the plain fields'.
        let mut acc = [i16x8_splat(0); 4];
        for b in b..end {
            // SAFETY: block b has 32 code bytes at 32·b in each row and 128 activations at 128·b.
            unsafe {
                let x = q.as_ptr().add(BLOCK * b);
                let xv = |i: usize| v128_load(x.add(16 * i) as *const v128);
                let dot = |x: v128, c: v128| i16x8_relaxed_dot_i8x16_i7x16(x, c);
                let vs = rows.map(|c| fields(c.as_ptr().add(BLOCK_BYTES * b)));
                for i in (0..8).step_by(2) {
                    let (xa, xb, mask) = (xv(i), xv(i + 1), if i % 4 < 2 { m12 } else { m3 });
                    for (r, v) in vs.iter().enumerate() {
                        let k = 2 * r + i % 4 / 2;
                        let (ca, cb) = (v128_and(v[i / 4 * 2], mask), v128_and(v[i / 4 * 2 + 1], mask));
                        acc[k] = i16x8_add(acc[k], i16x8_add(dot(xa, ca), dot(xb, cb)));
                    }
                }
            }
        }
        for k in 0..4 {
            total[k] = i32x4_add(total[k], i32x4_extadd_pairwise_i16x8(acc[k]));
        }
        b = end;
    }
    [0, 2].map(|k| hsum(i32x4_add(total[k + 1], i32x4_shr(total[k], 2))))
}

/// `dot_codes_x2` in the i32 form: four accumulators per row, no widening. Measured as for
/// `dot_codes_x2` (GMAC/s, one row → two): streamed 36.2 → 44.9, in cache 48.5 → 58.8.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_codes_x2_i32(rows: [&[u8]; 2], q: &[i8]) -> [i32; 2] {
    assert!(rows.iter().all(|c| c.len() * 4 == q.len()) && q.len() % BLOCK == 0);
    let (m3, m12) = (u8x16_splat(0x03), u8x16_splat(0x0c));
    // Row 0's accumulators, then row 1's: the ×4 fields in the first two of each.
    let mut a = [i32x4_splat(0); 8];
    for b in 0..q.len() / BLOCK {
        // SAFETY: block b has 32 code bytes at 32·b in each row and 128 activations at 128·b.
        unsafe {
            let x = q.as_ptr().add(BLOCK * b);
            let xv = |i: usize| v128_load(x.add(16 * i) as *const v128);
            let dot = |acc: v128, x: v128, c: v128| i32x4_relaxed_dot_i8x16_i7x16_add(x, c, acc);
            let vs = rows.map(|c| fields(c.as_ptr().add(BLOCK_BYTES * b)));
            for i in 0..8 {
                let (x, mask) = (xv(i), if i % 4 < 2 { m12 } else { m3 });
                for (r, v) in vs.iter().enumerate() {
                    let k = 4 * r + i % 4;
                    a[k] = dot(a[k], x, v128_and(v[i / 4 * 2 + i % 2], mask));
                }
            }
        }
    }
    [0, 4].map(|k| hsum(i32x4_add(i32x4_add(a[k + 2], a[k + 3]), i32x4_shr(i32x4_add(a[k], a[k + 1]), 2))))
}

/// `scalar::dot_int4` (the same result), given `offsets` from `shortlist::int4_offsets`.
///
/// Per block: each code vector is decoded twice (the low nibbles in place, the high ones after one
/// 16-bit shift) for two relaxed dots (pmaddubsw: code 0..=15 as the unsigned operand), summed in
/// i16 — per lane at most (BLOCK / 16) · 2 · 15 · 128 = 15360 — then one widening, the offset
/// subtracted, and one scaled f32 add.
#[target_feature(enable = "relaxed-simd")]
pub fn dot_int4(codes: &[u8], scales: &[f32], q: &[i8], offsets: &[i32]) -> f32 {
    use crate::weights::int4_rows::BLOCK_BYTES;
    let m15 = u8x16_splat(15);
    super::simd128::dot_int4_blocks(codes, scales, q, offsets, |c, x| {
        // SAFETY (both loads): `c` has the block's BLOCK_BYTES code bytes and `x` its BLOCK
        // activations; `i + 16` stays within each.
        let dot = |i: usize, c: v128| i16x8_relaxed_dot_i8x16_i7x16(unsafe { v128_load(x.add(i) as *const v128) }, v128_and(c, m15));
        let mut sum = i16x8_splat(0);
        for i in (0..BLOCK_BYTES).step_by(16) {
            let v = unsafe { v128_load(c.add(i) as *const v128) };
            sum = i16x8_add(sum, i16x8_add(dot(i, v), dot(BLOCK_BYTES + i, u16x8_shr(v, 4))));
        }
        i32x4_extadd_pairwise_i16x8(sum)
    })
}
