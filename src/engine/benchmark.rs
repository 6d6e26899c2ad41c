//! "Benchmark this device" (issue 33): what this machine does with the model loaded, so that a user
//! knows before a long chat. At a given thread count: prefill of a prompt from an empty cache, greedy
//! decode steps after it, the rate at which the model's weights stream from memory
//! (`kernels::bandwidth`), and the decode bound that rate sets (bandwidth ÷ the bytes a decoded token
//! reads, `Model::decode_bytes`). The page runs it at 1..N threads (`engine.benchmark()`).

use serde::Serialize;

use super::{Engine, EngineError, now_ms};
use crate::kernels::{bandwidth, limit_threads, pool_threads};
use crate::model::ForwardOptions;

/// The prompt's text, repeated to the length asked: plain English, as a chat's prompt is.
const TEXT: &str = "BitNet b1.58 stores every weight as minus one, zero or plus one, so a browser tab can hold a \
    language model and answer without a server. ";

/// One run: figures per second, `None` where they do not apply (no decode for an embedding model;
/// no host bandwidth when the weights are on a GPU).
#[derive(Clone, Debug, Serialize)]
pub struct BenchRun {
    pub threads: usize,
    pub prompt_tokens: usize,
    pub prefill_tok_s: f64,
    pub gen_tokens: usize,
    pub decode_tok_s: Option<f64>,
    /// GB/s at which the ternary weights were read (best of a few passes).
    pub read_gb_s: Option<f64>,
    /// Bytes a decoded token reads.
    pub decode_bytes: Option<usize>,
    /// `read_gb_s` over `decode_bytes`: the decode speed memory allows.
    pub bound_tok_s: Option<f64>,
}

impl Engine {
    /// One run at `threads` threads (at most the engine's; the kernels are limited for the run only):
    /// `prompt` tokens of prefill from an empty cache, then `steps` greedy decode steps (an embedding
    /// model embeds the prompt instead, and has no decode), then the weights' read rate. The
    /// conversation cache is forgotten. Bounded: the prompt and the steps fit the context.
    pub async fn benchmark(&mut self, threads: usize, prompt: usize, steps: usize) -> Result<BenchRun, EngineError> {
        self.weights_here()?;
        let threads = threads.clamp(1, pool_threads());
        let embedding = self.config().pooling.is_some();
        let max = self.max_context();
        let steps = if embedding { 0 } else { steps.min(max / 2) };
        let prompt = prompt.clamp(1, max - steps);
        let once = self.tokenizer.encode(TEXT, false);
        let tokens: Vec<u32> = match once.is_empty() {
            true => vec![0; prompt],
            false => once.iter().copied().cycle().take(prompt).collect(),
        };
        limit_threads(Some(threads));
        let run = self.timed(&tokens, steps).await;
        limit_threads(None);
        self.reset();
        let (prefill_ms, decode_ms) = run?;
        let read_gb_s = self.model().map(|m| {
            limit_threads(Some(threads));
            let gb_s = read_rate(&m.ternary_bytes());
            limit_threads(None);
            gb_s
        });
        let decode_bytes = self.model().map(|m| m.decode_bytes());
        let per_s = |n: usize, ms: f64| n as f64 / (ms.max(1e-3) / 1000.0);
        Ok(BenchRun {
            threads,
            prompt_tokens: prompt,
            prefill_tok_s: per_s(prompt, prefill_ms),
            gen_tokens: steps,
            decode_tok_s: (steps > 0).then(|| per_s(steps, decode_ms)),
            read_gb_s,
            decode_bytes,
            bound_tok_s: read_gb_s.zip(decode_bytes).map(|(r, b)| r * 1e9 / b.max(1) as f64),
        })
    }

    /// `benchmark`, for a backend that answers at once (the CPU; natively also the GPU).
    pub fn benchmark_now(&mut self, threads: usize, prompt: usize, steps: usize) -> Result<BenchRun, EngineError> {
        super::now(self.benchmark(threads, prompt, steps))
    }

    /// Milliseconds of the prefill of `tokens` and of `steps` greedy steps after it.
    async fn timed(&mut self, tokens: &[u32], steps: usize) -> Result<(f64, f64), EngineError> {
        self.reset();
        let t0 = now_ms();
        if self.config().pooling.is_some() {
            self.compute.embed_batch(&[tokens], ForwardOptions { kernel: self.kernel }).await?;
            return Ok((now_ms() - t0, 0.0));
        }
        let mut logits = self.forward(tokens, None).await?;
        let t1 = now_ms();
        for _ in 0..steps {
            let next = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i as u32);
            logits = self.forward(&[next], None).await?;
        }
        Ok((t1 - t0, now_ms() - t1))
    }
}

/// GB/s reading `parts` at the kernels' thread count: the best of 3 samples, each as many whole
/// passes as take at least 20 ms, after one pass that brings them in. A browser's clock may tick in
/// whole milliseconds: timing single passes, Firefox saw the embedded model's 2 MB pass take 0 ms
/// and reported 1573 GB/s.
fn read_rate(parts: &[&[u8]]) -> f64 {
    let bytes: usize = parts.iter().map(|p| p.len()).sum();
    let mut sink = bandwidth::read_sum(parts);
    let mut best = 0f64;
    for _ in 0..3 {
        let (start, mut passes) = (now_ms(), 0usize);
        while passes == 0 || now_ms() - start < 20.0 {
            sink = sink.wrapping_add(bandwidth::read_sum(parts));
            passes += 1;
        }
        best = best.max((passes * bytes) as f64 / ((now_ms() - start) / 1000.0) / 1e9);
    }
    std::hint::black_box(sink);
    best
}
