//! TQ2_0 (upstream llama.cpp): blocks of 256 ternary weights in 66 bytes: 64 bytes of 2-bit codes,
//! then an f16 scale `d`. Codes are LSB-first: byte `j + m` (j in {0, 32}) holds elements
//! `4j + m`, `4j + 32 + m`, `4j + 64 + m`, `4j + 96 + m` in bits 1:0, 3:2, 5:4, 7:6.
//! Code 0, 1, 2 means -1, 0, +1: `y = (code - 1) * d`.

use super::f16_at;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 66;

/// Code (0..=3) of element `i` (0..256) of a block.
#[inline]
pub fn code(qs: &[u8], i: usize) -> u8 {
    let (half, r) = (i / 128, i % 128);
    let (l, m) = (r / 32, r % 32);
    (qs[half * 32 + m] >> (2 * l)) & 3
}

pub fn decode(data: &[u8], out: &mut [f32]) {
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_at(b, 64);
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = (code(b, i) as i8 - 1) as f32 * d;
        }
    }
}

/// Encodes ternary values (each -1, 0 or +1) with one f16 scale per 256-block, as the inverse of
/// [`decode`]. `t.len()` must be a multiple of 256.
pub fn encode(t: &[i8], scales: &[half::f16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len() / BLOCK * BLOCK_BYTES);
    for (block, d) in t.chunks_exact(BLOCK).zip(scales) {
        let mut qs = [0u8; 64];
        for (i, &w) in block.iter().enumerate() {
            let (half, r) = (i / 128, i % 128);
            qs[half * 32 + r % 32] |= ((w + 1) as u8 & 3) << (2 * (r / 32));
        }
        out.extend_from_slice(&qs);
        out.extend_from_slice(&d.to_le_bytes());
    }
    out
}
