//! bitnet.cpp's lookup-table formats, TL1 (its ARM builds) and TL2 (x86), untiled at load into the
//! kernels' layout (`ternary`): the same codes, bit for bit, as the I2_S file of the same weights.
//!
//! Why untile instead of running them: the formats exist for bitnet.cpp's lookup-table kernels, and a
//! lookup-table kernel in wasm measured slower than ours (`bench/lut`, bench/RESULTS.md). Untiled,
//! TL1 keeps its size (2 bits a weight); TL2 grows from 1.67 to 2 bits a weight (20 %).
//!
//! The layouts, as Microsoft's converter writes them (`utils/convert-hf-to-gguf-bitnet.py`:
//! `preprocess_weights_tl1`, `process_tl1`, `preprocess_weights_tl2` and its two helpers, read at
//! microsoft/BitNet 16da220), for a matrix of M rows (outputs) by K columns:
//! - **TL1**: each pair of weights `(w0, w1)` of a row is the index `3·w0 + w1 + 4` (0..=8), two
//!   indices a byte, the first pair's in the high nibble. The bytes run over tiles of BM rows by BK
//!   columns, then blocks of bm rows by `by = 256/bm` columns, then 16 rows by 4 columns: see
//!   [`untile_tl1`]'s loops, which are the converter's transposes read back.
//! - **TL2**: the first `K3 = K - K % BK` columns in triples, `9·w0 + 3·w1 + w2` (−13..=13), as a
//!   4-bit magnitude (two triples a byte) and, in a section after all of them, a sign bit; bm is 32.
//!   The last `K % BK` columns follow in TL1's pairs with BK = 32 and bm = 32. Within every 32-byte
//!   row group, groups of 8 bytes are swapped (1 ↔ 2).
//! - The scale is an f32 tensor `<name>_scale` beside the weights (written right after them).
//!
//! No file records its tiling (BM, BK, bm): it is the `kernel_config.ini` of the build that converted
//! it. [`PRESETS`] holds the tilings bitnet.cpp's `setup_env.py` generates for the models it converts
//! (its `gen_code`, the same as `preset_kernels/*/kernel_config_tl*.ini` except where noted there);
//! any other shape needs the caller's config ([`KernelConfig`]). The wrong tiling reads as garbage
//! without an error, so a shape nobody vouches for is refused (`model::plan`), never guessed.

use crate::gguf::TensorType;

/// One kernel's tiling: tiles of `tile_rows` (BM) by `tile_cols` (BK), blocks of `block_rows` (bm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    pub tile_rows: usize,
    pub tile_cols: usize,
    pub block_rows: usize,
}

/// A kernel of a `kernel_config.ini`: the matrix shape it is for, and its tiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub rows: usize,
    pub cols: usize,
    pub tiling: Tiling,
}

