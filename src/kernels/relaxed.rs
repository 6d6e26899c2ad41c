//! wasm relaxed-SIMD kernels: `i32x4.relaxed_dot_i8x16_i7x16_add_s` does 16 multiply-adds in one
//! instruction. Its second operand must be 0..=127 to be deterministic across engines (V8 on x86
//! uses pmaddubsw, which treats it as unsigned): the 2-bit codes (0..=2) are exactly that, which is
//! why weights are kept as codes and Σq is subtracted afterwards.

use core::arch::wasm32::*;

use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Σ code·q over one packed row; see `scalar::dot_codes`.
pub fn dot_codes(codes: &[u8], q: &[i8]) -> i32 {
    assert!(codes.len() * 4 == q.len() && q.len() % BLOCK == 0);
    let mask = u8x16_splat(3);
    let mut acc = i32x4_splat(0);
    for (c, x) in codes.chunks_exact(BLOCK_BYTES).zip(q.chunks_exact(BLOCK)) {
        // SAFETY: the chunks are exactly 32 code bytes and 128 activations; loads are unaligned-safe.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(16) as *const v128);
            for g in 0..4u32 {
                let shift = 6 - 2 * g;
                let cl = v128_and(u8x16_shr(lo, shift), mask);
                let ch = v128_and(u8x16_shr(hi, shift), mask);
                let xl = v128_load(x.as_ptr().add(32 * g as usize) as *const v128);
                let xh = v128_load(x.as_ptr().add(32 * g as usize + 16) as *const v128);
                acc = i32x4_relaxed_dot_i8x16_i7x16_add(xl, cl, acc);
                acc = i32x4_relaxed_dot_i8x16_i7x16_add(xh, ch, acc);
            }
        }
    }
    i32x4_extract_lane::<0>(acc) + i32x4_extract_lane::<1>(acc) + i32x4_extract_lane::<2>(acc) + i32x4_extract_lane::<3>(acc)
}
