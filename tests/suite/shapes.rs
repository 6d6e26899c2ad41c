//! Every official shape of the BitNet family (`bitnet-web synth --shape`): each header passes the
//! loader's checks with its memory estimate printed, bitnet_b1_58-3B (rows padded at load) and the
//! smaller two (bitnet_b1_58-large, Falcon3-1B) generate. tests/e2e/family.test.mjs runs them in
//! headless Chromium.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bitnet-web");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bitnet-web-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// shape, published I2_S file size in GB (spec §7; None where no file is listed), and the header
/// check's summary.
const SHAPES: [(&str, Option<f64>, &str); 8] = [
    ("2b4t", Some(1.19), "bitnet-b1.58 · 30 layers · width 2560 · FFN 6912 · 20 heads / 5 KV · vocab 128256"),
    ("large", Some(0.27), "bitnet · 24 layers · width 1536 · FFN 4096 · 16 heads / 16 KV · vocab 32002"),
    ("falcon3-1b", Some(1.36), "llama · 18 layers · width 2048 · FFN 8192 · 8 heads / 4 KV · vocab 131072"),
    ("falcon3-3b", Some(2.22), "llama · 22 layers · width 3072 · FFN 9216 · 12 heads / 4 KV · vocab 131072"),
    ("falcon3-7b", Some(3.28), "llama · 28 layers · width 3072 · FFN 23040 · 12 heads / 4 KV · vocab 131072"),
    ("falcon3-10b", None, "llama · 40 layers · width 3072 · FFN 23040 · 12 heads / 4 KV · vocab 131072"),
    // No file size is listed for Falcon-E-3B's GGUF; TII's blog gives its memory footprint, 999 MB, which
    // an I2_S file of these shapes (with its F16 embedding and separate head) is.
    ("falcon-e-3b", Some(0.999), "llama · 32 layers · width 2048 · FFN 13312 · 16 heads / 2 KV · vocab 32768"),
    ("llama3-8b", None, "llama · 32 layers · width 4096 · FFN 14336 · 32 heads / 8 KV · vocab 128256"),
];

