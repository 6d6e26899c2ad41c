//! `bitnet-web perplexity`: how well a model predicts a text, computed as llama.cpp's `perplexity`
//! tool does, so the two can be compared on the same file. The tokens are cut into windows of the
//! context length; each window starts with BOS and runs as one batch, and only its second half is
//! scored (each of those tokens has at least half a window of context). `--score all` scores every
//! prediction in the window instead, as a training loop's validation loss does: that is how
//! tests/suite/cli.rs checks it against the PyTorch model's recorded loss on its held-out split. The head
//! is the stored one unless `--head` says otherwise: this is a measurement.

use bitnet_web::engine::Engine;

use crate::files::CliError;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Score {
    SecondHalf,
    All,
}

/// Token ids written as decimal numbers, each below `n_vocab`.
pub fn parse_ids(text: &str, n_vocab: usize) -> Result<Vec<u32>, CliError> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<u32>() {
            Ok(id) if (id as usize) < n_vocab => Ok(id),
            _ => Err(CliError::Usage(format!("'{s}' is not a token id of this model (0..{n_vocab})"))),
        })
        .collect()
}

/// The perplexity and the number of tokens scored.
pub fn perplexity(engine: &mut Engine, tokens: &[u32], ctx: usize, score: Score) -> Result<(f64, usize), CliError> {
    if ctx < 4 {
        return Err(CliError::Usage(format!("--ctx {ctx} is too small to score half a window")));
    }
    let windows = tokens.len() / ctx;
    if windows == 0 {
        return Err(CliError::Usage(format!("the text has {} tokens, fewer than one window of --ctx {ctx}", tokens.len())));
    }
    let n_vocab = engine.config().n_vocab;
    let (mut nll, mut scored) = (0f64, 0usize);
    for w in 0..windows {
        let mut window = tokens[w * ctx..(w + 1) * ctx].to_vec();
        if let Some(bos) = engine.tokenizer.bos {
            window[0] = bos;
        }
        let logits = engine.evaluate(&window)?;
        let first = if score == Score::All { 0 } else { ctx / 2 };
        for j in first..ctx - 1 {
            let row = &logits[j * n_vocab..(j + 1) * n_vocab];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max + row.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln();
            nll += lse - row[window[j + 1] as usize] as f64;
            scored += 1;
        }
        eprintln!("[window {}/{windows}] running perplexity {:.4}", w + 1, (nll / scored as f64).exp());
    }
    let ppl = (nll / scored as f64).exp();
    if !ppl.is_finite() {
        return Err(bitnet_web::engine::EngineError::NonFiniteLogits { what: "non-finite" }.into());
    }
    Ok((ppl, scored))
}
