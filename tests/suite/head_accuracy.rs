//! The measured proof for the default LM head (`lmHead: "auto"`: the 4-bit shortlist for a tied
//! head, int8 for a separate one) against the stored head, on the embedded model and the seven HF
//! reference models, over 1024 positions each (64-token windows of the tokenizer suite's strings):
//! top-1 agreement, how far the distribution sampling draws from (temperature 0.7, top-p 0.9) moves
//! (total variation, and KL at temperature 0.7), and the perplexity change. The figures print
//! (`cargo test --release --test head_accuracy -- --nocapture`) and are in pkg/README.md beside the
//! option; the bounds below are what the default must keep. The same measurement states what int8
//! embeddings (`embeddings: "int8"`, automatic only when a model fits no other way) cost.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use bitnet_web::engine::{Engine, EngineOptions};
use bitnet_web::model::{EmbeddingPrecision, ForwardOptions, HeadPrecision, KvCache, KvPrecision, LoadOptions, Logits};

use common::EVERY_MODEL as MODELS;
const WINDOW: usize = 64;
const POSITIONS: usize = 1024;

/// The sampling distribution at temperature 0.7 with top-p 0.9: (token, probability), most likely
/// first, renormalised over the nucleus.
fn nucleus(logits: &[f32]) -> Vec<(usize, f64)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut p: Vec<(usize, f64)> = logits.iter().enumerate().map(|(i, &l)| (i, ((l as f64 - max) / 0.7).exp())).collect();
    let sum: f64 = p.iter().map(|x| x.1).sum();
    p.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut acc = 0.0;
    let keep = p.iter().position(|x| {
        acc += x.1 / sum;
        acc >= 0.9
    });
    p.truncate(keep.map_or(p.len(), |i| i + 1));
    let kept: f64 = p.iter().map(|x| x.1).sum();
    p.iter().map(|&(i, x)| (i, x / kept)).collect()
}