#[test]
fn every_shape_passes_the_header_checks_with_its_memory_estimate() {
    let dir = temp_dir("shapes");
    for (shape, size_gb, summary) in SHAPES {
        let f = dir.join(format!("{shape}.gguf"));
        let (ok, _, err) = run(&["synth", f.to_str().unwrap(), "--shape", shape, "--header-only"]);
        assert!(ok, "{shape}: {err}");
        if let Some(gb) = size_gb {
            let size = std::fs::metadata(&f).unwrap().len() as f64 / 1e9;
            assert!((size / gb - 1.0).abs() < 0.01, "{shape}: {size:.3} GB, the published file is {gb} GB");
        }
        let (ok, out, err) = run(&["inspect", f.to_str().unwrap(), "--memory"]);
        assert!(ok, "{shape}: {err}");
        assert!(out.contains(&format!("header check: ok ({summary}")), "{shape}: {out}");
        println!("{shape}: {}", out.lines().last().unwrap());
        assert!(out.contains("memory estimate: "), "{out}");
        std::fs::remove_file(&f).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// bitnet_b1_58-3B: its 8640-wide FFN rows straddle I2_S's 128-weight blocks (as x86 `llama-quantize`
/// writes them), are padded at load, and the model generates.
#[test]
fn the_3b_shape_with_rows_that_straddle_blocks_generates() {
    let dir = temp_dir("shape-3b");
    let f = dir.join("3b.gguf");
    let m = f.to_str().unwrap();
    let (ok, _, err) = run(&["synth", m, "--shape", "3b"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["inspect", m, "--memory"]);
    assert!(ok, "{err}");
    assert!(out.contains("header check: ok (bitnet · 26 layers · width 3200 · FFN 8640 · 32 heads / 32 KV · vocab 32002"), "{out}");
    let (ok, out, err) = run(&["generate", m, "--prompt", "Hello world", "--max-tokens", "4", "--temperature", "0", "--ignore-eos", "--ctx", "64"]);
    assert!(ok, "{err}");
    assert!(err.contains("4 generated") && !out.trim().is_empty(), "{out} {err}");
    std::fs::remove_file(&f).unwrap();
    // TQ2_0 can't even hold a 3200-wide row: the GGUF reader says so.
    let (ok, _, err) = run(&["synth", f.to_str().unwrap(), "--shape", "3b", "--variant", "tq2", "--header-only"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["inspect", f.to_str().unwrap(), "--memory"]);
    assert!(!ok && err.contains("multiple of the block size 256"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_smaller_shapes_generate() {
    let dir = temp_dir("shapes-generate");
    for (shape, prompt_ids) in [("large", "[1,"), ("falcon3-1b", "[11,"), ("falcon-e-3b", "[320,")] {
        let f = dir.join(format!("{shape}.gguf"));
        let m = f.to_str().unwrap();
        let (ok, _, err) = run(&["synth", m, "--shape", shape]);
        assert!(ok, "{shape}: {err}");
        // BOS first (the SentencePiece vocabulary's <s>, Falcon3's <|endoftext|>, the small BPE vocabulary's
        // <|begin_of_text|> in the Falcon-E shape), then the text.
        let (ok, ids, err) = run(&["tokenize", m, "Hello world", "--json"]);
        assert!(ok && ids.starts_with(prompt_ids), "{shape}: {ids} {err}");
        let (ok, out, err) = run(&["generate", m, "--prompt", "Hello world", "--max-tokens", "4", "--temperature", "0", "--ignore-eos"]);
        assert!(ok, "{shape}: {err}");
        // Falcon3's own template (large has none: the built-in format stands in), and the
        // embedding and separate head quantized to int8 as they stream in.
        let (ok, _, err) = run(&["generate", m, "--chat", "Hi", "--max-tokens", "2", "--temperature", "0", "--ignore-eos", "--int8-embeddings"]);
        assert!(ok, "{shape}: {err}");
        assert!(err.contains("4 tokens") || err.contains("decode"), "{shape}: {err}");
        println!("{shape}: {out:?} / {}", err.lines().last().unwrap_or_default());
        std::fs::remove_file(&f).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The budget a browser tab gives a model (wasm32's 4 GiB less room for the allocator: 3584 MiB,
/// the worker's default), decided at the header. With the embedding held in memory (a tab whose
/// model is not kept offline): Llama3-8B fits at 4096 tokens with an f16 KV cache once its
/// embedding and head become int8 rows as they stream in; with an f32 cache the refusal says what
/// would make it fit; Falcon3-10B fits only with a shorter context, and says how short. With the
/// embedding left in the file (kept offline, or a File; the CLI's default), the exact F16 embedding
/// costs nothing: Llama3-8B fits at 4096 with an f32 cache, Falcon3-10B at 4096 with an f16 one.
#[test]
fn the_memory_budget_is_decided_at_the_header_and_says_what_would_fit() {
    let dir = temp_dir("budget");
    let file = |shape: &str| {
        let f = dir.join(format!("{shape}.gguf"));
        let (ok, _, err) = run(&["synth", f.to_str().unwrap(), "--shape", shape, "--header-only"]);
        assert!(ok, "{err}");
        f.to_str().unwrap().to_string()
    };
    // Two threads: the estimate counts a stack per kernel thread, so the figures would follow the machine.
    let check = |f: &str, extra: &[&str]| run(&[&["inspect", f, "--memory", "--memory-limit", "3584", "--threads", "2"], extra].concat());
    let held = |f: &str, extra: &[&str]| check(f, &[extra, &["--embedding-in-memory"]].concat());
    let llama = file("llama3-8b");
    let (ok, out, err) = held(&llama, &["--ctx", "4096", "--kv-f16"]);
    assert!(ok, "{err}");
    assert!(out.contains("embeddings int8") && out.contains("512.0 MiB of KV cache at 4096 tokens"), "{out}");
    let (ok, _, err) = held(&llama, &["--ctx", "4096"]);
    assert!(!ok && err.contains(r#"it would fit with an f16 KV cache (kvCache: "f16"; int8 embeddings are then chosen on their own)"#), "{err}");
    assert!(err.contains(r#"or run it on a GPU (device: "webgpu"; the CLI's --device gpu)"#), "{err}");
    let (ok, out, err) = check(&llama, &["--ctx", "4096"]);
    assert!(ok && out.contains("the token embedding left in the file") && out.contains("1024.0 MiB of KV cache at 4096 tokens"), "{out}{err}");
    let falcon = file("falcon3-10b");
    let (ok, _, err) = held(&falcon, &["--ctx", "4096", "--kv-f16"]);
    assert!(!ok && err.contains("a context of at most 3230 tokens (contextLength) with int8 embeddings"), "{err}");
    let (ok, out, err) = held(&falcon, &["--ctx", "3230", "--kv-f16"]);
    assert!(ok && out.contains("embeddings int8"), "{out}{err}");
    let (ok, out, err) = check(&falcon, &["--ctx", "4096", "--kv-f16"]);
    assert!(ok && out.contains("the token embedding left in the file") && out.contains("640.0 MiB of KV cache at 4096 tokens"), "{out}{err}");
    // Without a limit nothing is quantized.
    let (ok, out, _) = run(&["inspect", &llama, "--memory", "--kv-f16", "--embedding-in-memory"]);
    assert!(ok && !out.contains("embeddings int8"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
