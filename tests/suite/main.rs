//! Most of the integration tests, as one test binary: each binary links the whole engine with wgpu,
//! tokenizers and llguidance, and under `wasm-pack test` each is bindgen'd and opened in a fresh
//! browser, once per build and browser (seven runs in `make test`). Measured on the 2-core VM
//! (2026-12-06): the 21 files as 21 binaries took 58 s to compile and link natively after a touch,
//! and a Chromium run of the relaxed build's binaries spent 43 s outside compiling.
//!
//! Four files stay binaries of their own: `allocation_bounds.rs`, `template_bombs.rs` and
//! `gpu_large.rs` install a counting global allocator (and measure the whole process), and
//! `web_parity.rs` also runs alone in the threaded build, inside a dedicated worker.

#[path = "../common/mod.rs"]
mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod bad_input;
mod cli;
mod convert;
mod embedded_model;
mod embedding;
mod engine;
mod evidence;
mod file_rows;
mod fuzz_regressions;
mod gguf_fixtures;
mod gpu;
mod gpu_model;
mod head_accuracy;
mod header_checks;
mod hf_parity;
mod kernels;
mod kv_cache_memory;
mod layout;
mod layout_probe;
mod lookup_tables;
mod shapes;
mod structured;
mod templates;
mod tokenizer;
mod tokenizer_family;
mod tools;
mod web;
