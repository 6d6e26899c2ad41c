//! In headless Chromium: JavaScript cuts each fixture into uneven chunks (as a fetch body would
//! arrive) and feeds them to the wasm reader, whose result must match gguf-py's, just as the native
//! tests require. Run by `wasm-pack test --headless --chrome`.
#![cfg(target_arch = "wasm32")]

use crate::common;

use bitnet_web::gguf;
use bitnet_web::web::GgufInspector;
use common::{FIXTURES, check_fixture, parse_chunks};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = r#"
export function js_chunks(bytes, seed) {
    // Copies out of wasm memory, then slices into chunks of 1 to ~290 bytes.
    const all = bytes.slice();
    const out = [];
    let s = seed >>> 0 || 1, at = 0;
    while (at < all.length) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const n = [1, 3, 17, 190][s % 4] + (s >>> 8) % 97;
        out.push(all.subarray(at, Math.min(all.length, at + n)));
        at += n;
    }
    return out;
}
"#)]
extern "C" {
    fn js_chunks(bytes: &[u8], seed: u32) -> js_sys::Array;
}

fn chunks_from_js(bytes: &[u8], seed: u32) -> Vec<Vec<u8>> {
    js_chunks(bytes, seed).iter().map(|c| js_sys::Uint8Array::new(&c).to_vec()).collect()
}

#[wasm_bindgen_test]
fn features_compiled_in() {
    assert!(cfg!(target_feature = "simd128"));
    // Relaxed SIMD is the crate's `relaxed-simd` feature, enabled function by function in the relaxed
    // kernels (`kernels::relaxed`), never for the whole build: the dependencies stay SIMD128-only.
    assert!(!cfg!(target_feature = "relaxed-simd"));
    assert_eq!(cfg!(feature = "relaxed-simd"), !matches!(option_env!("BITNET_WEB_BUILD"), Some("simd128" | "threads-simd128")));
}

#[wasm_bindgen_test]
fn js_chunked_stream_matches_gguf_py() {
    for fx in FIXTURES {
        for seed in [1, 2, 3] {
            let chunks = chunks_from_js(fx.gguf, seed);
            assert!(chunks.len() > 1);
            let (g, data) = parse_chunks(chunks.iter().map(Vec::as_slice)).unwrap();
            check_fixture(fx, &g, &data).unwrap();
        }
        // The same bytes in one piece give the same answer.
        let (g, data) = gguf::read_all(fx.gguf).unwrap();
        check_fixture(fx, &g, &data).unwrap();
    }
}

#[wasm_bindgen_test]
fn inspector_reports_the_header() {
    for fx in FIXTURES {
        let (g, _) = gguf::read_all(fx.gguf).unwrap();
        let mut insp = GgufInspector::new(Some(fx.gguf.len() as f64));
        let mut done_at = None;
        for (i, c) in chunks_from_js(fx.gguf, 9).iter().enumerate() {
            if insp.feed(c).unwrap() && done_at.is_none() {
                done_at = Some(i);
            }
        }
        assert!(done_at.is_some(), "{}: header never completed", fx.name);
        let json: serde_json::Value = serde_json::from_str(&insp.header_json().unwrap()).unwrap();
        assert_eq!(json, gguf::inspect::to_json(&g));
        assert_eq!(json["tensors"].as_array().unwrap().len(), g.tensors.len());
        assert!(insp.header_text().unwrap().contains(&g.tensors[0].name));
        insp.finish().unwrap();
    }
}

