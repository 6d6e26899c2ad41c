//! HF parity in headless Chromium: the same reference cases as tests/suite/hf_parity.rs, run by the wasm
//! build with every kernel it has (scalar, SIMD128 and, in the relaxed build, relaxed SIMD).
#![cfg(target_arch = "wasm32")]

mod common;

use bitnet_web::kernels::KernelKind;
use bitnet_web::model::HeadPrecision;
use common::reference::{check_case, manifest};
use wasm_bindgen_test::*;

// The threaded build runs in a dedicated worker, as the engine does in the product: the page's main
// thread may not block on a lock (`Atomics.wait`), and stays free for the runner's polling.
#[cfg(not(target_feature = "atomics"))]
wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_feature = "atomics")]
wasm_bindgen_test_configure!(run_in_dedicated_worker);

macro_rules! files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("fixtures/reference/", $name)) as &[u8])),*]
    };
}

const MANIFEST: &str = include_str!("fixtures/reference/manifest.json");
const FILES: &[(&str, &[u8])] = files![
    "tiny_a.i2_s.gguf", "tiny_a.i2_s.logits.f32", "tiny_a.tq2_0.gguf", "tiny_a.tq2_0.logits.f32",
    "tiny_b.i2_s.gguf", "tiny_b.i2_s.logits.f32", "tiny_b.tq2_0.gguf", "tiny_b.tq2_0.logits.f32",
    "tiny_c.i2_s.gguf", "tiny_c.i2_s.logits.f32",
    "tiny_bitnet_silu.tq2_0.gguf", "tiny_bitnet_silu.tq2_0.logits.f32",
    "tiny_llama.i2_s.gguf", "tiny_llama.i2_s.logits.f32",
];

fn file(name: &str) -> &'static [u8] {
    FILES.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name} is not embedded in web_parity.rs")).1
}

/// The single-thread builds.
#[cfg(not(target_feature = "atomics"))]
#[wasm_bindgen_test]
fn logits_and_greedy_tokens_match_hf_with_every_kernel() {
    check_every_case();
}

/// The threaded build (`scripts/wasm-threads-env.sh`): the same cases with the matrix products split
/// across two Web Workers, called from a worker as in the product. Only one test may start the
/// pool, so this build has only this test.
#[cfg(target_feature = "atomics")]
#[wasm_bindgen_test]
async fn threaded_build_matches_hf_on_two_threads() {
    let global = js_sys::global();
    assert!(!js_sys::Reflect::has(&global, &"document".into()).unwrap(), "the threaded build's test runs in a worker");
    let glue = threads::GLUE_URL.with(Clone::clone);
    let started = threads::start_threads(&glue, wasm_bindgen::module(), wasm_bindgen::memory(), 2);
    wasm_bindgen_futures::JsFuture::from(started).await.unwrap();
    bitnet_web::web::build_thread_pool(2).unwrap();
    assert_eq!(bitnet_web::kernels::threads(), 2);
    check_every_case();
}

/// What the package's `threads.js` does, for the test runner's glue: each worker instantiates the
/// glue on the shared memory and waits in `runThread` for `buildThreadPool` to hand it a thread.
#[cfg(target_feature = "atomics")]
mod threads {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// The URL of the test's own wasm-bindgen glue.
        #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
        pub static GLUE_URL: String;
    }

    #[wasm_bindgen(inline_js = r#"
export function start_threads(glue, module, memory, n) {
  const src = `import { initSync, runThread } from ${JSON.stringify(glue)};
    self.onmessage = ({ data }) => { initSync(data); self.postMessage("ready"); runThread(); };`;
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  return Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const w = new Worker(url, { type: "module" });
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(`a thread's worker failed: ${e.message}`));
    w.postMessage({ module, memory });
  })));
}
"#)]
    extern "C" {
        pub fn start_threads(glue: &str, module: JsValue, memory: JsValue, n: usize) -> js_sys::Promise;
    }
}

fn check_every_case() {
    let cases = manifest(MANIFEST);
    assert!(cases.len() >= 5);
    let kernels = KernelKind::available();
    assert!(kernels.contains(&KernelKind::Simd128), "the browser build must have SIMD128");
    for case in &cases {
        for &kernel in &kernels {
            for head in [HeadPrecision::Stored, HeadPrecision::Int8, HeadPrecision::Shortlist] {
                check_case(case, file(&case.gguf), file(&case.logits), kernel, head)
                    .unwrap_or_else(|e| panic!("{} with {} ({head:?} head): {e}", case.gguf, kernel.name()));
            }
        }
    }
}
