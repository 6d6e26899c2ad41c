//! Q5_0: blocks of 32 5-bit values with one f16 scale (22 bytes: d, a little-endian u32 whose bit i
//! is value i's fifth bit, then 16 bytes of low nibbles as in Q4_0). `y = d * (q - 16)`. bitnet.cpp's
//! embedding-quantization study stores token embeddings in it.

use super::f16_at;

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 22;

pub fn decode(data: &[u8], out: &mut [f32]) {
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_at(b, 0);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let high = |i: usize| (((qh >> i) & 1) << 4) as i32;
        for (j, &q) in b[6..].iter().enumerate() {
            y[j] = d * (((q & 0xF) as i32 | high(j)) - 16) as f32;
            y[j + 16] = d * (((q >> 4) as i32 | high(j + 16)) - 16) as f32;
        }
    }
}
