//! The embedded default model (www/models/bitnet-tiny-chat.i2_s.gguf, made by train/) against its
//! PyTorch model's own eval-mode logits (tests/fixtures/embedded/), and a chat with it.
//! Runs natively and in headless Chromium.
//!
//! The bar is 1e-3 relative error per position, widened only to what the reference itself proves
//! unavoidable: each sequence rounds ~10^5 activations to int8 and a few sit within 4e-6 of a .5
//! boundary, so f32 summation order alone can round them the other way. train/ measured that
//! effect by re-running PyTorch with every activation within 1e-4 of a boundary flipped
//! (`flip_probes`); the engine must stay within 1.25x of it and pick the same argmax everywhere.

use std::ops::ControlFlow;

use bitnet_web::chat::Message;
use bitnet_web::engine::{Engine, EngineOptions, FinishReason, GenerateParams, Prompt};
use bitnet_web::kernels::KernelKind;
use bitnet_web::model::{ForwardOptions, HeadPrecision, KvCache, KvPrecision, LoadOptions, Logits};
use bitnet_web::sampler::SamplerParams;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// See `tests/common/reference.rs`, which holds the HF cases to the same bound.
const INT8_HEAD_TOLERANCE: f32 = 3e-2;

const MODEL: &[u8] = include_bytes!("../../www/models/bitnet-tiny-chat.i2_s.gguf");
const REFERENCE: &str = include_str!("../fixtures/embedded/reference.json");
const LOGITS: &[(&str, &[u8])] = &[
    ("chat_prompt.logits.f32", include_bytes!("../fixtures/embedded/chat_prompt.logits.f32")),
    ("chat_system.logits.f32", include_bytes!("../fixtures/embedded/chat_system.logits.f32")),
    ("prose.logits.f32", include_bytes!("../fixtures/embedded/prose.logits.f32")),
];

#[test]
fn logits_match_the_pytorch_model() {
    let stored = EngineOptions { load: LoadOptions { head: HeadPrecision::Stored, ..Default::default() }, ..Default::default() };
    let engine = Engine::load(MODEL, stored).unwrap();
    let model = engine.model().unwrap();
    let c = &model.config;
    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let sequences = reference["sequences"].as_array().unwrap();
    assert_eq!(sequences.len(), LOGITS.len());
    for seq in sequences {
        let tokens: Vec<u32> = seq["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let file = seq["file"].as_str().unwrap();
        let flip = seq["flip_probes"]["0.0001"]["max_rel_diff"].as_f64().unwrap() as f32;
        let tolerance = 1e-3f32.max(1.25 * flip);
        assert!(tolerance < 2e-2, "{file}: the reference is too sensitive to rounding to test against");
        let want: Vec<f32> = LOGITS.iter().find(|(n, _)| *n == file).unwrap().1
            .chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        for kernel in KernelKind::available() {
            let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, tokens.len(), KvPrecision::F32);
            let got = model.forward(&mut cache, &tokens, Logits::All, ForwardOptions { kernel }).unwrap();
            assert_eq!(got.len(), want.len());
            let mut worst = 0f32;
            for (row, (g, w)) in got.chunks(c.n_vocab).zip(want.chunks(c.n_vocab)).enumerate() {
                let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                let err = g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
                worst = worst.max(err);
                assert!(err <= tolerance, "{file} row {row} ({}): relative error {err:.2e} > {tolerance:.2e}", kernel.name());
                assert_eq!(bitnet_web::sampler::argmax(g), bitnet_web::sampler::argmax(w), "{file} row {row}");
            }
            println!("{file} ({}): max relative error {worst:.2e}, tolerance {tolerance:.2e}", kernel.name());
        }
    }
}

