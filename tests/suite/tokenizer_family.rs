//! The SentencePiece (Llama-2, bitnet_b1_58-large/-3B) and Falcon3 tokenizers against code we
//! didn't write, on 417 strings each: vocabularies trained by PyPI `sentencepiece` and `tokenizers`
//! with those models' settings and written into GGUF as llama.cpp's converter does, and the ids
//! that the trained `sentencepiece` model, the `tokenizers` trainer's own tokenizer and HF
//! transformers loading the GGUF give (tests/fixtures/make_tokenizer_family.py). Runs natively and
//! in headless browsers.

use bitnet_web::gguf;
use bitnet_web::tokenizer::{PreTokenizerKind, Tokenizer, TokenizerError};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const SPM: &[u8] = include_bytes!("../fixtures/spm-vocab.gguf");
const FALCON3: &[u8] = include_bytes!("../fixtures/falcon3-vocab.gguf");
const CASES: &str = include_str!("../fixtures/tokenizer_family_cases.json");

fn tokenizer(file: &[u8]) -> Tokenizer {
    let (g, _) = gguf::read_all(file).unwrap();
    Tokenizer::from_gguf(&g, None).unwrap()
}

fn cases() -> Vec<serde_json::Value> {
    let all: serde_json::Value = serde_json::from_str(CASES).unwrap();
    let cases = all["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 300);
    cases
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Compares every case; `reference` picks the expected ids (None: skip the case).
fn check(tok: &Tokenizer, parse_special: bool, reference: impl Fn(&serde_json::Value) -> Option<Vec<u32>>) -> usize {
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in cases() {
        let text = c["text"].as_str().unwrap();
        let Some(want) = reference(&c) else { continue };
        checked += 1;
        let got = tok.encode(text, parse_special);
        if got != want {
            failures.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {checked} differ:\n{}", failures.len(), failures.join("\n"));
    checked
}

#[test]
fn sentencepiece_vocabulary_matches_the_sentencepiece_library() {
    let tok = tokenizer(SPM);
    assert_eq!(tok.pre_tokenizer, PreTokenizerKind::SentencePiece);
    assert_eq!((tok.n_vocab(), tok.bos, tok.eos, tok.add_bos), (32002, Some(1), Some(2), true));
    // `sentencepiece` knows no special tokens: all text is text.
    assert!(check(&tok, false, |c| Some(ids(&c["spm"]["sentencepiece"]))) >= 400);
}

#[test]
fn sentencepiece_vocabulary_matches_hf_loading_the_gguf() {
    let tok = tokenizer(SPM);
    // HF's Metaspace adds no dummy prefix to text that starts with a space (or `▁`), unlike
    // sentencepiece and llama.cpp, which we follow there (the test above covers those strings).
    let n = check(&tok, true, |c| {
        let text = c["text"].as_str().unwrap();
        (!text.starts_with([' ', '\u{2581}'])).then(|| ids(&c["spm"]["hf"]))
    });
    assert!(n >= 350, "{n}");
    // Special-token text is the special token, and the text after it has no dummy prefix.
    assert_eq!(tok.encode("<s>Hello</s>", true)[0], 1);
    assert_eq!(*tok.encode("<s>Hello</s>", true).last().unwrap(), 2);
}

#[test]
fn sentencepiece_decodes_to_the_text() {
    let tok = tokenizer(SPM);
    for c in cases() {
        let text = c["text"].as_str().unwrap();
        // The trained model normalizes nothing, so every string comes back (the dummy prefix is dropped).
        let back = tok.decode(&tok.encode(text, false), false);
        assert_eq!(back.replace('\u{2581}', " "), text.replace('\u{2581}', " "), "{text:?}");
    }
    // Bytes outside the vocabulary fall back to <0xXX> pieces.
    let emoji = tok.encode("\u{1F600}", false);
    assert!(emoji.len() >= 4, "{emoji:?}");
    assert_eq!(tok.decode(&emoji, false), "\u{1F600}");
}

#[test]
fn falcon3_vocabulary_matches_its_trainer_and_hf() {
    let tok = tokenizer(FALCON3);
    assert_eq!(tok.pre_tokenizer, PreTokenizerKind::Llama3, "llama.cpp puts falcon3 in the llama3 group");
    assert_eq!((tok.bos, tok.eos), (Some(11), Some(11)));
    assert!(check(&tok, true, |c| Some(ids(&c["falcon3"]["trainer"]))) >= 400);
    assert!(check(&tok, true, |c| Some(ids(&c["falcon3"]["hf"]))) >= 400);
    for c in cases() {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.decode(&tok.encode(text, true), false), text);
    }
}

#[test]
fn a_pre_tokenizer_that_does_not_fit_the_vocabulary_is_refused() {
    let (g, _) = gguf::read_all(SPM).unwrap();
    let err = Tokenizer::from_gguf(&g, Some(PreTokenizerKind::Llama3)).unwrap_err();
    assert!(matches!(err, TokenizerError::PreTokenizerMismatch(PreTokenizerKind::Llama3, ref m) if m == "llama"), "{err}");
    let (g, _) = gguf::read_all(FALCON3).unwrap();
    assert!(Tokenizer::from_gguf(&g, Some(PreTokenizerKind::SentencePiece)).is_err());
}

#[test]
fn special_token_rules_follow_the_metadata() {
    use bitnet_web::gguf::Value;
    // add_bos_token / add_eos_token as the file says (the trained file: BOS yes, EOS no).
    let (mut g, _) = gguf::read_all(SPM).unwrap();
    let tok = Tokenizer::from_gguf(&g, None).unwrap();
    let hello = tok.encode("Hello", false);
    assert_eq!(tok.encode_prompt("Hello", true), [&[1][..], &hello].concat());
    for (k, v) in g.metadata.iter_mut() {
        match k.as_str() {
            "tokenizer.ggml.add_bos_token" => *v = Value::Bool(false),
            "tokenizer.ggml.add_eos_token" => *v = Value::Bool(true),
            _ => {}
        }
    }
    let tok = Tokenizer::from_gguf(&g, None).unwrap();
    assert_eq!(tok.encode_prompt("Hello", true), [&hello[..], &[2]].concat());
    // Control tokens are whole and hidden from a reader; user-defined ones are whole and shown.
    assert_eq!(tok.encode("a<pad>b<|im_sep|>c", true).iter().filter(|&&t| t >= 32000).count(), 2);
    assert!(tok.is_control(32000) && !tok.is_control(32001) && tok.is_special(32001));
    assert_eq!(tok.decode(&[32000, 32001], true), "<|im_sep|>");
    assert_eq!(tok.decode(&[32000, 32001], false), "<pad><|im_sep|>");
}

/// Falcon-E's files name their pre-tokenizer `falcon_e` (bitnet.cpp) or `falcon-h1` (upstream
/// llama.cpp, whose llama-vocab.cpp puts it in the Llama 3 group with llama3, llama-v3, llama-bpe
/// and falcon3): every one of those names is the Llama 3 split here; a name outside it is refused.
#[test]
fn falcon_e_pre_tokenizer_names_are_the_llama3_split() {
    for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "falcon_e"] {
        assert_eq!(PreTokenizerKind::from_gguf_name(Some(name)), Some(PreTokenizerKind::Llama3), "{name}");
    }
    assert_eq!(PreTokenizerKind::from_gguf_name(Some("qwen2")), Some(PreTokenizerKind::Qwen2));
    assert_eq!(PreTokenizerKind::from_gguf_name(Some("deepseek-llm")), None);
}
