//! TQ1_0 (upstream llama.cpp): blocks of 256 ternary weights in 54 bytes, 1.6875 bits each.
//! 48 bytes hold 5 trits each, 4 bytes hold 4 trits each, then an f16 scale `d`.
//! A byte stores its trits as a base-3 fraction: trit n is `((u8)(byte * 3^n) * 3) >> 8`, with the
//! u8 product wrapping on purpose. `y = (trit - 1) * d`.

use super::f16_at;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 54;
const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// Trit `n` (0..=2) of a packed byte.
#[inline]
pub fn trit(byte: u8, n: usize) -> u8 {
    ((byte.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as u8
}

/// The 256 trits (0..=2) of one block, in element order.
pub fn codes(b: &[u8], out: &mut [u8]) {
    for n in 0..5 {
        for m in 0..32 {
            out[n * 32 + m] = trit(b[m], n);
        }
        for m in 0..16 {
            out[160 + n * 16 + m] = trit(b[32 + m], n);
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            out[240 + n * 4 + j] = trit(b[48 + j], n);
        }
    }
}

pub fn decode(data: &[u8], out: &mut [f32]) {
    let mut t = [0u8; BLOCK];
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_at(b, 52);
        codes(b, &mut t);
        for (yi, &c) in y.iter_mut().zip(&t) {
            *yi = (c as i8 - 1) as f32 * d;
        }
    }
}
