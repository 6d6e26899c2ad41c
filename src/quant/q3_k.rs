//! Q3_K: super-blocks of 256 3-bit values in 16 sub-blocks of 16 with 6-bit scales (110 bytes: 32
//! bytes of high bits, 64 bytes of low 2-bit pairs, 12 bytes of packed scales, f16 d).
//! `y = (d * (sc - 32)) * q`, with q = low bits - 4 where the high bit is 0, and the low bits where
//! it is 1. bitnet.cpp's embedding-quantization study stores token embeddings in it.
//!
//! Value e (0..256) of a block: its low bits are bits 2k..2k+2 of byte 32h + l of the low part and
//! its high bit is bit 4h + k of byte l of the high part, where e = 128h + 32k + l; its scale is
//! sub-block e / 16, whose low nibble is in byte s % 8 (the high nibble for s >= 8) and whose top two
//! bits are bits 2(s / 4).. of byte 8 + s % 4.

use super::f16_at;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 110;

pub fn decode(data: &[u8], out: &mut [f32]) {
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let (hmask, qs, packed) = (&b[..32], &b[32..96], &b[96..108]);
        let d = f16_at(b, 108);
        let scale = |s: usize| {
            let low = (packed[s % 8] >> (4 * (s / 8))) & 0xF;
            let high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
            d * ((low | high << 4) as i32 - 32) as f32
        };
        for (e, y) in y.iter_mut().enumerate() {
            let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
            let low = (qs[32 * h + l] >> (2 * k)) & 3;
            let high = (hmask[l] >> (4 * h + k)) & 1;
            *y = scale(e / 16) * (low as i32 - if high == 1 { 0 } else { 4 }) as f32;
        }
    }
}
