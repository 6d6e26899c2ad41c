//! The whole forward pass on the GPU backend (wgpu; lavapipe in `make test`) against HF
//! transformers on the tiny reference models (tests/fixtures/make_reference.py), the same files
//! and logits tests/suite/hf_parity.rs holds the CPU to: every position's logits, batched and token by
//! token, within `GPU_TOLERANCE`, and HF's 32 greedy tokens.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::path::Path;

use bitnet_web::gpu::Gpu;
use bitnet_web::model::{HeadPrecision, LoadOptions, Logits, ModelLoader, load_bytes};
use common::reference::{argmax, manifest, rel_err};

/// Relative error allowed against HF (max over positions of max |ours - hf| / max |hf|). The GPU
/// sums in other orders, in f32 where the CPU's norms use f64, and with its own exp; measured on
/// lavapipe: at most 7.3e-7 over the seven models (the CPU: 1e-6). The bound leaves 14× that.
const GPU_TOLERANCE: f32 = 1e-5;

#[test]
fn gpu_logits_and_greedy_tokens_match_hf() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    let cases = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    let mut worst = 0f32;
    for case in &cases {
        let gguf = std::fs::read(dir.join(&case.gguf)).unwrap();
        let hf: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(dir.join(&case.logits)).unwrap());
        // The product's path: each tensor goes to the GPU as it streams in.
        let mut loader = ModelLoader::new(LoadOptions { on_gpu: true, context: 512, ..Default::default() }, Some(gguf.len() as u64));
        loader.use_gpu(Gpu::new().expect("the GPU tests need a wgpu adapter: install mesa-vulkan-drivers (lavapipe)"));
        for chunk in gguf.chunks(1 << 16) {
            loader.feed(chunk).unwrap();
        }
        let (mut m, _) = loader.finish_on_gpu(512).unwrap();

        let batch = m.forward_blocking(&case.tokens, Logits::All).unwrap();
        assert_eq!(m.len(), case.tokens.len());
        m.truncate(0);
        let mut stepwise = Vec::new();
        for &t in &case.tokens {
            stepwise.extend(m.forward_blocking(&[t], Logits::Last).unwrap());
        }
        let (eb, es) = (rel_err(&batch, &hf, case.n_vocab), rel_err(&stepwise, &hf, case.n_vocab));
        assert!(eb <= GPU_TOLERANCE && es <= GPU_TOLERANCE, "{}: relative error {eb:.2e} (batch), {es:.2e} (token by token)", case.gguf);
        worst = worst.max(eb).max(es);

        m.truncate(0);
        let mut last = m.forward_blocking(&case.greedy_prompt, Logits::Last).unwrap();
        let mut greedy = Vec::new();
        for _ in 0..case.greedy_tokens.len() {
            let t = argmax(&last);
            greedy.push(t);
            last = m.forward_blocking(&[t], Logits::Last).unwrap();
        }
        assert_eq!(greedy, case.greedy_tokens, "{}: greedy tokens", case.gguf);
        println!("{}: rel err {eb:.2e} batch / {es:.2e} stepwise, 32 greedy tokens equal", case.gguf);
    }
    println!("worst relative error against HF on the GPU: {worst:.2e} over {} models", cases.len());
    assert!(cases.len() >= 7);
}

const BIN: &str = env!("CARGO_BIN_EXE_bitnet-web");

/// An engine on the GPU path for a whole file held in memory (the weights streamed to the device).
fn engine_on_gpu(bytes: &[u8]) -> bitnet_web::engine::Engine {
    use bitnet_web::engine::{Engine, EngineOptions};
    let opts = EngineOptions { load: LoadOptions { on_gpu: true, ..Default::default() }, ..Default::default() };
    let mut loader = ModelLoader::new(opts.loader_options(), Some(bytes.len() as u64));
    loader.use_gpu(Gpu::new().unwrap());
    loader.feed(bytes).unwrap();
    let (gpu, gguf) = loader.finish_on_gpu(256).unwrap();
    Engine::on_gpu(gpu, &gguf, opts).unwrap()
}

