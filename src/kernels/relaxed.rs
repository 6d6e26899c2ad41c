//! wasm relaxed-SIMD kernels: `i32x4.relaxed_dot_i8x16_i7x16_add_s` does 16 multiply-adds in one
//! instruction. Its second operand must be 0..=127 to be deterministic across engines (V8 on x86
//! uses pmaddubsw, which treats it as unsigned): the 2-bit codes (0..=2) are exactly that, which is
//! why weights are kept as codes and Σq is subtracted afterwards.

use core::arch::wasm32::*;

use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Σ code·q over one packed row; see `scalar::dot_codes`.
///
/// Each code vector costs one instruction to decode: bits 7:6 need only a shift and bits 1:0 only
/// a mask, while bits 5:4 and 3:2 are masked in place, giving 16·code and 4·code (still at most 32,
/// a valid 7-bit operand). Those go to their own accumulators, whose lanes are then exact multiples
/// of 16 and 4 and are shifted back down before the sum.
pub fn dot_codes(codes: &[u8], q: &[i8]) -> i32 {
    assert!(codes.len() * 4 == q.len() && q.len() % BLOCK == 0);
    let (m3, m12, m48) = (u8x16_splat(0x03), u8x16_splat(0x0c), u8x16_splat(0x30));
    let (mut acc1, mut acc4, mut acc16) = (i32x4_splat(0), i32x4_splat(0), i32x4_splat(0));
    for (c, x) in codes.chunks_exact(BLOCK_BYTES).zip(q.chunks_exact(BLOCK)) {
        // SAFETY: the chunks are exactly 32 code bytes and 128 activations; loads are unaligned-safe.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(16) as *const v128);
            let xv = |i: usize| v128_load(x.as_ptr().add(16 * i) as *const v128);
            acc1 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(0), u8x16_shr(lo, 6), acc1);
            acc1 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(1), u8x16_shr(hi, 6), acc1);
            acc16 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(2), v128_and(lo, m48), acc16);
            acc16 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(3), v128_and(hi, m48), acc16);
            acc4 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(4), v128_and(lo, m12), acc4);
            acc4 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(5), v128_and(hi, m12), acc4);
            acc1 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(6), v128_and(lo, m3), acc1);
            acc1 = i32x4_relaxed_dot_i8x16_i7x16_add(xv(7), v128_and(hi, m3), acc1);
        }
    }
    hsum(i32x4_add(acc1, i32x4_add(i32x4_shr(acc4, 2), i32x4_shr(acc16, 4))))
}

/// `dot_codes` of one row against four tokens' activations: each code vector is decoded once and
/// used four times, which is what makes prefill (a GEMM) cheaper per token than decode (a GEMV).
pub fn dot_codes_x4(codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
    assert!(codes.len() % BLOCK_BYTES == 0 && q.iter().all(|x| x.len() == codes.len() * 4));
    let m3 = u8x16_splat(3);
    let mut acc = [i32x4_splat(0); 4];
    for (b, c) in codes.chunks_exact(BLOCK_BYTES).enumerate() {
        // SAFETY: `c` is 32 code bytes and every `q[t]` holds the block's 128 activations at 128·b.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(16) as *const v128);
            let decoded = [
                (u8x16_shr(lo, 6), u8x16_shr(hi, 6)),
                (v128_and(u8x16_shr(lo, 4), m3), v128_and(u8x16_shr(hi, 4), m3)),
                (v128_and(u8x16_shr(lo, 2), m3), v128_and(u8x16_shr(hi, 2), m3)),
                (v128_and(lo, m3), v128_and(hi, m3)),
            ];
            for (g, &(cl, ch)) in decoded.iter().enumerate() {
                for t in 0..4 {
                    let x = q[t].as_ptr().add(BLOCK * b + 32 * g);
                    acc[t] = i32x4_relaxed_dot_i8x16_i7x16_add(v128_load(x as *const v128), cl, acc[t]);
                    acc[t] = i32x4_relaxed_dot_i8x16_i7x16_add(v128_load(x.add(16) as *const v128), ch, acc[t]);
                }
            }
        }
    }
    acc.map(hsum)
}

fn hsum(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)
}
