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

/// The sum of the four i32 lanes.
pub(super) fn hsum(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)
}
