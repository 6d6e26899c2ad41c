//! Inputs the fuzzers (fuzz/fuzz_targets/) found to panic, each now a typed error. Runs natively
//! and in headless Chromium.

use bitnet_web::gguf::{self, Array, Gguf, GgufWriter, Value};
use bitnet_web::tokenizer::{Tokenizer, TokenizerError};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// A byte-level BPE vocabulary of `tokens` and `merges`, through a GGUF file.
fn gpt2_vocab(tokens: &[&str], merges: &[&str]) -> Gguf {
    let strings = |v: &[&str]| Value::Array(Array::String(v.iter().map(|s| s.to_string()).collect()));
    let mut w = GgufWriter::new();
    w.kv("tokenizer.ggml.model", Value::String("gpt2".into()));
    w.kv("tokenizer.ggml.tokens", strings(tokens));
    w.kv("tokenizer.ggml.merges", strings(merges));
    gguf::read_all(&w.to_bytes().unwrap()).unwrap().0
}

/// `tokenizers` panicked building a BPE whose merge result is longer than every token (it slices
/// a buffer of the longest token's size); a merge result that is not a token is corrupt.
#[test]
fn a_merge_longer_than_every_token_is_corrupt() {
    for (tokens, merges) in [(&["a", "b"][..], &["a b"][..]), (&["ab", "\u{120}", "c"], &["ab \u{120}"]), (&["a", "b", "c"], &["a b"])] {
        match Tokenizer::from_gguf(&gpt2_vocab(tokens, merges), None) {
            Err(TokenizerError::Corrupt(reason)) => assert!(reason.contains("merge"), "{reason}"),
            other => panic!("{tokens:?} {merges:?}: {other:?}"),
        }
    }
    // A merge whose result is a token still builds.
    let tok = Tokenizer::from_gguf(&gpt2_vocab(&["a", "b", "ab"], &["a b"]), None).unwrap();
    assert_eq!(tok.encode("ab", false), [2]);
}