/// The int8 LM head against the same PyTorch logits: how far rounding the head's rows and the
/// final hidden state to 8 bits moves them, and whether the top token survives.
#[test]
fn int8_head_stays_close_to_the_pytorch_model() {
    let int8 = EngineOptions { load: LoadOptions { head: HeadPrecision::Int8, ..Default::default() }, ..Default::default() };
    let engine = Engine::load(MODEL, int8).unwrap();
    let model = engine.model().unwrap();
    assert_eq!(model.head_name(), "int8");
    let kernel = KernelKind::best();
    let c = &model.config;
    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let (mut worst, mut same_top, mut positions) = (0f32, 0, 0);
    for seq in reference["sequences"].as_array().unwrap() {
        let tokens: Vec<u32> = seq["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let file = seq["file"].as_str().unwrap();
        let want: Vec<f32> = LOGITS.iter().find(|(n, _)| *n == file).unwrap().1
            .chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, tokens.len(), KvPrecision::F32);
        let got = model.forward(&mut cache, &tokens, Logits::All, ForwardOptions { kernel }).unwrap();
        for (g, w) in got.chunks(c.n_vocab).zip(want.chunks(c.n_vocab)) {
            let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            worst = worst.max(g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale);
            same_top += (bitnet_web::sampler::argmax(g) == bitnet_web::sampler::argmax(w)) as usize;
            positions += 1;
        }
    }
    println!("int8 head: max relative error {worst:.2e}, top-1 equal at {same_top}/{positions} positions");
    assert!(worst <= INT8_HEAD_TOLERANCE, "int8 head: relative error {worst:.2e}");
    assert!(same_top * 100 >= positions * 95, "int8 head: top-1 equal at only {same_top}/{positions} positions");
}

/// The shortlist head (the default for this tied head) against the stored one (which
/// `logits_match_the_pytorch_model` holds to PyTorch): the PyTorch model's ten most likely tokens at
/// every position must have been shortlisted and scored exactly as the stored head scores them; the
/// rest are 4-bit estimates (rows of only 256 weights keep them coarse: 3.2e-1 of the largest logit
/// at worst here).
#[test]
fn shortlist_head_scores_the_likely_tokens_as_stored() {
    let load = |head| Engine::load(MODEL, EngineOptions { load: LoadOptions { head, ..Default::default() }, ..Default::default() }).unwrap();
    let (shortlist, stored, int8) = (load(HeadPrecision::Auto), load(HeadPrecision::Stored), load(HeadPrecision::Int8));
    assert_eq!(shortlist.stats().head, "int4→f16");
    // The embedding is tied, so the exact rows cost nothing: less memory than the int8 copy.
    assert!(shortlist.model().unwrap().memory_bytes() < int8.model().unwrap().memory_bytes());
    let c = stored.config();
    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let (mut worst, mut positions) = (0f32, 0);
    for seq in reference["sequences"].as_array().unwrap() {
        let tokens: Vec<u32> = seq["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let file = seq["file"].as_str().unwrap();
        let want: Vec<f32> = LOGITS.iter().find(|(n, _)| *n == file).unwrap().1
            .chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        for kernel in KernelKind::available() {
            let run = |engine: &Engine| {
                let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, tokens.len(), KvPrecision::F32);
                engine.model().unwrap().forward(&mut cache, &tokens, Logits::All, ForwardOptions { kernel }).unwrap()
            };
            let (got, exact) = (run(&shortlist), run(&stored));
            let rows = got.chunks(c.n_vocab).zip(exact.chunks(c.n_vocab)).zip(want.chunks(c.n_vocab));
            for (row, ((g, e), w)) in rows.enumerate() {
                for r in bitnet_web::kernels::best_rows(w, 10) {
                    assert_eq!(g[r].to_bits(), e[r].to_bits(), "{file} row {row} token {r} ({})", kernel.name());
                }
                assert_eq!(bitnet_web::sampler::argmax(g), bitnet_web::sampler::argmax(w), "{file} row {row}");
                let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                worst = worst.max(g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale);
                positions += 1;
            }
        }
    }
    println!("shortlist head: 4-bit estimates within {worst:.2e} of the largest logit, over {positions} positions");
    assert!(worst <= 0.5, "4-bit estimates: relative error {worst:.2e}");
}

#[test]
fn it_answers_a_greeting_in_the_chat_format_and_stops() {
    let mut engine = Engine::load(MODEL, EngineOptions::default()).unwrap();
    assert_eq!(engine.config().arch_name, "bitnet-b1.58");
    let prompt = Prompt::Chat(vec![Message::new("user", "Hello!")]);
    let params = GenerateParams { max_tokens: 60, sampler: SamplerParams::greedy(), ..Default::default() };
    let done = engine.generate(&prompt, params, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(done.finish_reason, FinishReason::Stop, "it ends its turn with <|eot_id|>: {:?}", done.text);
    let words = done.text.split_whitespace().count();
    assert!(words >= 2 && done.text.chars().all(|c| c.is_ascii() && !c.is_ascii_control() || c == '\n'), "{:?}", done.text);
}
