//! Llama3-8B-1.58's shape (`bitnet-web synth --shape llama3-8b`, 3.9 GB, too large for wasm32 with
//! its F16 embedding and head) loads on the GPU path and generates, natively on lavapipe, while the
//! process's own heap stays under `HOST_BOUND`: the weights go to the device as they are read. The
//! greedy tokens equal the CPU's with the head as stored (tests/fixtures has no HF model this size).
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicIsize, Ordering};

use bitnet_web::engine::{Engine, EngineOptions, GenerateParams, Prompt};
use bitnet_web::gpu::Gpu;
use bitnet_web::model::{HeadPrecision, LoadOptions, ModelLoader};
use bitnet_web::sampler::SamplerParams;

/// The heap's live bytes and their peak (Rust allocations: ours, the tokenizer's, wgpu's; the
/// driver's device memory, which on lavapipe is host memory too, is not the heap).
struct Peak;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grew(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// The bound for the GPU path: 256 MB plus the tokenizer (Llama 3's: about 33 MB natively,
/// and its 8.3 MB header parsed, 21 MB).
const HOST_BOUND: isize = 256_000_000 + 60_000_000;

/// The synthetic file, shared with tests/e2e/family.test.mjs (made once, kept git-ignored).
fn llama3_8b() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/synth");
    let file = dir.join("llama3-8b.gguf");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let part = dir.join("llama3-8b.gguf.part");
        let ok = Command::new(env!("CARGO_BIN_EXE_bitnet-web")).args(["synth", part.to_str().unwrap(), "--shape", "llama3-8b"]).status().unwrap();
        assert!(ok.success());
        std::fs::rename(&part, &file).unwrap();
    }
    file
}

fn greedy(engine: &mut Engine) -> Vec<u32> {
    let params = GenerateParams {
        max_tokens: 3,
        ignore_eos: true,
        sampler: SamplerParams { temperature: 0.0, ..SamplerParams::default() },
        ..GenerateParams::default()
    };
    engine.generate(&Prompt::Text("Hello".into()), params, |_| std::ops::ControlFlow::Continue(())).unwrap().tokens
}

#[test]
fn the_llama3_8b_shape_generates_on_the_gpu_within_the_host_bound() {
    let file = llama3_8b();
    let opts = EngineOptions { max_context: 256, load: LoadOptions { on_gpu: true, ..Default::default() }, ..Default::default() };
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t0 = std::time::Instant::now();
    let mut loader = ModelLoader::new(opts.loader_options(), Some(std::fs::metadata(&file).unwrap().len()));
    loader.use_gpu(Gpu::new().expect("a wgpu adapter (lavapipe)"));
    use std::io::Read;
    let mut f = std::fs::File::open(&file).unwrap();
    let mut chunk = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        loader.feed(&chunk[..n]).unwrap();
    }
    drop(chunk);
    let (model, gpu, gguf) = loader.finish_on_gpu(256).unwrap();
    assert!(!model.resident);
    let device_gb = gpu.device_bytes() as f64 / 1e9;
    let mut engine = Engine::new(model, &gguf, opts).unwrap();
    drop(gguf);
    engine.attach_gpu(gpu);
    let load_s = t0.elapsed().as_secs_f64();
    let tokens = greedy(&mut engine);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!("llama3-8b on the GPU: load {load_s:.1} s, {device_gb:.2} GB on the device, host heap peak {:.0} MB (bound {:.0} MB), tokens {tokens:?}", peak as f64 / 1e6, HOST_BOUND as f64 / 1e6);
    assert_eq!(engine.stats().backend, "gpu");
    assert!(peak < HOST_BOUND, "host heap peak {peak} bytes");
    drop(engine);

    // The CPU, with the head as stored, gives the same greedy tokens.
    let cpu_opts = EngineOptions { max_context: 256, load: LoadOptions { head: HeadPrecision::Stored, ..Default::default() }, ..Default::default() };
    let mut cpu = Engine::load(&std::fs::read(&file).unwrap(), cpu_opts).unwrap();
    assert_eq!(greedy(&mut cpu), tokens);
}
