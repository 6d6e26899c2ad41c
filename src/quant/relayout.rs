//! Turning packed I2_S codes read with the wrong layout into the right ones.
//!
//! Why: a file cannot say whether bitnet.cpp packed it 128/32 (x86, the official files) or 64/16 (its ARM
//! builds since 2025-11), and both read without error (spec §2.9, pitfall 3). With rows that are whole
//! 128-blocks, the two differ only by a fixed shuffle of the 128 codes of each 32-byte block, so the
//! engine can load a file one way, try it (`engine::layout_probe`) and turn the weights it already holds
//! into the other reading, instead of fetching and parsing the file a second time.
//!
//! The shuffle. In a 64/16 file, byte `16b + p` (b = 0, 1; p < 16) of a 32-byte run holds, in its four
//! 2-bit groups g = 0..3 (bits 7:6 down to 1:0), elements `64b + 16g + p`. The kernel layout (128/32)
//! puts element `e` in byte `e % 32`, group `e / 32`: here byte `16(g & 1) + p`, group `2b + (g >> 1)`.
//! So each output byte gathers two groups from each of the two input bytes at the same `p`, and the whole
//! block moves with eight masks and shifts on 64-bit words (no shift crosses a byte: every masked field
//! moves within its own byte). `pack(I2_S, …, Block64)` is the scalar reference (tests below).

/// Bytes per 128-code block.
const BLOCK_BYTES: usize = 32;

/// Spreads a byte mask to every byte of a word.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// Codes that were packed 64/16 but placed as if 128/32 (a plain copy of the file's bytes) become the
/// kernel layout of the true weights. `codes.len()` must be a multiple of 32.
pub fn from_block64(codes: &mut [u8]) {
    for_each_block(codes, |x0, x1| {
        let new0 = (x0 & splat(0xC0)) | (x0 & splat(0x0C)) << 2 | (x1 & splat(0xC0)) >> 4 | (x1 & splat(0x0C)) >> 2;
        let new1 = (x0 & splat(0x30)) << 2 | (x0 & splat(0x03)) << 4 | (x1 & splat(0x30)) >> 2 | (x1 & splat(0x03));
        (new0, new1)
    });
}

/// The inverse of [`from_block64`]: back to the file's bytes as they were copied.
pub fn to_block64(codes: &mut [u8]) {
    for_each_block(codes, |n0, n1| {
        let x0 = (n0 & splat(0xC0)) | (n1 & splat(0xC0)) >> 2 | (n0 & splat(0x30)) >> 2 | (n1 & splat(0x30)) >> 4;
        let x1 = (n0 & splat(0x0C)) << 4 | (n1 & splat(0x0C)) << 2 | (n0 & splat(0x03)) << 2 | (n1 & splat(0x03));
        (x0, x1)
    });
}

/// Codes that were packed 1×4 (bitnet.cpp's x86 quantizer without `ACT_PARALLEL`: byte `(r/4)·cols + c`
/// holds column `c` of rows `r..r+4`) but placed as if 128/32 become the kernel layout of the true
/// weights, for a matrix with rows of `cols` (a multiple of 128) in fours. Unlike the 64/16 shuffle
/// this moves codes across rows, so it goes through a copy of the matrix: it runs only when the
/// engine probes a file whose packing nothing said (`engine::layout_probe`).
pub fn from_rows4(codes: &mut [u8], cols: usize) {
    let file = codes.to_vec();
    let stride = cols / 4;
    for (at, out) in codes.iter_mut().enumerate() {
        // Kernel byte `at` of row r: columns c0 + 32g (g = 0..3) in bits 7:6..1:0.
        let (r, p) = (at / stride, at % stride);
        let c0 = (p / BLOCK_BYTES) * 128 + p % BLOCK_BYTES;
        let code = |c: usize| (file[(r / 4) * cols + c] >> (6 - 2 * (r % 4))) & 3;
        *out = code(c0) << 6 | code(c0 + 32) << 4 | code(c0 + 64) << 2 | code(c0 + 96);
    }
}

/// The inverse of [`from_rows4`]: back to the file's bytes as they were copied.
pub fn to_rows4(codes: &mut [u8], cols: usize) {
    let kernel = codes.to_vec();
    let stride = cols / 4;
    for (at, out) in codes.iter_mut().enumerate() {
        // File byte `at`: column c of rows 4q..4q+4.
        let (q, c) = (at / cols, at % cols);
        let code = |r: usize| (kernel[r * stride + (c / 128) * BLOCK_BYTES + c % 32] >> (6 - 2 * (c % 128 / 32))) & 3;
        *out = code(4 * q) << 6 | code(4 * q + 1) << 4 | code(4 * q + 2) << 2 | code(4 * q + 3);
    }
}

