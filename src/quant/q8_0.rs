//! Q8_0: blocks of 32 int8 values with one f16 scale (34 bytes): `y = q * d`.

use super::f16_at;

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 34;

pub fn decode(data: &[u8], out: &mut [f32]) {
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_at(b, 0);
        for (yi, &q) in y.iter_mut().zip(&b[2..]) {
            *yi = d * (q as i8) as f32;
        }
    }
}