fn cli(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "bitnet-web {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// From the outside: `bitnet-web logits --device gpu` writes HF's logits (within `GPU_TOLERANCE`),
/// `perplexity` and `embed` agree across devices, and `--device auto` says why it did not take a
/// software adapter.
#[test]
fn the_cli_runs_on_the_gpu() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    let case = &manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())[0];
    let hf: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(dir.join(&case.logits)).unwrap());
    let out = std::env::temp_dir().join(format!("bitnet-web-gpu-logits-{}.f32", std::process::id()));
    let tokens = case.tokens.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let gguf = dir.join(&case.gguf);
    let (_, stderr) = cli(&["logits", gguf.to_str().unwrap(), "--tokens", &tokens, out.to_str().unwrap(), "--device", "gpu"]);
    assert!(stderr.contains("[backend: gpu"), "{stderr}");
    let ours: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(&out).unwrap());
    std::fs::remove_file(&out).ok();
    let e = rel_err(&ours, &hf, case.n_vocab);
    assert!(e <= GPU_TOLERANCE, "logits --device gpu: relative error {e:.2e}");

    // Perplexity over the same tokens (whose activations keep clear of int8 rounding boundaries:
    // on a file without that margin, one activation that rounds the other way on the GPU moves the
    // later logits by ~5e-3 and the perplexity by ~0.3 %, as it would between two CPUs' orders).
    let ids = std::env::temp_dir().join(format!("bitnet-web-gpu-ids-{}.txt", std::process::id()));
    std::fs::write(&ids, &tokens).unwrap();
    let ctx = case.tokens.len().to_string();
    let ppl = |device: &str| -> f64 {
        let (stdout, _) = cli(&["perplexity", gguf.to_str().unwrap(), "--tokens-file", ids.to_str().unwrap(), "--ctx", &ctx, "--score", "all", "--device", device]);
        stdout.trim().rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (gpu, cpu) = (ppl("gpu"), ppl("cpu"));
    std::fs::remove_file(&ids).ok();
    assert!(((gpu - cpu) / cpu).abs() < 1e-5, "perplexity: gpu {gpu}, cpu {cpu}");

    // `embed --device gpu`: BitNet-embedding on the GPU, the CPU's vector (tests/suite/embedding.rs
    // holds both to HF's on every case).
    let emb = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embedding/qwen3_emb.i2_s.gguf");
    let vector = |device: &str| -> (Vec<f64>, String) {
        let (stdout, stderr) = cli(&["embed", emb.to_str().unwrap(), "--input", "what is BitNet?", "--device", device]);
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        (v["data"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect(), stderr)
    };
    let ((gpu, stderr), (cpu, _)) = (vector("gpu"), vector("cpu"));
    assert!(stderr.contains("[backend: gpu"), "{stderr}");
    let dot: f64 = gpu.iter().zip(&cpu).map(|(a, b)| a * b).sum();
    assert!(gpu.len() == 128 && dot > 0.9995, "embed --device gpu: cosine {dot} to the CPU's");

    let g = Gpu::new().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/bitnet-tiny-chat.i2_s.gguf");
    let (_, stderr) = cli(&["generate", model.to_str().unwrap(), "--prompt", "Hello", "--max-tokens", "2"]);
    if g.software {
        assert!(stderr.contains("[backend: cpu; the GPU was not used: the only GPU adapter is a software renderer"), "{stderr}");
    } else {
        assert!(stderr.contains("[backend: gpu"), "{stderr}");
    }
}

/// The GPU path keeps no weights on the CPU: a device lost mid-answer ends the step that was
/// running with its token (`Ok`), the next one with `GpuLost`; once the same file is loaded again
/// for the CPU (`replace_model`) the generation goes on, and every token is the CPU's.
#[test]
fn a_lost_gpu_is_replaced_by_the_model_loaded_again_and_the_answer_goes_on() {
    use bitnet_web::engine::{Engine, EngineError, EngineOptions, GenerateParams, Prompt};
    use bitnet_web::sampler::SamplerParams;

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/bitnet-tiny-chat.i2_s.gguf");
    let bytes = std::fs::read(&file).unwrap();
    let params = || GenerateParams {
        max_tokens: 12,
        ignore_eos: true,
        sampler: SamplerParams { temperature: 0.0, ..SamplerParams::default() },
        ..GenerateParams::default()
    };
    let prompt = Prompt::Text("Once upon a time".into());
    let cpu_opts = EngineOptions { load: LoadOptions { head: HeadPrecision::Stored, ..Default::default() }, ..Default::default() };
    let mut cpu = Engine::load(&bytes, cpu_opts).unwrap();
    let want = cpu.generate(&prompt, params(), |_| std::ops::ControlFlow::Continue(())).unwrap().tokens;

    let mut engine = engine_on_gpu(&bytes);
    let mut g = engine.begin(&prompt, params()).unwrap();
    for _ in 0..4 {
        engine.step(&mut g).unwrap().unwrap();
    }
    engine.gpu().unwrap().fail("device lost (test)");
    // The step that was running keeps its token; the next needs the weights back.
    engine.step(&mut g).unwrap().unwrap();
    let e = engine.step(&mut g).unwrap_err();
    assert!(matches!(e, EngineError::GpuLost(ref why) if why.contains("device lost (test)")), "{e}");
    assert_eq!(engine.stats().backend, "cpu");
    let (again, _) = load_bytes(&bytes, LoadOptions { head: HeadPrecision::Stored, ..Default::default() }).unwrap();
    engine.replace_model(again).unwrap();
    while engine.step(&mut g).unwrap().is_some() {}
    assert_eq!(g.tokens(), &want[..], "the answer went on as the CPU's");
    assert!(engine.stats().fallback.unwrap().contains("device lost (test)"));
}

/// Decided at the header: a device whose largest binding cannot hold a layer's KV cache or a
/// ternary matrix refuses the model before a weight is read, saying what would fit.
#[test]
fn a_gpu_too_small_for_the_model_is_refused_at_the_header() {
    use bitnet_web::model::ModelError;
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/bitnet-tiny-chat.i2_s.gguf")).unwrap();
    let header_end = 200_000; // the header is 152,416 bytes; the first weight comes after it
    // The largest ternary matrix is 768 x 256 (48 KiB); a layer's KV cache, 256 positions of 128 f32 (128 KiB).
    for (binding, ctx, want) in [
        (64 << 10, 256, "a layer's KV cache (0.1 MiB at 256 positions) is over the device's largest binding (0.1 MiB); a shorter context would fit"),
        (40 << 10, 64, "a ternary matrix of 0.0 MiB is over the device's largest binding (0.0 MiB)"),
    ] {
        let mut gpu = Gpu::new().unwrap();
        gpu.max_binding = binding;
        let mut loader = ModelLoader::new(LoadOptions { on_gpu: true, context: ctx, ..Default::default() }, Some(bytes.len() as u64));
        loader.use_gpu(gpu);
        match loader.feed(&bytes[..header_end]) {
            Err(ModelError::Gpu(why)) => assert!(why.to_string().contains(want), "{why}"),
            other => panic!("binding {binding}: {other:?}"),
        }
    }
}

/// Rows that are not whole 128-weight blocks (bitnet_b1_58-3B's 8640-wide FFN; here 320, from
/// Microsoft's converter, straddling blocks over the flat index) are padded at load and meet
/// activations padded by quantize.wgsl: the GPU gives HF's logits, as the CPU does (hf_parity.rs).
#[test]
fn a_model_with_padded_rows_runs_on_the_gpu_and_matches_hf() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters");
    let cases = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    let case = cases.iter().find(|c| c.gguf == "ms_1bitllm_ffn320.i2_s.gguf").unwrap();
    let bytes = std::fs::read(dir.join(&case.gguf)).unwrap();
    let hf: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(dir.join(&case.logits)).unwrap());
    let mut loader = ModelLoader::new(LoadOptions { on_gpu: true, context: 64, ..Default::default() }, Some(bytes.len() as u64));
    loader.use_gpu(Gpu::new().unwrap());
    loader.feed(&bytes).unwrap();
    let (mut m, _) = loader.finish_on_gpu(64).unwrap();
    assert_eq!(m.config().n_ff, 320);
    let ours = m.forward_blocking(&case.tokens, Logits::All).unwrap();
    let e = rel_err(&ours, &hf, case.n_vocab);
    println!("{}: relative error {e:.2e} on the GPU", case.gguf);
    assert!(e <= GPU_TOLERANCE, "{}: relative error {e:.2e}", case.gguf);
}

