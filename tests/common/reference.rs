//! The HF reference cases (tests/fixtures/reference/manifest.json) and the check each must pass.

use bitnet_web::kernels::{KernelKind, best_rows};
use bitnet_web::model::{ForwardOptions, HeadPrecision, KvCache, KvPrecision, LoadOptions, Logits, load_bytes};
use serde_json::Value as Json;

pub struct Case {
    pub gguf: String,
    pub logits: String,
    pub tokens: Vec<u32>,
    pub n_vocab: usize,
    pub greedy_prompt: Vec<u32>,
    pub greedy_tokens: Vec<u32>,
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn manifest(text: &str) -> Vec<Case> {
    let m: Json = serde_json::from_str(text).unwrap();
    let mut out = Vec::new();
    for model in m["models"].as_array().unwrap() {
        for c in model["cases"].as_array().unwrap() {
            out.push(Case {
                gguf: c["gguf"].as_str().unwrap().into(),
                logits: c["logits"].as_str().unwrap().into(),
                tokens: ids(&c["tokens"]),
                n_vocab: c["n_vocab"].as_u64().unwrap() as usize,
                greedy_prompt: ids(&c["greedy_prompt"]),
                greedy_tokens: ids(&c["greedy_tokens"]),
            });
        }
    }
    out
}

/// Max over positions of max|ours - hf| / max|hf| (the manifest's `rel_err_definition`).
pub fn rel_err(ours: &[f32], hf: &[f32], n_vocab: usize) -> f32 {
    ours.chunks(n_vocab)
        .zip(hf.chunks(n_vocab))
        .map(|(o, h)| {
            let scale = h.iter().fold(0f32, |m, v| m.max(v.abs()));
            o.iter().zip(h).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
        })
        .fold(0f32, f32::max)
}

pub fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0 as u32
}

/// How far the int8 LM head may move logits from HF's (relative to the largest logit). The head's
/// rows and the hidden state are each rounded to 8 bits, so the error is about 1/127 of a logit's
/// scale spread over `n_embd` roundings; `int8_head_effect` measures the actual figures.
pub const INT8_HEAD_TOLERANCE: f32 = 3e-2;

/// How far the shortlist head's 4-bit estimates (the logits outside its `CANDIDATES`) may be from
/// HF's. They only rank rows and fill the tail of the distribution: 7 steps per sign per block of
/// 64 weights and int8 activations leave 13-18 % of the largest logit on the random tiny models
/// (their near-Gaussian heads make small logits); the exact check is on HF's top 10.
pub const INT4_ESTIMATE_TOLERANCE: f32 = 2.5e-1;

/// Max over positions of the relative error of HF's ten largest logits: the ones that sampling
/// picks from, which the shortlist head must have among its candidates and score exactly.
fn top_rel_err(ours: &[f32], hf: &[f32], n_vocab: usize) -> f32 {
    ours.chunks(n_vocab)
        .zip(hf.chunks(n_vocab))
        .map(|(o, h)| {
            let scale = h.iter().fold(0f32, |m, v| m.max(v.abs()));
            best_rows(h, 10).into_iter().fold(0f32, |m, r| m.max((o[r] - h[r]).abs())) / scale
        })
        .fold(0f32, f32::max)
}

/// Loads the GGUF, compares all-position logits (prefill in one batch, and token by token through
/// the KV cache), then greedy-decodes 32 tokens. Returns a one-line report.
///
/// With the head as stored, logits must match HF to 1e-3 and every greedy token must be HF's. The
/// int8 head is held to `INT8_HEAD_TOLERANCE`, and its greedy tokens are only counted: the random
/// tiny models have near-ties that a rounded head may break the other way. The shortlist head must
/// give the stored head's figures on HF's ten best logits at every position (which it must have
/// shortlisted), and so HF's greedy tokens, and `INT4_ESTIMATE_TOLERANCE` for the rest.
pub fn check_case(case: &Case, gguf: &[u8], hf_logits: &[u8], kernel: KernelKind, head: HeadPrecision) -> Result<String, String> {
    check_case_with(case, gguf, hf_logits, kernel, LoadOptions { head, ..Default::default() })
}

