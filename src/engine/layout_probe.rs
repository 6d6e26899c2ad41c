//! Telling an I2_S file's packing from its weights, when neither the caller nor the file says it.
//!
//! Why: ARM builds of bitnet.cpp (since 2025-11) pack I2_S 64/16, x86 builds and the official files 128/32,
//! x86 builds configured without `ACT_PARALLEL` 1×4, and the file does not say which (`model::i2s_layout`). Read the wrong way, a model still runs, and
//! answers in fluent-looking garbage. A trained model read the right way predicts ordinary English far
//! better than chance; read the wrong way, each projection sees its inputs shuffled, and it does no
//! better than chance. So the engine scores one sentence each way and keeps the clearly better reading.
//!
//! Cost: one forward pass over the sentence (about 30 tokens) when 128/32 reads well, as an official file
//! should (on the GPU, which holds one reading, that pass is all: a clear win over chance settles it, else
//! a warning names the CPU, which tries every reading); a pass for each other reading and the reshuffles between them (`quant::relayout`: eight masks
//! and shifts a word in place for 64/16, a copy of each matrix for 1×4) only when it does not. A model that reads badly both ways (a random test
//! model, a broken file) keeps 128/32 with a warning that names the option to set.

use crate::gguf::Gguf;
use crate::model::i2s_layout::{self, LayoutSource};
use crate::quant::I2sLayout;

use super::{Engine, EngineError, Prompt};

/// Ordinary English, not from any training set in the tree.
const SENTENCE: &str = "The sun rose over the quiet town, and the children walked to school. \
    They talked about their friends, their books and the games they would play after class.";

/// A reading that predicts the sentence at most this share of ln(vocabulary) nats a token is a trained
/// model read right, and the probe stops there: a misread one scores about ln(vocabulary) or worse. (For
/// scale, not measured here, where no 2B weights can be had: language models of 2B4T's size score ordinary
/// English at perplexities of about 7-20, 2-3 nats a token, against ln 128256 = 11.8.)
const READS_WELL: f32 = 0.6;
/// Otherwise both readings are scored, and one is chosen only if it beats chance (ln vocabulary) and the
/// other by this many nats a token. Measured (tests/suite/layout_probe.rs): the embedded 4096-token model,
/// too small to read this sentence well, costs 6.04 read right and 8.39 misread (chance 8.32); HF's tiny
/// random model 12.9 and 14.8, both worse than its chance of 5.7, so it decides nothing.
const CLEARLY: f32 = 1.0;

/// Which I2_S packing the engine runs, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutDecision {
    pub layout: I2sLayout,
    /// One sentence a person can check.
    pub reason: String,
    /// Set when the packing rests on an assumption the weights did not confirm.
    pub warning: Option<String>,
    /// The weights decided it, clearly, on the test sentence: what a kept copy can remember
    /// (`LoadOptions::i2s_layout_found`), so that its next load skips the probe.
    pub probed: bool,
}

/// 128/32 because nothing else can be known, and why.
pub(super) fn assumed(why: impl std::fmt::Display) -> LayoutDecision {
    LayoutDecision { layout: I2sLayout::Block128, reason: format!("128/32 I2_S, the official files' packing, assumed: {why}"), warning: None, probed: false }
}

fn name(l: I2sLayout) -> &'static str {
    l.name()
}

/// Decides from what is said (the caller, the file) and from what the header rules out; `Ok(None)` for a
/// file without I2_S. The second value is whether the weights are still to be probed (`probe`), which
/// the engine does once they can all be read (`Engine::settle_i2s_layout`).
pub(super) fn at_load(engine: &Engine, g: &Gguf, chosen: Option<I2sLayout>, found: Option<I2sLayout>) -> Result<(Option<LayoutDecision>, bool), EngineError> {
    if !g.tensors.iter().any(|t| t.ty == crate::gguf::TensorType::I2_S) {
        return Ok((None, false));
    }
    let choice = i2s_layout::choose(g, chosen, found)?;
    let said = |reason: String| Ok((Some(LayoutDecision { layout: choice.layout, reason, warning: None, probed: false }), false));
    match choice.source {
        LayoutSource::Caller => return said(format!("{} I2_S, as the caller chose", name(choice.layout))),
        LayoutSource::File => return said(format!("{} I2_S, as the file's '{}' says", name(choice.layout), i2s_layout::BLOCK_KEY)),
        LayoutSource::Found => {
            return said(format!("{} I2_S, as a test sentence showed when this kept copy was first loaded (not tried again)", name(choice.layout)))
        }
        LayoutSource::Assumed => {}
    }
    // On the GPU the one reading it holds is scored (`probe`), and the others are not tried.
    let unprobed = if engine.config().pooling.is_some() {
        Some("an embedding model has no next-token scores to probe with".to_string())
    } else {
        i2s_layout::rereadable(g).err()
    };
    Ok(match unprobed {
        Some(why) => (Some(assumed(why)), false),
        None => (Some(assumed("not yet tried on a sentence")), true),
    })
}

