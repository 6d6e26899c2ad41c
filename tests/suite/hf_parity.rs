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