/// bitnet.cpp's TL1 and TL2 files (Microsoft's converter; `quant::tl`) on the GPU path: untiled as they
/// stream to the device, each projection uploaded once its scale (a tensor of its own, after it) has
/// arrived. HF's logits, as on the CPU (hf_parity.rs), fed in pieces smaller than a tensor: the tiny shapes with
/// their kernel config, and bitnet_b1_58-3B's from the presets, whose 8640-wide rows the GPU pads.
#[test]
fn tl1_and_tl2_files_run_on_the_gpu_and_match_hf() {
    use bitnet_web::quant::tl::KernelConfig;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters");
    let cases = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    for (name, fmt) in [("ms_1bitllm_tl", "tl1"), ("ms_1bitllm_tl", "tl2"), ("ms_3b_tl", "tl1"), ("ms_3b_tl", "tl2")] {
        let case = cases.iter().find(|c| c.gguf.starts_with(&format!("{name}.{fmt}.gguf"))).unwrap();
        let bytes = common::reference::fixture_bytes(&dir.join(&case.gguf));
        let hf: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(dir.join(&case.logits)).unwrap());
        let ini = std::fs::read_to_string(dir.join(format!("{name}.{fmt}.kernel_config.ini"))).unwrap();
        // The 3B's tiling is a preset: its file loads without the config.
        let tl_kernels = if name == "ms_3b_tl" { KernelConfig::default() } else { KernelConfig::parse(&ini).unwrap() };
        let opts = LoadOptions { on_gpu: true, context: 64, tl_kernels, ..Default::default() };
        let mut loader = ModelLoader::new(opts, Some(bytes.len() as u64));
        loader.use_gpu(Gpu::new().unwrap());
        for chunk in bytes.chunks(4096) {
            loader.feed(chunk).unwrap();
        }
        let (mut m, _) = loader.finish_on_gpu(64).unwrap();
        let ours = m.forward_blocking(&case.tokens, Logits::All).unwrap();
        let e = rel_err(&ours, &hf, case.n_vocab);
        println!("{}: relative error {e:.2e} on the GPU", case.gguf);
        assert!(e <= GPU_TOLERANCE, "{}: relative error {e:.2e}", case.gguf);
    }
}