/// Scores a test sentence with the weights read 128/32 and, unless that reads well, 64/16, and keeps
/// the reading that clearly wins, else 128/32 with a warning.
pub(super) async fn probe(engine: &mut Engine) -> LayoutDecision {
    let said = |layout, reason: String| LayoutDecision { layout, reason, warning: None, probed: true };
    let mut tokens = match engine.encode_prompt(&Prompt::Text(SENTENCE.into())) {
        Ok(t) => t,
        Err(e) => return assumed(format!("the test sentence did not tokenize ({e})")),
    };
    tokens.truncate(engine.max_context());
    if tokens.len() < 8 {
        return assumed(format!("a context of {} tokens is too short to probe with", engine.max_context()));
    }
    let ln_vocab = (engine.config().n_vocab as f32).ln();
    let nll128 = nll(engine, &tokens).await;
    if nll128 <= READS_WELL * ln_vocab {
        return said(I2sLayout::Block128, format!("128/32 I2_S: read so, the model predicts a test sentence at {nll128:.2} nats a token (chance: {ln_vocab:.1})"));
    }
    if engine.model().is_none() {
        // The GPU holds the weights read one way, and no second reading: a clear win over chance
        // settles it (every misread measured scores at chance or worse); anything else is a warning.
        if nll128 + CLEARLY <= ln_vocab {
            return said(I2sLayout::Block128, format!(
                "128/32 I2_S: read so, a test sentence costs {nll128:.2} nats a token, clearly better than chance \
                 ({ln_vocab:.1}); the GPU holds one reading, so the others were not tried"
            ));
        }
        return LayoutDecision {
            layout: I2sLayout::Block128,
            reason: "128/32 I2_S, the official files' packing, assumed".into(),
            probed: false,
            warning: Some(format!(
                "the weights do not say how this I2_S file is packed, and read 128/32 (the one reading the GPU holds) \
                 a test sentence costs {nll128:.2} nats a token (chance: {ln_vocab:.1}); if its replies are garbage, \
                 load it on the CPU (device: \"cpu\"), which tries every reading, or with i2sLayout: 64 or \"1x4\" \
                 (CLI: --i2s-layout 64 or 1x4)"
            )),
        };
    }
    // The other readings, each from the one before (1×4 only where every matrix has its rows in fours).
    let mut scores = vec![(I2sLayout::Block128, nll128)];
    let mut now = I2sLayout::Block128;
    let others: &[I2sLayout] = if engine.rows_in_fours { &[I2sLayout::Block64, I2sLayout::Rows4] } else { &[I2sLayout::Block64] };
    for &l in others {
        engine.compute.reread_i2s(now, l);
        now = l;
        scores.push((l, nll(engine, &tokens).await));
    }
    let read = |&(l, v): &(I2sLayout, f32)| if l == I2sLayout::Block128 { format!("{v:.2} nats a token read 128/32") } else { format!("{v:.2} read {}", l.name()) };
    let both = format!("{} (chance: {ln_vocab:.1})", scores.iter().map(read).collect::<Vec<_>>().join(", "));
    // The best reading wins where it beats chance and every other clearly.
    let best = scores.iter().copied().filter(|v| !v.1.is_nan()).min_by(|a, b| a.1.total_cmp(&b.1));
    let winner = best.filter(|&(l, v)| v < ln_vocab && scores.iter().all(|&(m, w)| m == l || v + CLEARLY <= w)).map(|w| w.0);
    let keep = winner.unwrap_or(I2sLayout::Block128);
    engine.compute.reread_i2s(now, keep);
    match winner {
        Some(I2sLayout::Block64) => said(I2sLayout::Block64, format!("64/16 I2_S, as bitnet.cpp's ARM builds since 2025-11 pack it: a test sentence costs {both}")),
        Some(I2sLayout::Rows4) => said(I2sLayout::Rows4, format!("1×4 I2_S, as bitnet.cpp's x86 builds without ACT_PARALLEL pack it: a test sentence costs {both}")),
        Some(I2sLayout::Block128) => said(I2sLayout::Block128, format!("128/32 I2_S, the official files' packing: a test sentence costs {both}")),
        None => LayoutDecision {
            layout: I2sLayout::Block128,
            reason: "128/32 I2_S, the official files' packing, assumed".into(),
            probed: false,
            warning: Some(format!(
                "the weights do not say how this I2_S file is packed (a test sentence costs {both}), so it runs 128/32, \
                 the official files' packing; if its replies are garbage, load it with i2sLayout: 64 or \"1x4\" (CLI: \
                 --i2s-layout 64 or 1x4)"
            )),
        },
    }
}

/// The mean negative log-likelihood of each token after the first, in nats; NaN where the forward pass
/// fails (non-finite weights, which generation then names as its typed error): such a model decides nothing.
async fn nll(engine: &mut Engine, tokens: &[u32]) -> f32 {
    let Ok(logits) = engine.evaluate_async(tokens).await else { return f32::NAN };
    let v = engine.config().n_vocab;
    let mut sum = 0.0f64;
    for (i, &next) in tokens.iter().enumerate().skip(1) {
        let row = &logits[(i - 1) * v..i * v];
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let lse = max as f64 + row.iter().map(|&x| ((x - max) as f64).exp()).sum::<f64>().ln();
        sum += lse - row[next as usize] as f64;
    }
    (sum / (tokens.len() - 1).max(1) as f64) as f32
}
