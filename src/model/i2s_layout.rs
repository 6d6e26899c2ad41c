//! Which I2_S packing a file is read with: the caller's, else the one the file names, else 128/32 to be
//! tried once the model is loaded (`engine::layout_probe`).
//!
//! Why: bitnet.cpp packs I2_S 128/32 on x86 (the official files) and, in its ARM builds since 2025-11,
//! 64/16, and writes no key that says which (spec §2.9, pitfall 3). Both read without error, and the wrong
//! one runs as fluent-looking garbage, so a guess is never silent: a file either names its packing (our
//! writer does, under `quantize.i2_s.block_size`, beside llama-quantize's own `quantize.*` keys), or the
//! caller says, or the engine tries the weights it holds on a sentence and says what it found.

use crate::gguf::{Gguf, TensorType};
use crate::quant::{I2sLayout, relayout, ternary};

use super::{Model, ModelError};

/// The key a writer that knows its packing sets: 128 or 64 (bitnet.cpp writes none).
pub const BLOCK_KEY: &str = "quantize.i2_s.block_size";

/// Where the layout to load with came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutSource {
    /// `LoadOptions::i2s_layout`, `--i2s-layout`, the page's `i2sLayout`.
    Caller,
    /// The file's `quantize.i2_s.block_size`.
    File,
    /// What the probe found when this same copy was first loaded (`LoadOptions::i2s_layout_found`,
    /// which the package keeps with a model it keeps offline), so that it is not probed again.
    Found,
    /// Nothing said: 128/32, the official files' packing, until a probe says otherwise.
    Assumed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutChoice {
    pub layout: I2sLayout,
    pub source: LayoutSource,
}

/// The layout to load `g` with, and why: the caller's (`chosen`), else the file's key, else what a probe
/// of this copy `found` before, else assumed; an unknown block size in the file's key is refused at the header.
pub fn choose(g: &Gguf, chosen: Option<I2sLayout>, found: Option<I2sLayout>) -> Result<LayoutChoice, ModelError> {
    if let Some(layout) = chosen {
        return Ok(LayoutChoice { layout, source: LayoutSource::Caller });
    }
    match g.get_u64(BLOCK_KEY) {
        None => Ok(match found {
            Some(layout) => LayoutChoice { layout, source: LayoutSource::Found },
            None => LayoutChoice { layout: I2sLayout::Block128, source: LayoutSource::Assumed },
        }),
        Some(128) => Ok(LayoutChoice { layout: I2sLayout::Block128, source: LayoutSource::File }),
        Some(64) => Ok(LayoutChoice { layout: I2sLayout::Block64, source: LayoutSource::File }),
        Some(n) => Err(ModelError::BadValue { key: BLOCK_KEY.into(), reason: format!("{n} is not an I2_S block size (128 or 64)") }),
    }
}

/// Whether a model loaded from `g` 128/32 can be turned into its 64/16 reading in place: every ternary
/// tensor is I2_S in rows of whole 128-blocks (else the reason, for the decision's text).
pub fn rereadable(g: &Gguf) -> Result<(), String> {
    let ternary: Vec<_> = g.tensors.iter().filter(|t| ternary::is_ternary(t.ty)).collect();
    if !ternary.iter().any(|t| t.ty == TensorType::I2_S) {
        return Err("the file has no I2_S tensors".into());
    }
    match ternary.iter().find(|t| t.ty != TensorType::I2_S || t.shape.first().map_or(true, |&c| c % 128 != 0)) {
        Some(t) => Err(format!("'{}' is {} in rows of {} weights, which only one reading fits", t.name, t.ty, t.shape.first().copied().unwrap_or(0))),
        None => Ok(()),
    }
}

/// Whether every I2_S tensor of `g` has its rows in fours, as the 1×4 packing needs.
pub fn rows_in_fours(g: &Gguf) -> bool {
    g.tensors.iter().filter(|t| t.ty == TensorType::I2_S).all(|t| t.shape.get(1).is_some_and(|&r| r % 4 == 0))
}

impl Model {
    /// Turns every projection from its `from` reading to its `to` reading, through the file's bytes (the
    /// 128/32 reading is those bytes as copied); only for a model whose file passed [`rereadable`], and
    /// to 1×4 only where [`rows_in_fours`].
    pub fn reread_i2s(&mut self, from: I2sLayout, to: I2sLayout) {
        for l in &mut self.layers {
            for p in [&mut l.wq, &mut l.wk, &mut l.wv, &mut l.wo, &mut l.w_gate, &mut l.w_up, &mut l.w_down] {
                let (codes, cols) = (&mut p.w.codes, p.w.cols);
                match from {
                    I2sLayout::Block128 => {}
                    I2sLayout::Block64 => relayout::to_block64(codes),
                    I2sLayout::Rows4 => relayout::to_rows4(codes, cols),
                }
                match to {
                    I2sLayout::Block128 => {}
                    I2sLayout::Block64 => relayout::from_block64(codes),
                    I2sLayout::Rows4 => relayout::from_rows4(codes, cols),
                }
            }
        }
    }
}