/// Calls `f` on the two 16-byte halves of each 32-byte block, eight bytes at a time, and stores what it
/// returns in their place.
fn for_each_block(codes: &mut [u8], f: impl Fn(u64, u64) -> (u64, u64)) {
    assert!(codes.len() % BLOCK_BYTES == 0, "{} bytes is not whole 128-code blocks", codes.len());
    let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap());
    for block in codes.chunks_exact_mut(BLOCK_BYTES) {
        for half in 0..2 {
            let (lo, hi) = (8 * half, 16 + 8 * half);
            let (a, b) = f(word(&block[lo..lo + 8]), word(&block[hi..hi + 8]));
            block[lo..lo + 8].copy_from_slice(&a.to_ne_bytes());
            block[hi..hi + 8].copy_from_slice(&b.to_ne_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::TensorType;
    use crate::quant::{I2sLayout, ternary};

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn bytes(n: usize, mut s: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // Codes 0..=2 only, as a file holds.
                let c = |k: u64| ((s >> k) % 3) as u8;
                c(0) << 6 | c(8) << 4 | c(16) << 2 | c(24)
            })
            .collect()
    }

    #[test]
    fn from_block64_is_what_the_scalar_64_16_reader_packs() {
        for (seed, rows, cols) in [(1, 1, 128), (2, 3, 256), (3, 7, 640), (4, 2, 2560)] {
            let n = rows * cols;
            let mut file = bytes(n / 4, seed);
            file.extend_from_slice(&0.5f32.to_le_bytes());
            file.resize(n / 4 + 32, 0);
            let reference = ternary::pack(TensorType::I2_S, file.clone(), cols, rows, I2sLayout::Block64).unwrap();
            let mut copied = ternary::pack(TensorType::I2_S, file.clone(), cols, rows, I2sLayout::Block128).unwrap();
            assert_ne!(copied.codes, reference.codes, "seed {seed}: the two readings differ");
            from_block64(&mut copied.codes);
            assert_eq!(copied.codes, reference.codes, "seed {seed}: {rows}x{cols}");
            to_block64(&mut copied.codes);
            assert_eq!(copied.codes, file[..n / 4], "seed {seed}: back to the file's bytes");
        }
    }

    #[test]
    fn from_rows4_is_what_the_scalar_1x4_reader_packs() {
        for (seed, rows, cols) in [(1, 4, 128), (2, 8, 256), (3, 12, 640), (4, 4, 2560)] {
            let n = rows * cols;
            let mut file = bytes(n / 4, seed);
            file.extend_from_slice(&0.5f32.to_le_bytes());
            file.resize(n / 4 + 32, 0);
            let reference = ternary::pack(TensorType::I2_S, file.clone(), cols, rows, I2sLayout::Rows4).unwrap();
            let mut copied = ternary::pack(TensorType::I2_S, file.clone(), cols, rows, I2sLayout::Block128).unwrap();
            assert_ne!(copied.codes, reference.codes, "seed {seed}: the two readings differ");
            from_rows4(&mut copied.codes, cols);
            assert_eq!(copied.codes, reference.codes, "seed {seed}: {rows}x{cols}");
            to_rows4(&mut copied.codes, cols);
            assert_eq!(copied.codes, file[..n / 4], "seed {seed}: back to the file's bytes");
        }
    }

    #[test]
    fn rows4_reads_bitnet_cpps_worked_bytes() {
        // quantize_i2_s's 1×4 branch: q = weight + 1, byte = q(r0) << 6 | q(r1) << 4 | q(r2) << 2 | q(r3),
        // at (r/4)·cols + c. Rows (+1, 0, -1, 0) in column 0 → 2<<6 | 1<<4 | 0<<2 | 1 = 0x91.
        let (rows, cols) = (4, 128);
        let mut file = vec![0x55u8; rows * cols / 4];
        file[0] = 0x91;
        file[127] = 0x19; // column 127: (0, +1, -1, +1)... q = 0,1,2,1 → 0x19
        file.extend_from_slice(&1f32.to_le_bytes());
        file.resize(rows * cols / 4 + 32, 0);
        let w = ternary::pack(TensorType::I2_S, file, cols, rows, I2sLayout::Rows4).unwrap().to_f32();
        let col = |c: usize| [0, 1, 2, 3].map(|r| w[r * cols + c]);
        assert_eq!(col(0), [1.0, 0.0, -1.0, 0.0]);
        assert_eq!(col(127), [-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(col(5), [0.0; 4]);
    }
}
