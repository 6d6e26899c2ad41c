//! The GGUF-built tokenizer against the real Llama-3 vocabulary: ids from the independent npm
//! package llama3-tokenizer-js (tests/fixtures/make_tokenizer_cases.mjs) and HF's golden ids for
//! 2B4T (spec §4.5). Runs natively and in headless Chromium.

use bitnet_web::gguf;
use bitnet_web::tokenizer::{PreTokenizerKind, TextStream, Tokenizer};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const VOCAB: &[u8] = include_bytes!("../fixtures/llama3-vocab.gguf");
const CASES: &str = include_str!("../fixtures/llama3_tokenizer_cases.json");

fn tokenizer(pre: Option<PreTokenizerKind>) -> Tokenizer {
    let (g, _) = gguf::read_all(VOCAB).unwrap();
    Tokenizer::from_gguf(&g, pre).unwrap()
}

#[test]
fn matches_llama3_tokenizer_js_on_every_case() {
    let tok = tokenizer(None);
    assert_eq!(tok.pre_tokenizer, PreTokenizerKind::Llama3, "the official file has no tokenizer.ggml.pre");
    let cases: serde_json::Value = serde_json::from_str(CASES).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 300);
    let mut failures = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, true);
        if got != want {
            failures.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
        assert_eq!(tok.decode(&got, false), text, "decode round trip");
    }
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn hf_golden_ids_for_the_2b4t_chat_prompt() {
    let tok = tokenizer(None);
    let ids = tok.encode_prompt("<|begin_of_text|>User: How are you?<|eot_id|>Assistant: ", true);
    assert_eq!(ids, [128000, 128000, 1502, 25, 2650, 527, 499, 30, 128009, 72803, 25, 220]);
    assert_eq!((tok.bos, tok.eos, tok.eot), (Some(128000), Some(128001), Some(128009)));
    assert!(tok.is_end_of_generation(128009) && tok.is_end_of_generation(128001) && !tok.is_end_of_generation(30));
    assert_eq!(tok.decode(&ids, true), "User: How are you?Assistant: ");
}

#[test]
fn special_token_text_is_plain_text_unless_asked() {
    let tok = tokenizer(None);
    assert_eq!(tok.encode("<|eot_id|>", true), [128009]);
    let plain = tok.encode("<|eot_id|>", false);
    assert!(plain.len() > 1 && !plain.contains(&128009), "{plain:?}");
    assert_eq!(tok.decode(&plain, false), "<|eot_id|>");
}

#[test]
fn llama_cpp_default_chain_splits_like_bitnet_cpp() {
    // Spec §5.3: the default chain splits "I'm" into I ' m, and " (hello)" into " " "(" "hello" ")".
    let l3 = tokenizer(None);
    let def = tokenizer(Some(PreTokenizerKind::LlamaCppDefault));
    let pieces = |p: &[&str]| p.iter().flat_map(|s| l3.encode(s, false)).collect::<Vec<_>>();
    assert_eq!(def.encode("I'm fine", false), pieces(&["I", "'", "m", " fine"]));
    assert_eq!(l3.encode("I'm fine", false), pieces(&["I", "'m", " fine"]));
    assert_eq!(def.encode(" (hello)", false), pieces(&[" ", "(", "hello", ")"]));
    for same in ["Hello, world!", "12345 apples", "User: How are you?"] {
        assert_eq!(def.encode(same, false), l3.encode(same, false), "{same}");
    }
}

#[test]
fn text_stream_holds_back_cut_characters() {
    let tok = tokenizer(None);
    let ids = tok.encode("a😀b 日本", false);
    let mut s = TextStream::default();
    let mut out = String::new();
    for &id in &ids {
        let piece = s.push(tok.token_bytes(id));
        assert!(!piece.contains('\u{FFFD}'), "{piece:?}");
        out += &piece;
    }
    out += &s.finish();
    assert_eq!(out, "a😀b 日本");
    assert_eq!(s.push(&[0xF0, 0x9F]), "");
    assert_eq!(s.finish(), "\u{FFFD}");
}