/// The tilings of `setup_env.py`'s `gen_code` at microsoft/BitNet 16da220, as (format, model, M, K,
/// BM, BK, bm). It generates these for bitnet_b1_58-large, bitnet_b1_58-3B and Llama3-8B-1.58 (and
/// reuses the 3B's and Llama3-8B's for 2B4T and the Falcon models, whose own shapes it then cannot
/// convert). The preset `kernel_config_tl2.ini` of bitnet_b1_58-large says bm = 64 for 4096×1536,
/// and that of Llama3-8B's TL1 swaps bm between its kernels, but `setup_env.py` regenerates the
/// config after copying them, with the values here; with bm = 64 the converter's TL2 fails.
pub const PRESETS: &[(TensorType, &str, usize, usize, usize, usize, usize)] = &[
    (TensorType::TL1, "bitnet_b1_58-large", 1536, 4096, 256, 128, 32),
    (TensorType::TL1, "bitnet_b1_58-large", 1536, 1536, 128, 64, 64),
    (TensorType::TL1, "bitnet_b1_58-large", 4096, 1536, 256, 128, 32),
    (TensorType::TL1, "bitnet_b1_58-3B", 3200, 8640, 160, 64, 32),
    (TensorType::TL1, "bitnet_b1_58-3B", 3200, 3200, 320, 128, 64),
    (TensorType::TL1, "bitnet_b1_58-3B", 8640, 3200, 320, 64, 32),
    (TensorType::TL1, "Llama3-8B-1.58", 14336, 4096, 256, 128, 32),
    (TensorType::TL1, "Llama3-8B-1.58", 4096, 14336, 128, 64, 64),
    (TensorType::TL1, "Llama3-8B-1.58", 1024, 4096, 256, 128, 32),
    (TensorType::TL1, "Llama3-8B-1.58", 4096, 4096, 128, 64, 64),
    (TensorType::TL2, "bitnet_b1_58-large", 1536, 4096, 256, 96, 32),
    (TensorType::TL2, "bitnet_b1_58-large", 1536, 1536, 128, 192, 32),
    (TensorType::TL2, "bitnet_b1_58-large", 4096, 1536, 256, 96, 32),
    (TensorType::TL2, "bitnet_b1_58-3B", 3200, 8640, 160, 96, 32),
    (TensorType::TL2, "bitnet_b1_58-3B", 3200, 3200, 320, 96, 32),
    (TensorType::TL2, "bitnet_b1_58-3B", 8640, 3200, 320, 96, 32),
    (TensorType::TL2, "Llama3-8B-1.58", 14336, 4096, 256, 96, 32),
    (TensorType::TL2, "Llama3-8B-1.58", 4096, 14336, 128, 96, 32),
    (TensorType::TL2, "Llama3-8B-1.58", 1024, 4096, 256, 96, 32),
    (TensorType::TL2, "Llama3-8B-1.58", 4096, 4096, 128, 96, 32),
];

/// The preset tiling of a `rows` × `cols` matrix in `ty`, if bitnet.cpp's setup generates one.
pub fn preset(ty: TensorType, rows: usize, cols: usize) -> Option<Tiling> {
    preset_of(ty, rows, cols).map(|p| p.1)
}

/// [`preset`], with the model bitnet.cpp generates it for.
pub fn preset_of(ty: TensorType, rows: usize, cols: usize) -> Option<(&'static str, Tiling)> {
    PRESETS.iter().find(|p| p.0 == ty && p.2 == rows && p.3 == cols).map(|p| (p.1, Tiling { tile_rows: p.4, tile_cols: p.5, block_rows: p.6 }))
}

/// Kernels a `kernel_config.ini` can name: its generators write one per distinct matrix shape, and
/// no published model has more than four.
pub const MAX_KERNELS: usize = 8;

/// The kernels of a caller's `kernel_config.ini` (fixed-size, so that load options stay `Copy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelConfig {
    kernels: [Option<Kernel>; MAX_KERNELS],
}

impl KernelConfig {
    /// Parses the file `codegen_tl1.py` / `codegen_tl2.py` write: `[Kernels_N]` sections with `m`, `k`,
    /// `bm`, `bk` and `bmm` (ConfigParser lower-cases the keys it writes; either case is read).
    pub fn parse(text: &str) -> Result<KernelConfig, String> {
        if text.len() > 64 << 10 {
            return Err(format!("a kernel config is a few hundred bytes; this one is {} bytes", text.len()));
        }
        let mut sections: Vec<(String, [Option<usize>; 5])> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                if sections.len() == MAX_KERNELS {
                    return Err(format!("more than {MAX_KERNELS} kernels"));
                }
                sections.push((name.trim().to_string(), [None; 5]));
                continue;
            }
            let at = || format!("line {}", n + 1);
            let (key, value) = line.split_once('=').or_else(|| line.split_once(':')).ok_or_else(|| format!("{}: '{line}' is not `key = value`", at()))?;
            let (_, fields) = sections.last_mut().ok_or_else(|| format!("{}: a key before the first [section]", at()))?;
            let slot = match key.trim().to_ascii_lowercase().as_str() {
                "m" => 0,
                "k" => 1,
                "bm" => 2,
                "bk" => 3,
                "bmm" => 4,
                other => return Err(format!("{}: unknown key '{other}' (a kernel has m, k, bm, bk, bmm)", at())),
            };
            let v: usize = value.trim().parse().map_err(|_| format!("{}: '{}' is not a whole number", at(), value.trim()))?;
            if v == 0 || v > 1 << 20 {
                return Err(format!("{}: {v} is not a matrix or tile size", at()));
            }
            fields[slot] = Some(v);
        }
        let mut config = KernelConfig::default();
        for (i, (name, f)) in sections.iter().enumerate() {
            let [Some(rows), Some(cols), Some(tile_rows), Some(tile_cols), Some(block_rows)] = *f else {
                return Err(format!("[{name}] lacks one of m, k, bm, bk, bmm"));
            };
            config.kernels[i] = Some(Kernel { rows, cols, tiling: Tiling { tile_rows, tile_cols, block_rows } });
        }
        if sections.is_empty() {
            return Err("no [Kernels_N] section".into());
        }
        Ok(config)
    }

    pub fn is_empty(&self) -> bool {
        self.kernels.iter().all(Option::is_none)
    }

    /// The tiling this config gives a `rows` × `cols` matrix.
    pub fn find(&self, rows: usize, cols: usize) -> Option<Tiling> {
        self.kernels.iter().flatten().find(|k| k.rows == rows && k.cols == cols).map(|k| k.tiling)
    }
}

