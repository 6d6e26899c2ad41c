//! Native x86-64 kernels (AVX2, which the native build targets: x86-64-v3), so that the CLI's
//! figures stand for a native build rather than for the scalar reference. The same block walk as
//! `relaxed.rs`, twice as wide: one 32-byte load holds a block's codes, and `vpmaddubsw` takes the
//! codes (0..=2) as its unsigned operand, summing pairs into i16 lanes that are widened every few
//! blocks (per lane and block at most 4·2·2·128 = 2048).

use core::arch::x86_64::*;

use crate::quant::ternary::{BLOCK, BLOCK_BYTES};

/// Blocks summed in i16 lanes before widening to i32.
const BLOCKS_PER_WIDEN: usize = 8;

/// The four code vectors of one 32-byte block: columns 0..32, 32..64, 64..96, 96..128.
#[inline(always)]
fn decode(v: __m256i) -> [__m256i; 4] {
    // SAFETY: AVX2 is enabled for this build (see the module's cfg).
    unsafe {
        let m3 = _mm256_set1_epi8(3);
        [
            _mm256_and_si256(_mm256_srli_epi16(v, 6), m3),
            _mm256_and_si256(_mm256_srli_epi16(v, 4), m3),
            _mm256_and_si256(_mm256_srli_epi16(v, 2), m3),
            _mm256_and_si256(v, m3),
        ]
    }
}

/// Σ code·q over one packed row; see `scalar::dot_codes`.
pub fn dot_codes(codes: &[u8], q: &[i8]) -> i32 {
    dot_codes_n::<1>(codes, [q])[0]
}

/// `dot_codes` of one row against four tokens' activations, decoding each block once.
pub fn dot_codes_x4(codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
    dot_codes_n::<4>(codes, q)
}

fn dot_codes_n<const T: usize>(codes: &[u8], q: [&[i8]; T]) -> [i32; T] {
    assert!(codes.len() % BLOCK_BYTES == 0 && q.iter().all(|x| x.len() == codes.len() * 4));
    let blocks = codes.len() / BLOCK_BYTES;
    // SAFETY: AVX2 is enabled for this build; every load reads inside block `b` of `codes` (32
    // bytes at 32·b) or of a token's activations (128 bytes at 128·b).
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut total = [_mm256_setzero_si256(); T];
        let mut b = 0;
        while b < blocks {
            let end = (b + BLOCKS_PER_WIDEN).min(blocks);
            let mut acc = [_mm256_setzero_si256(); T];
            for b in b..end {
                let c = decode(_mm256_loadu_si256(codes.as_ptr().add(BLOCK_BYTES * b) as *const __m256i));
                for t in 0..T {
                    let x = q[t].as_ptr().add(BLOCK * b);
                    for (g, &cg) in c.iter().enumerate() {
                        let xv = _mm256_loadu_si256(x.add(32 * g) as *const __m256i);
                        acc[t] = _mm256_add_epi16(acc[t], _mm256_maddubs_epi16(cg, xv));
                    }
                }
            }
            for t in 0..T {
                total[t] = _mm256_add_epi32(total[t], _mm256_madd_epi16(acc[t], ones));
            }
            b = end;
        }
        total.map(|v| {
            let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
            _mm_cvtsi128_si32(s)
        })
    }
}

/// `scalar::dot_int4` (the same result), given `offsets` from `shortlist::int4_offsets`. One
/// 32-byte load holds a block's codes: its low nibbles meet activations 0..32, its high ones 32..64.
/// 32-bit lane `m` of the widened sums covers values `16·(m / 4) + 4·(m % 4)` onwards, so the two
/// 128-bit halves add up to the reference's four lanes.
pub fn dot_int4(codes: &[u8], scales: &[f32], q: &[i8], offsets: &[i32]) -> f32 {
    use crate::weights::int4_rows::{BLOCK, BLOCK_BYTES};
    assert!(BLOCK == 64 && codes.len() * 2 == q.len() && q.len() == scales.len() * BLOCK && offsets.len() == 4 * scales.len());
    // SAFETY: AVX2 is enabled for this build; block `b` has 32 code bytes, 64 activations and 4
    // offsets at the offsets read, and the loads are unaligned ones.
    unsafe {
        let (m15, ones) = (_mm256_set1_epi8(15), _mm256_set1_epi16(1));
        let mut acc = _mm_setzero_ps();
        for (b, &s) in scales.iter().enumerate() {
            let c = _mm256_loadu_si256(codes.as_ptr().add(BLOCK_BYTES * b) as *const __m256i);
            let x = q.as_ptr().add(BLOCK * b);
            let lo = _mm256_maddubs_epi16(_mm256_and_si256(c, m15), _mm256_loadu_si256(x as *const __m256i));
            let hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), m15);
            let hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(x.add(32) as *const __m256i));
            let wide = _mm256_madd_epi16(_mm256_add_epi16(lo, hi), ones);
            let sum = _mm_add_epi32(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
            let exact = _mm_sub_epi32(sum, _mm_loadu_si128(offsets.as_ptr().add(4 * b) as *const __m128i));
            acc = _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(exact), _mm_set1_ps(s)));
        }
        let [a, b, c, d]: [f32; 4] = core::mem::transmute(acc);
        (a + b) + (c + d)
    }
}
