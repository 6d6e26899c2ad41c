//! Q4_K: super-blocks of 256 4-bit values in 8 sub-blocks of 32, each with a 6-bit scale and min
//! (144 bytes: f16 d, f16 dmin, 12 bytes of packed scales/mins, 128 bytes of nibbles).
//! `y = (d*sc) * q - (dmin*m)`, evaluated in that order, as gguf-py and ggml do.

use super::f16_at;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 144;

/// The 6-bit (scale, min) of sub-block `j` (ggml's `get_scale_min_k4`).
fn scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

pub fn decode(data: &[u8], out: &mut [f32]) {
    for (b, y) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_at(b, 0);
        let dmin = f16_at(b, 2);
        let scales = &b[4..16];
        let qs = &b[16..];
        for c in 0..4 {
            let (sc1, m1) = scale_min(2 * c, scales);
            let (sc2, m2) = scale_min(2 * c + 1, scales);
            let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
            let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
            let q = &qs[32 * c..32 * c + 32];
            for l in 0..32 {
                y[64 * c + l] = d1 * (q[l] & 0xF) as f32 - min1;
                y[64 * c + 32 + l] = d2 * (q[l] >> 4) as f32 - min2;
            }
        }
    }
}
