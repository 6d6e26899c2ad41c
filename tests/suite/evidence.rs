//! The rule that decides a file's activation from its clues (`model::evidence`), one branch at a time, on
//! the converter-written fixtures rewritten by our writer with one clue changed. hf_parity.rs shows that
//! the unmodified files give HF's logits by default.
#![cfg(not(target_arch = "wasm32"))]

use bitnet_web::gguf::{self, Value};
use bitnet_web::model::{Activation, Config, ModelError};

const MS_1BITLLM: &[u8] = include_bytes!("../fixtures/converters/ms_1bitllm.i2_s.gguf");
const UPSTREAM_2B4T: &[u8] = include_bytes!("../fixtures/converters/upstream_2b4t.tq2_0.gguf");

/// The file's header with `edit` applied to its metadata, decided with the caller's `chosen` activation.
fn decide(file: &[u8], edit: impl Fn(&mut Vec<(String, Value)>), chosen: Option<Activation>) -> Result<Config, ModelError> {
    let (g, _) = gguf::read_all(&crate::common::rewrite_model(file, &|meta, _| edit(meta))).unwrap();
    Config::decide(&g, chosen)
}

fn set(meta: &mut Vec<(String, Value)>, key: &str, v: &str) {
    meta.retain(|(k, _)| k != key);
    meta.push((key.into(), Value::String(v.into())));
}

/// Renames the arch and every key it prefixes.
fn relabel(meta: &mut Vec<(String, Value)>, arch: &str) {
    let old = match meta.iter().find(|(k, _)| k == "general.architecture") {
        Some((_, Value::String(s))) => s.clone(),
        _ => unreachable!(),
    };
    for (k, v) in meta.iter_mut() {
        if let Some(rest) = k.strip_prefix(&format!("{old}.")) {
            *k = format!("{arch}.{rest}");
        }
        if k == "general.architecture" {
            *v = Value::String(arch.into());
        }
    }
}

fn unchanged(_: &mut Vec<(String, Value)>) {}

#[test]
fn the_vocabulary_decides_under_either_bitnet_label() {
    for arch in ["bitnet-b1.58", "bitnet-25", "bitnet"] {
        let spm = decide(MS_1BITLLM, |m| relabel(m, arch), None).unwrap();
        assert_eq!(spm.activation, Activation::Silu, "{arch}: {:?}", spm.decision);
        assert!(spm.decision.family.contains("1bitLLM") && spm.decision.reason.contains("SentencePiece"), "{:?}", spm.decision);
        let bpe = decide(UPSTREAM_2B4T, |m| relabel(m, arch), None).unwrap();
        assert_eq!(bpe.activation, Activation::Relu2, "{arch}: {:?}", bpe.decision);
        assert!(bpe.decision.family.contains("2B4T") && bpe.decision.reason.contains("BPE"), "{:?}", bpe.decision);
        assert!(spm.decision.conflicts.is_empty() && bpe.decision.conflicts.is_empty());
    }
}

#[test]
fn without_a_vocabulary_the_label_decides_and_says_so() {
    let no_vocab = |m: &mut Vec<(String, Value)>| m.retain(|(k, _)| !k.starts_with("tokenizer."));
    let c = decide(MS_1BITLLM, no_vocab, None).unwrap();
    assert_eq!(c.activation, Activation::Relu2);
    assert!(c.decision.reason.contains("only the label"), "{}", c.decision.reason);
    let c = decide(UPSTREAM_2B4T, no_vocab, None).unwrap();
    assert_eq!(c.activation, Activation::Silu);
    assert!(c.decision.reason.contains("only the label"), "{}", c.decision.reason);
}

#[test]
fn a_key_that_names_the_activation_wins_and_a_disagreeing_vocabulary_is_reported() {
    let c = decide(UPSTREAM_2B4T, |m| set(m, "bitnet.hidden_activation", "relu2"), None).unwrap();
    assert_eq!(c.activation, Activation::Relu2);
    assert!(c.decision.conflicts.is_empty());
    let c = decide(UPSTREAM_2B4T, |m| set(m, "bitnet.hidden_activation", "silu"), None).unwrap();
    assert_eq!(c.activation, Activation::Silu);
    assert_eq!(c.decision.conflicts.len(), 1, "{:?}", c.decision);
    assert!(c.decision.conflicts[0].contains("byte-level BPE") && c.decision.conflicts[0].contains("relu2"), "{:?}", c.decision);
    let bad = decide(UPSTREAM_2B4T, |m| set(m, "bitnet.hidden_activation", "gelu"), None).unwrap_err();
    assert!(matches!(bad, ModelError::BadValue { ref key, .. } if key == "bitnet.hidden_activation"), "{bad}");
}

#[test]
fn the_callers_choice_overrides_every_clue_and_names_what_it_overrides() {
    let c = decide(MS_1BITLLM, unchanged, Some(Activation::Relu2)).unwrap();
    assert_eq!(c.activation, Activation::Relu2);
    assert!(c.decision.reason.contains("caller"));
    assert_eq!(c.decision.conflicts.len(), 1, "{:?}", c.decision);
    let c = decide(UPSTREAM_2B4T, |m| set(m, "bitnet.hidden_activation", "relu2"), Some(Activation::Silu)).unwrap();
    assert_eq!(c.activation, Activation::Silu);
    assert_eq!(c.decision.conflicts.len(), 2, "the vocabulary and the key: {:?}", c.decision);
    let c = decide(MS_1BITLLM, unchanged, Some(Activation::Silu)).unwrap();
    assert!(c.decision.conflicts.is_empty(), "the choice agrees with the vocabulary");
}

#[test]
fn llama_files_run_silu_without_sub_norms_whatever_their_vocabulary() {
    // (The sub-norm tensors these files carry are then refused by the loader's table check; only the
    // decision is under test here.)
    for file in [MS_1BITLLM, UPSTREAM_2B4T] {
        let c = decide(file, |m| relabel(m, "llama"), None).unwrap();
        assert_eq!((c.activation, c.sub_norms), (Activation::Silu, false));
        assert!(c.decision.reason.contains("Llama"), "{}", c.decision.reason);
    }
}