/// [`check_case`] with load options of the caller's (`opts.head` is the head checked).
pub fn check_case_with(case: &Case, gguf: &[u8], hf_logits: &[u8], kernel: KernelKind, opts: LoadOptions) -> Result<String, String> {
    let head = opts.head;
    let (model, _) = load_bytes(gguf, opts).map_err(|e| e.to_string())?;
    let tolerance = match head {
        HeadPrecision::Stored => 1e-3,
        HeadPrecision::Int8 => INT8_HEAD_TOLERANCE,
        HeadPrecision::Shortlist => INT4_ESTIMATE_TOLERANCE,
        HeadPrecision::Auto => return Err("name the head to check: Auto picks one by the file".into()),
    };
    let c = &model.config;
    let hf: Vec<f32> = hf_logits.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    if hf.len() != case.tokens.len() * case.n_vocab || c.n_vocab != case.n_vocab {
        return Err(format!("shape mismatch: {} logits for {} tokens, vocab {}", hf.len(), case.tokens.len(), c.n_vocab));
    }
    let opts = ForwardOptions { kernel };
    let new_cache = || KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, 512, KvPrecision::F32);

    let mut cache = new_cache();
    let batch = model.forward(&mut cache, &case.tokens, Logits::All, opts).map_err(|e| e.to_string())?;
    let err_batch = rel_err(&batch, &hf, case.n_vocab);

    let mut cache = new_cache();
    let mut stepwise = Vec::new();
    for &t in &case.tokens {
        stepwise.extend(model.forward(&mut cache, &[t], Logits::Last, opts).map_err(|e| e.to_string())?);
    }
    let err_step = rel_err(&stepwise, &hf, case.n_vocab);
    if err_batch > tolerance || err_step > tolerance {
        return Err(format!("relative error {err_batch:.2e} (batch), {err_step:.2e} (token by token) > {tolerance:.0e}"));
    }
    // The shortlist's candidates are scored by the stored head: held to its tolerance where it matters.
    let shortlisted = [&batch, &stepwise].map(|o| top_rel_err(o, &hf, case.n_vocab));
    if head == HeadPrecision::Shortlist && shortlisted.iter().any(|&e| e > 1e-3) {
        return Err(format!("HF's top 10 logits: relative error {:.2e} (batch), {:.2e} (token by token)", shortlisted[0], shortlisted[1]));
    }

    let mut cache = new_cache();
    let mut last = model.forward(&mut cache, &case.greedy_prompt, Logits::Last, opts).map_err(|e| e.to_string())?;
    let mut greedy = Vec::new();
    for _ in 0..case.greedy_tokens.len() {
        let t = argmax(&last);
        greedy.push(t);
        last = model.forward(&mut cache, &[t], Logits::Last, opts).map_err(|e| e.to_string())?;
    }
    let same = greedy.iter().zip(&case.greedy_tokens).take_while(|(a, b)| a == b).count();
    if matches!(head, HeadPrecision::Stored | HeadPrecision::Shortlist) && greedy != case.greedy_tokens {
        return Err(format!("greedy tokens {greedy:?}, HF {:?}", case.greedy_tokens));
    }
    let top1 = batch.chunks(case.n_vocab).zip(hf.chunks(case.n_vocab)).filter(|(o, h)| argmax(o) == argmax(h)).count();
    Ok(format!(
        "rel err {err_batch:.2e} batch / {err_step:.2e} stepwise ({:.2e} / {:.2e} on HF's top 10), top-1 equal at {top1}/{} positions, first {same}/{} greedy tokens equal",
        shortlisted[0],
        shortlisted[1],
        case.tokens.len(),
        greedy.len()
    ))
}

/// A fixture file, gunzipped when its name says so (the large-shape ones). Native only (`flate2`).
#[cfg(not(target_arch = "wasm32"))]
pub fn fixture_bytes(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out).unwrap();
        return out;
    }
    bytes
}