/// Why `t` cannot tile a `rows` × `cols` matrix in `ty` as the converter does, if it cannot; and for
/// TL2, that the tiled bytes fit the tensor's size.
pub fn check(ty: TensorType, rows: usize, cols: usize, t: Tiling) -> Result<(), String> {
    let Tiling { tile_rows: bm_big, tile_cols: bk, block_rows: bm } = t;
    let need = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("the tiling BM={bm_big} BK={bk} bm={bm} does not fit a {rows}×{cols} matrix: {what}")) };
    need(bm_big > 0 && rows % bm_big == 0, "M must be a multiple of BM")?;
    match ty {
        TensorType::TL1 => {
            need(bm == 32 || bm == 64, "TL1's bm is 32 or 64")?;
            need(bm_big % bm == 0, "BM must be a multiple of bm")?;
            need(bk > 0 && cols % bk == 0 && bk % (256 / bm) == 0, "K must be a multiple of BK, and BK of 256/bm")
        }
        TensorType::TL2 => {
            need(bm == 32, "TL2's bm is 32")?;
            need(bm_big % 32 == 0, "BM must be a multiple of 32")?;
            need(bk > 0 && bk % 24 == 0, "BK must be a multiple of 24")?;
            need((cols % bk) % 32 == 0, "K % BK must be a multiple of 32")?;
            let k3 = cols - cols % bk;
            let tiled = rows * k3 / 6 + rows * k3 / 24 + rows * (cols % bk) / 4;
            let size = TensorType::TL2.bytes_for(&[cols as u64, rows as u64]).unwrap_or(0);
            need(tiled as u64 <= size, "its bytes would not fit the tensor")
        }
        _ => Err(format!("{ty} is not a lookup-table format")),
    }
}

/// Where the converter puts the 8-byte groups of a 32-byte row group: group `g` holds rows
/// `SWAP[g]*8 ..` (`weight[:, [0, 1, 2, 3], :] = weight[:, [0, 2, 1, 3], :]`).
const SWAP: [usize; 4] = [0, 2, 1, 3];

/// Hands each weight of a TL1 or TL2 matrix to `set(row, col, code)`, code = weight + 1, untiling
/// `data` with `t` (already [`check`]ed). An index no converter writes is an error.
pub fn untile(ty: TensorType, data: &[u8], rows: usize, cols: usize, t: Tiling, set: &mut impl FnMut(usize, usize, u8)) -> Result<(), String> {
    match ty {
        TensorType::TL1 => untile_tl1(data, rows, cols, t, set),
        _ => untile_tl2(data, rows, cols, t, set),
    }
}

/// A pair's index `3·w0 + w1 + 4` to the two codes at `(row, col)` and `(row, col + 1)`.
fn pair(v: u8, row: usize, col: usize, set: &mut impl FnMut(usize, usize, u8)) -> Result<(), String> {
    if v > 8 {
        return Err(format!("row {row}, columns {col}..{}: index {v} is not a pair of ternary weights (0..=8)", col + 2));
    }
    set(row, col, v / 3);
    set(row, col + 1, v % 3);
    Ok(())
}

