//! Q4_0: blocks of 32 4-bit values with one f16 scale (18 bytes: d, then 16 bytes whose low nibbles
//! are values 0-15 and high nibbles values 16-31). `y = d * (q - 8)`. bitnet.cpp's
//! embedding-quantization study stores token embeddings in it.

use super::f16_at;

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 18;

pub fn decode(data: &[u8], out: &mut [f32]) {
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_at(b, 0);
        let (lo, hi) = y.split_at_mut(BLOCK / 2);
        for ((&q, l), h) in b[2..].iter().zip(lo).zip(hi) {
            *l = d * ((q & 0xF) as i32 - 8) as f32;
            *h = d * ((q >> 4) as i32 - 8) as f32;
        }
    }
}
