//! A lookup-table GEMV (T-MAC / bitnet.cpp TL1 style) for wasm relaxed SIMD, exact in integers.
//!
//! Weights go in pairs: a pair's 9 ternary combinations get a 4-bit index, and two indices share a
//! byte. For each token a table per column pair holds the 9 possible sums (w_a·x_a + w_b·x_b, which
//! need 9 bits, so as a low-byte and a high-byte plane). One `i8x16.relaxed_swizzle` then looks up
//! 16 rows at once; the byte planes are interleaved into i16 lanes and summed.
//!
//! Per 32 weights (16 rows × one pair): index extraction (1.5), two table loads, two swizzles, two
//! interleaving shuffles and two adds — about 9.5 instructions, against 9 for the pmaddubsw kernel's
//! two 16-weight steps. The table is what costs: 8-bit entries would halve the work but cannot hold
//! the sums of full-range int8 activations.

use core::arch::wasm32::*;

/// Rows per tile: one swizzle's 16 lanes.
pub const TILE: usize = 16;

/// The code (0..=2, weight + 1) of column `c` in a row packed as the engine packs it (`BLOCK` 128:
/// byte `j % 32` of the block, bits `7-2g:6-2g` for `g = j / 32`).
fn code(row: &[u8], c: usize) -> u8 {
    let (b, j) = (c / 128, c % 128);
    (row[b * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3
}

/// The index layout: per 16-row tile and per 4 columns, 16 bytes whose byte `r` holds row `r`'s
/// pair indices `3·code_a + code_b` for columns (0,1) in its low and (2,3) in its high nibble.
pub fn build_index(codes: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let stride = cols / 4;
    let mut out = vec![0u8; rows * cols / 4];
    for t in 0..rows / TILE {
        for j in 0..cols / 4 {
            for r in 0..TILE {
                let row = &codes[(t * TILE + r) * stride..][..stride];
                let pair = |c: usize| 3 * code(row, c) + code(row, c + 1);
                out[(t * stride + j) * TILE + r] = pair(4 * j) | pair(4 * j + 2) << 4;
            }
        }
    }
    out
}

/// One token's tables: per column pair, 16 low bytes then 16 high bytes of the 9 sums.
pub fn build_tables(q: &[i8]) -> Vec<u8> {
    let mut t = vec![0u8; q.len() / 2 * 32];
    for (p, x) in q.chunks_exact(2).enumerate() {
        for i in 0..9 {
            let v = (i / 3 - 1) * x[0] as i32 + (i % 3 - 1) * x[1] as i32;
            t[p * 32 + i as usize] = v as u8;
            t[p * 32 + 16 + i as usize] = (v >> 8) as u8;
        }
    }
    t
}

/// Σ w·q of the 16 rows of one tile (`index` is the tile's part of `build_index`).
pub fn tile_dot(index: &[u8], tables: &[u8], cols: usize) -> [i32; TILE] {
    let m15 = u8x16_splat(15);
    let mut total = [i32x4_splat(0); 4];
    let quads = cols / 4;
    let mut j = 0;
    while j < quads {
        // 128 pairs of at most 254 in magnitude fit an i16 lane.
        let end = (j + 64).min(quads);
        let (mut a0, mut a1) = (i16x8_splat(0), i16x8_splat(0));
        while j < end {
            // SAFETY: `index` holds 16 bytes per quad and `tables` 64 per quad; loads are unaligned-safe.
            unsafe {
                let v = v128_load(index.as_ptr().add(TILE * j) as *const v128);
                for (k, idx) in [v128_and(v, m15), v128_and(u16x8_shr(v, 4), m15)].into_iter().enumerate() {
                    let tp = tables.as_ptr().add((2 * j + k) * 32);
                    let lo = i8x16_relaxed_swizzle(v128_load(tp as *const v128), idx);
                    let hi = i8x16_relaxed_swizzle(v128_load(tp.add(16) as *const v128), idx);
                    a0 = i16x8_add(a0, i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(lo, hi));
                    a1 = i16x8_add(a1, i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(lo, hi));
                }
            }
            j += 1;
        }
        for (k, a) in [a0, a1].into_iter().enumerate() {
            total[2 * k] = i32x4_add(total[2 * k], i32x4_extend_low_i16x8(a));
            total[2 * k + 1] = i32x4_add(total[2 * k + 1], i32x4_extend_high_i16x8(a));
        }
    }
    let mut out = [0i32; TILE];
    for (k, t) in total.iter().enumerate() {
        let lanes = [i32x4_extract_lane::<0>(*t), i32x4_extract_lane::<1>(*t), i32x4_extract_lane::<2>(*t), i32x4_extract_lane::<3>(*t)];
        out[4 * k..4 * k + 4].copy_from_slice(&lanes);
    }
    out
}
