//! wasm SIMD128 kernels (no relaxed instructions): for browsers without relaxed SIMD.

use core::arch::wasm32::*;

use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Σ code·q over one packed row; see `scalar::dot_codes`.
///
/// Per 128-column block: 32 code bytes → two vectors; four shift-and-mask steps give the codes of
/// columns `32g + 0..16` and `32g + 16..32`, whose activations are contiguous. Products (at most
/// 3·128) are summed in i16 lanes across the block (at most 8 · 2 · 384 < 2^15), then widened.
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
                let cl = v128_and(u8x16_shr(lo, shift), mask);
                let ch = v128_and(u8x16_shr(hi, shift), mask);
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
    i32x4_extract_lane::<0>(acc) + i32x4_extract_lane::<1>(acc) + i32x4_extract_lane::<2>(acc) + i32x4_extract_lane::<3>(acc)
}