/// TL1 over tiles (BM × BK), blocks (bm × by), 16-row groups, 4-column groups: the converter's
/// reshapes and transposes read back, loop for axis.
fn untile_tl1(data: &[u8], rows: usize, cols: usize, t: Tiling, set: &mut impl FnMut(usize, usize, u8)) -> Result<(), String> {
    let Tiling { tile_rows: bm_big, tile_cols: bk, block_rows: bm } = t;
    let by = 256 / bm;
    let mut bytes = data[..rows * cols / 4].iter();
    for i0 in 0..rows / bm_big {
        for i1 in 0..cols / bk {
            for i2 in 0..bm_big / bm {
                for i3 in 0..bk / by {
                    for i4 in 0..bm / 16 {
                        for i5 in 0..by / 4 {
                            let col = i1 * bk + i3 * by + i5 * 4;
                            for r in 0..16 {
                                let b = *bytes.next().expect("sized by the header");
                                let row = i0 * bm_big + i2 * bm + i4 * 16 + r;
                                pair(b >> 4, row, col, set)?;
                                pair(b & 15, row, col + 2, set)?;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// TL2: the triples' magnitudes, their signs, then the last K % BK columns in pairs.
fn untile_tl2(data: &[u8], rows: usize, cols: usize, t: Tiling, set: &mut impl FnMut(usize, usize, u8)) -> Result<(), String> {
    let Tiling { tile_rows: bm_big, tile_cols: bk, .. } = t;
    let (k3, k2) = (cols - cols % bk, cols % bk);
    let signs = rows * k3 / 6;
    // The sign of triple `tr` of `row`: 16-bit words, little-endian, bit 15 first, over blocks of
    // 32 rows by 8 triples.
    let sign = |row: usize, tr: usize| -> bool {
        let (i0, i2, r) = (row / bm_big, row % bm_big / 32, row % 32);
        let (i1, j3, t4) = (tr / (bk / 3), tr % (bk / 3) / 8, tr % 8);
        let block = ((i0 * (k3 / bk) + i1) * (bm_big / 32) + i2) * (bk / 24) + j3;
        let u = t4 * 32 + r;
        let bit = 15 - u / 16;
        data[signs + block * 32 + 2 * (u % 16) + bit / 8] >> (bit % 8) & 1 == 1
    };
    let mut at = 0;
    for i0 in 0..rows / bm_big {
        for i1 in 0..k3 / bk {
            for i2 in 0..bm_big / 32 {
                for i3 in 0..bk / 6 {
                    for (q, &b) in data[at..at + 32].iter().enumerate() {
                        let row = i0 * bm_big + i2 * 32 + SWAP[q / 8] * 8 + q % 8;
                        let tr = i1 * (bk / 3) + i3 * 2;
                        for (k, mag) in [(tr, b >> 4), (tr + 1, b & 15)] {
                            if mag > 13 {
                                return Err(format!("row {row}, columns {}..{}: magnitude {mag} is not a triple of ternary weights (0..=13)", 3 * k, 3 * k + 3));
                            }
                            let v = if sign(row, k) { 13 - mag } else { 13 + mag };
                            set(row, 3 * k, v / 9);
                            set(row, 3 * k + 1, v / 3 % 3);
                            set(row, 3 * k + 2, v % 3);
                        }
                    }
                    at += 32;
                }
            }
        }
    }
    let mut at = signs + rows * k3 / 24;
    for i0 in 0..rows / bm_big {
        for i1 in 0..k2 / 32 {
            for i2 in 0..bm_big / 32 {
                for i3 in 0..8 {
                    for (q, &b) in data[at..at + 32].iter().enumerate() {
                        let row = i0 * bm_big + i2 * 32 + SWAP[q / 8] * 8 + q % 8;
                        let col = k3 + i1 * 32 + i3 * 4;
                        pair(b >> 4, row, col, set)?;
                        pair(b & 15, row, col + 2, set)?;
                    }
                    at += 32;
                }
            }
        }
    }
    Ok(())
}
