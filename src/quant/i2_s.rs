//! I2_S: Microsoft bitnet.cpp's ternary format (type 36 in its llama.cpp fork), used by the official
//! `bitnet-b1.58-2B-4T` GGUF.
//!
//! A whole tensor of `n` weights is `n/4` bytes of 2-bit codes, then ONE f32 scale at byte `n/4`,
//! then 28 bytes of padding (`n/4 + 32` in all). Code `c` means weight `c - 1` (0 → -1, 1 → 0,
//! 2 → +1; 3 is never written and decodes as +2, which is what bitnet.cpp's kernels compute).
//! Codes are MSB-first in interleaved groups over the flat (row-major) index: with the default
//! 128/32 layout, byte `p` of each 32-byte block holds elements `p, 32+p, 64+p, 96+p` of that
//! 128-element block in bits 7:6, 5:4, 3:2, 1:0. ARM builds of bitnet.cpp since 2025-11 pack 64/16
//! instead, and x86 builds configured without `ACT_PARALLEL` (`include/gemm-config.h`) pack 1×4: byte
//! `(r/4)·cols + c` holds column `c` of rows `r..r+4` (`quantize_i2_s`'s other branch, microsoft/BitNet
//! 16da220 `src/ggml-bitnet-mad.cpp`). A file cannot say which it holds (spec §2.9, pitfall 3), so the
//! layout is an option.

/// The two block layouts bitnet.cpp has written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum I2sLayout {
    /// 128 elements per 32-byte block (x86 at every version; the official HF file).
    #[default]
    Block128,
    /// 64 elements per 16-byte block (ARM builds since 2025-11-19).
    Block64,
    /// Four rows a byte, column by column (x86 builds without `ACT_PARALLEL`); rows come in fours.
    Rows4,
}

impl I2sLayout {
    /// Elements per block; 1×4 has none (4: whole bytes), but needs its rows in fours.
    pub fn block_size(self) -> usize {
        match self {
            I2sLayout::Block128 => 128,
            I2sLayout::Block64 => 64,
            I2sLayout::Rows4 => 4,
        }
    }

    /// How people and messages name it: "128/32", "64/16", "1×4".
    pub fn name(self) -> &'static str {
        match self {
            I2sLayout::Block128 => "128/32",
            I2sLayout::Block64 => "64/16",
            I2sLayout::Rows4 => "1×4",
        }
    }

    /// Elements per interleaved group (= bytes per block) of the block layouts.
    fn group(self) -> usize {
        self.block_size() / 4
    }
}

/// The per-tensor scale stored after the codes.
pub fn scale(data: &[u8], n: usize) -> f32 {
    f32::from_le_bytes(data[n / 4..n / 4 + 4].try_into().unwrap())
}

/// Where flat element `i` of a matrix with rows of `cols` sits: its byte and its shift.
#[inline]
fn place(i: usize, cols: usize, layout: I2sLayout) -> (usize, u32) {
    match layout {
        I2sLayout::Rows4 => {
            let (r, c) = (i / cols, i % cols);
            ((r / 4) * cols + c, 6 - 2 * (r % 4) as u32)
        }
        _ => {
            let (block, j) = (i / layout.block_size(), i % layout.block_size());
            let (g, p) = (j / layout.group(), j % layout.group());
            (block * layout.group() + p, 6 - 2 * g as u32)
        }
    }
}

/// Code (0..=3) of flat element `i` of a matrix with rows of `cols` (only 1×4 reads `cols`).
#[inline]
pub fn code(data: &[u8], i: usize, cols: usize, layout: I2sLayout) -> u8 {
    let (at, shift) = place(i, cols, layout);
    (data[at] >> shift) & 3
}

pub fn decode(data: &[u8], out: &mut [f32], cols: usize, layout: I2sLayout) {
    let s = scale(data, out.len());
    for (i, y) in out.iter_mut().enumerate() {
        *y = (code(data, i, cols, layout) as i8 - 1) as f32 * s;
    }
}

/// Encodes ternary values (-1, 0, +1) of a matrix with rows of `cols` with one scale, the inverse of
/// [`decode`]. `t.len()` must be a multiple of the layout's block size (for 1×4: of four rows).
pub fn encode(t: &[i8], cols: usize, scale: f32, layout: I2sLayout) -> Vec<u8> {
    let n = t.len();
    let mut out = vec![0u8; n / 4 + 32];
    for (i, &w) in t.iter().enumerate() {
        let (at, shift) = place(i, cols, layout);
        out[at] |= (((w + 1) as u8) & 3) << shift;
    }
    out[n / 4..n / 4 + 4].copy_from_slice(&scale.to_le_bytes());
    out
}