/// Sampling on the GPU reads back only the 64 best logits when they decide the token (greedy, or
/// top-k ≤ 64 with penalties that only lower logits) and all of them otherwise (top-k off, a logit
/// bias): every token is the one sampling from all the logits picks (the same engine asked for
/// log-probabilities, which need every logit, with the same seed). Against the CPU the embedded
/// model may differ once an activation rounds the other way, so the reference is the GPU itself.
#[test]
fn sampling_from_the_gpus_best_logits_picks_what_all_of_them_would() {
    use bitnet_web::engine::{GenerateParams, Prompt};
    use bitnet_web::sampler::SamplerParams;

    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/bitnet-tiny-chat.i2_s.gguf")).unwrap();
    let mut engine = engine_on_gpu(&bytes);
    let prompt = Prompt::Text("The little dog".into());
    let cases = [
        SamplerParams { temperature: 0.0, ..SamplerParams::default() },
        SamplerParams { temperature: 0.9, top_k: 40, repetition_penalty: 1.3, seed: 7, ..SamplerParams::default() },
        SamplerParams { temperature: 1.5, top_k: 64, top_p: 1.0, min_p: 0.0, repetition_penalty: 2.0, seed: 9, ..SamplerParams::default() },
        SamplerParams { temperature: 0.9, top_k: 0, seed: 8, ..SamplerParams::default() },
        SamplerParams { temperature: 0.0, logit_bias: vec![(17, 30.0)], ..SamplerParams::default() },
    ];
    for sampler in cases {
        let params = |logprobs| GenerateParams { max_tokens: 24, ignore_eos: true, sampler: sampler.clone(), logprobs, ..GenerateParams::default() };
        let mut run = |logprobs| {
            engine.reset();
            engine.generate(&prompt, params(logprobs), |_| std::ops::ControlFlow::Continue(())).unwrap().tokens
        };
        let (best, all) = (run(None), run(Some(0)));
        assert_eq!(best, all, "{sampler:?}");
    }
}
