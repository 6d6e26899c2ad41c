//! The forward pass against HF transformers' BitNetForCausalLM on tiny random models
//! (tests/fixtures/make_reference.py): logits within 1e-3 relative error at every position, and
//! the same 32 greedy tokens. Natively here; in headless Chromium by tests/web_parity.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::path::Path;

use bitnet_web::model::HeadPrecision;
use common::reference::{check_case, manifest};

#[test]
fn logits_and_greedy_tokens_match_hf() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    let m = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    let mut n = 0;
    for case in &m {
        let gguf = std::fs::read(dir.join(&case.gguf)).unwrap();
        let logits = std::fs::read(dir.join(&case.logits)).unwrap();
        for kernel in bitnet_web::kernels::KernelKind::available() {
            for head in [HeadPrecision::Stored, HeadPrecision::Int8, HeadPrecision::Shortlist] {
                let report = check_case(case, &gguf, &logits, kernel, head).unwrap_or_else(|e| panic!("{} {head:?}: {e}", case.gguf));
                println!("{} ({}, {head:?} head): {report}", case.gguf, kernel.name());
            }
        }
        n += 1;
    }
    assert!(n >= 7, "only {n} reference cases");
}

/// Files written by other people's converters (tests/fixtures/make_converter_fixtures.py): Microsoft's
/// labels a 1bitLLM model `bitnet-b1.58` (2B4T's arch) and llama.cpp's labels a 2B4T model `bitnet`
/// (1bitLLM's), neither naming the activation. Each must give HF's logits by default, decided from the
/// vocabulary (`model::evidence`), and the label alone must be shown to be wrong for it. One has FFN
/// rows that are not whole kernel blocks, padded at load (`quant::ternary`) as bitnet_b1_58-3B's are.
#[test]
fn files_from_other_converters_match_hf_by_default() {
    use bitnet_web::model::{Activation, Config, ForwardOptions, KvCache, KvPrecision, LoadOptions, Logits, load_bytes};
    use common::reference::rel_err;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters");
    let m = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    // (file, the arch its converter wrote, the activation HF's model uses)
    let want = [
        ("ms_1bitllm.i2_s.gguf", "bitnet-b1.58", Activation::Silu),
        // FFN rows of 320: not whole 128-weight blocks, straddling them over the flat index (3B's 8640).
        ("ms_1bitllm_ffn320.i2_s.gguf", "bitnet-b1.58", Activation::Silu),
        ("upstream_2b4t.tq2_0.gguf", "bitnet", Activation::Relu2),
    ];
    assert_eq!(m.len(), want.len());
    for (case, (file, arch, act)) in m.iter().zip(want) {
        assert_eq!(case.gguf, file);
        let gguf = std::fs::read(dir.join(&case.gguf)).unwrap();
        let logits = std::fs::read(dir.join(&case.logits)).unwrap();
        let c = Config::from_gguf(&bitnet_web::gguf::read_all(&gguf).unwrap().0).unwrap();
        assert_eq!((c.arch_name.as_str(), c.activation), (arch, act), "{file}: {:?}", c.decision);
        assert!(c.decision.conflicts.is_empty(), "{file}: {:?}", c.decision.conflicts);
        for kernel in bitnet_web::kernels::KernelKind::available() {
            let report = check_case(case, &gguf, &logits, kernel, HeadPrecision::Stored).unwrap_or_else(|e| panic!("{file}: {e}"));
            println!("{file} ({}): {report}; {}", kernel.name(), c.decision.reason);
        }
        // The label's own activation, chosen by the caller (the override path): far from HF.
        let label = if act == Activation::Silu { Activation::Relu2 } else { Activation::Silu };
        let opts = LoadOptions { head: HeadPrecision::Stored, activation: Some(label), ..Default::default() };
        let (model, _) = load_bytes(&gguf, opts).unwrap();
        assert_eq!(model.config.activation, label);
        assert!(!model.config.decision.conflicts.is_empty(), "the caller's choice against the vocabulary is a conflict");
        let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, 64, KvPrecision::F32);
        let ours = model.forward(&mut cache, &case.tokens, Logits::All, ForwardOptions::default()).unwrap();
        let hf: Vec<f32> = bytemuck::pod_collect_to_vec(&logits);
        let err = rel_err(&ours, &hf, case.n_vocab);
        println!("{file} run as its label says ({label:?}): relative error {err:.2e}");
        assert!(err > 5e-2, "{file}: the label's activation should be far from HF, not {err:.2e}");
    }
}