/// KL(p‖q) of the softmaxes of two logit rows at temperature 0.7.
fn tempered_kl(a: &[f32], b: &[f32]) -> f64 {
    let soft = |l: &[f32]| {
        let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let e: Vec<f64> = l.iter().map(|&x| ((x as f64 - max) / 0.7).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(move |x| x / s)
    };
    soft(a).zip(soft(b)).filter(|(p, _)| *p > 0.0).map(|(p, q)| p * (p / q).ln()).sum()
}

fn log_softmax_at(logits: &[f32], t: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    logits[t] as f64 - max - logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln()
}

fn load(path: &str, load: LoadOptions) -> Engine {
    Engine::load(&std::fs::read(path).unwrap(), EngineOptions { load, ..Default::default() }).unwrap()
}

fn stored() -> LoadOptions {
    LoadOptions { head: HeadPrecision::Stored, ..Default::default() }
}

/// Runs every model with the stored head and with `variant`, prints a table row per model, and
/// returns (name, top-1 agreement %, mean TV, max TV, mean KL) per model.
fn compare(label: &str, variant: LoadOptions) -> Vec<(String, f64, f64, f64, f64)> {
    // Text: the tokenizer suite's 359 strings (prose, code, unicode, digits), repeated as needed.
    let cases: serde_json::Value = serde_json::from_str(include_str!("../fixtures/llama3_tokenizer_cases.json")).unwrap();
    let text: String = cases["cases"].as_array().unwrap().iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n");
    println!("| model | {label} | positions | top-1 agreement | nucleus (T 0.7, top-p 0.9) differs | mean / max TV of the nucleus | mean KL at T 0.7 | perplexity stored → {label} |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut out = Vec::new();
    for path in MODELS {
        let (exact, default) = (load(path, stored()), load(path, variant));
        let mut tokens = exact.tokenizer.encode(&text, false);
        while tokens.len() < POSITIONS + WINDOW {
            tokens.extend_from_within(..);
        }
        let c = exact.config();
        let mut max_tv = 0f64;
        let (mut same_top, mut kl, mut tv, mut differs, mut nll_exact, mut nll_default, mut n) = (0, 0f64, 0f64, 0, 0f64, 0f64, 0);
        for window in tokens.chunks_exact(WINDOW).take(POSITIONS / WINDOW) {
            let run = |e: &Engine| {
                let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, WINDOW, KvPrecision::F32);
                e.model().unwrap().forward(&mut cache, window, Logits::All, ForwardOptions::default()).unwrap()
            };
            let (a, b) = (run(&exact), run(&default));
            for (j, (ra, rb)) in a.chunks(c.n_vocab).zip(b.chunks(c.n_vocab)).enumerate() {
                n += 1;
                same_top += usize::from(bitnet_web::sampler::argmax(ra) == bitnet_web::sampler::argmax(rb));
                let (p, q) = (nucleus(ra), nucleus(rb));
                if p.iter().map(|x| x.0).ne(q.iter().map(|x| x.0)) {
                    differs += 1;
                }
                // Total variation between the two nucleus distributions (what sampling draws from),
                // and KL between the full distributions at temperature 0.7 (finite on any support).
                let q_at = |t: usize| q.iter().find(|x| x.0 == t).map_or(0.0, |x| x.1);
                let p_at = |t: usize| p.iter().find(|x| x.0 == t).map_or(0.0, |x| x.1);
                let this_tv = 0.5 * (p.iter().map(|&(t, pt)| (pt - q_at(t)).abs()).sum::<f64>() + q.iter().filter(|x| p_at(x.0) == 0.0).map(|x| x.1).sum::<f64>());
                tv += this_tv;
                max_tv = max_tv.max(this_tv);
                kl += tempered_kl(ra, rb);
                if j + 1 < WINDOW {
                    nll_exact -= log_softmax_at(ra, window[j + 1] as usize);
                    nll_default -= log_softmax_at(rb, window[j + 1] as usize);
                }
            }
        }
        let scored = (n - n / WINDOW) as f64;
        let (ppl_a, ppl_b) = ((nll_exact / scored).exp(), (nll_default / scored).exp());
        let name = path.rsplit('/').next().unwrap();
        let top1 = 100.0 * same_top as f64 / n as f64;
        let mean_kl = kl / n as f64;
        let mean_tv = tv / n as f64;
        println!(
            "| {name} | {} | {n} | {top1:.2} % | {:.1} % | {mean_tv:.2e} / {max_tv:.2e} | {mean_kl:.2e} | {ppl_a:.1} → {ppl_b:.1} ({:+.2} %) |",
            default.stats().head,
            100.0 * differs as f64 / n as f64,
            100.0 * (ppl_b / ppl_a - 1.0)
        );
        assert!(n >= 1000);
        out.push((name.to_string(), top1, mean_tv, max_tv, mean_kl));
    }
    out
}

#[test]
fn the_default_head_keeps_what_sampling_sees() {
    for (name, top1, mean_tv, max_tv, mean_kl) in compare("default head", LoadOptions::default()) {
        // Greedy decoding must not change; what sampling draws from may move by little. Perplexity
        // is not what the default is for (the tail's logits are 4-bit estimates, and moved it by
        // up to 10 % on these random models): `logits` and `perplexity` use the stored head.
        assert!(top1 >= 99.5, "{name}: top-1 agreement {top1:.2} %");
        assert!(mean_tv < 0.01 && max_tv < 0.1, "{name}: total variation {mean_tv:e} (max {max_tv:e})");
        assert!(mean_kl < 5e-3, "{name}: mean KL {mean_kl:e}");
    }
}

/// Int8 embeddings (and head) against everything as stored: the price of fitting a 7-10B model
/// into wasm32, which `embeddings: "auto"` pays only when nothing else fits. It is a real price:
/// every token's input moves, not only the logits' tail. On the trained embedded model greedy
/// decoding keeps 99.4 % of its tokens and perplexity moves by 0.4 %; the random HF models, whose
/// logits are nearly flat (perplexities of 10^3 to 10^7), keep 93-96 %.
#[test]
fn int8_embeddings_cost_what_the_readme_says() {
    let int8 = LoadOptions { embeddings: EmbeddingPrecision::Int8, ..Default::default() };
    for (name, top1, mean_tv, _, mean_kl) in compare("int8 embeddings", int8) {
        let trained = name.starts_with("bitnet-tiny-chat");
        assert!(top1 >= if trained { 99.0 } else { 90.0 }, "{name}: top-1 agreement {top1:.2} %");
        assert!(mean_tv < if trained { 0.02 } else { 0.08 }, "{name}: total variation {mean_tv:e}");
        assert!(mean_kl < if trained { 2e-3 } else { 0.03 }, "{name}: mean KL {mean_kl:e}");
    }
}