/// What the header refuses reaches JavaScript as the model's error class, not the request's: a
/// chat template past `chat::MAX_TEMPLATE_BYTES` or empty where the arch uses it, and an embedding
/// stored in a type the decoder does not read, each from `estimateMemory` before any weight byte.
#[wasm_bindgen_test]
fn header_refusals_reach_javascript_as_unsupported_model_errors() {
    use bitnet_web::chat::MAX_TEMPLATE_BYTES;
    use gguf::{GgufWriter, TensorType, Value};
    const LLAMA: &[u8] = include_bytes!("../fixtures/reference/tiny_llama.i2_s.gguf");
    let rewrite = |template: Option<String>, embd: Option<TensorType>| {
        let (g, data) = gguf::read_all(LLAMA).unwrap();
        let mut w = GgufWriter::new();
        for (k, v) in g.metadata.iter().filter(|(k, _)| k != "tokenizer.chat_template") {
            w.kv(k.clone(), v.clone());
        }
        if let Some(t) = template {
            w.kv("tokenizer.chat_template".to_string(), Value::String(t));
        }
        for (t, d) in g.tensors.iter().zip(data) {
            match embd.filter(|_| t.name == "token_embd.weight") {
                Some(ty) => w.tensor(t.name.clone(), ty, &t.shape, vec![0; ty.byte_size(t.n_elements).unwrap() as usize]),
                None => w.tensor(t.name.clone(), t.ty, &t.shape, d),
            };
        }
        w.to_bytes().unwrap()
    };
    let estimate = |file: Vec<u8>| {
        let (g, _) = gguf::read_all(&file).unwrap();
        let mut insp = GgufInspector::new(Some(file.len() as f64));
        assert!(insp.feed(&file[..g.data_offset as usize]).unwrap(), "the header is complete");
        insp.estimate_memory(JsValue::UNDEFINED)
    };
    let refusal = |file: Vec<u8>| {
        let e = estimate(file).expect_err("refused at the header");
        let field = |k: &str| js_sys::Reflect::get(&e, &k.into()).unwrap().as_string().unwrap();
        (field("name"), field("message"))
    };
    // The same file with a template of the longest length accepted passes.
    estimate(rewrite(Some(" ".repeat(MAX_TEMPLATE_BYTES - 9) + "{{ 'x' }}"), None)).unwrap();
    let (name, message) = refusal(rewrite(Some(" ".repeat(MAX_TEMPLATE_BYTES + 1)), None));
    assert_eq!(name, "UnsupportedModelError", "{message}");
    assert!(message.contains("chat template is 262145 bytes"), "{message}");
    let (name, message) = refusal(rewrite(Some(String::new()), None));
    assert_eq!(name, "UnsupportedModelError", "{message}");
    assert!(message.contains("is empty"), "{message}");
    let (name, message) = refusal(rewrite(None, Some(TensorType::Q4_1)));
    assert_eq!(name, "UnsupportedModelError", "{message}");
    assert!(message.contains("token_embd.weight") && message.contains("stored as Q4_1"), "{message}");
}

/// The model decision reaches JavaScript before any weight byte: `estimateMemory` (and the loader's
/// header) carry `model.activation`, the reason and the conflicts, and the `activation` option
/// overrides the file's clues, which is then reported as a conflict. A bad value is a TypeError.
#[wasm_bindgen_test]
fn the_model_decision_and_its_override_reach_javascript() {
    const MS_1BITLLM: &[u8] = include_bytes!("../fixtures/converters/ms_1bitllm.i2_s.gguf");
    let (g, _) = gguf::read_all(MS_1BITLLM).unwrap();
    let estimate = |options: JsValue| {
        let mut insp = GgufInspector::new(Some(MS_1BITLLM.len() as f64));
        assert!(insp.feed(&MS_1BITLLM[..g.data_offset as usize]).unwrap());
        insp.estimate_memory(options)
    };
    let get = |v: &JsValue, path: &[&str]| path.iter().fold(v.clone(), |o, k| js_sys::Reflect::get(&o, &(*k).into()).unwrap());
    let by_clues = estimate(JsValue::UNDEFINED).unwrap();
    assert_eq!(get(&by_clues, &["model", "activation"]).as_string().unwrap(), "silu");
    assert!(get(&by_clues, &["model", "reason"]).as_string().unwrap().contains("SentencePiece"));
    assert_eq!(js_sys::Array::from(&get(&by_clues, &["model", "conflicts"])).length(), 0);
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"activation".into(), &"relu2".into()).unwrap();
    let chosen = estimate(options.into()).unwrap();
    assert_eq!(get(&chosen, &["model", "activation"]).as_string().unwrap(), "relu2");
    let conflicts = js_sys::Array::from(&get(&chosen, &["model", "conflicts"]));
    assert_eq!(conflicts.length(), 1);
    assert!(conflicts.get(0).as_string().unwrap().contains("silu"));
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"activation".into(), &"gelu".into()).unwrap();
    let e = estimate(options.into()).expect_err("not an activation");
    assert_eq!(js_sys::Reflect::get(&e, &"name".into()).unwrap().as_string().unwrap(), "TypeError");
}
