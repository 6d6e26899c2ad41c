//! The command-line tool from the outside: a synthetic model with the 2B4T tensor names, shapes and
//! metadata (one layer, to stay quick), then inspect, tokenize, logits and generate on it.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bitnet-web");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bitnet-web-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn synth_inspect_tokenize_logits_generate() {
    let dir = temp_dir();
    for (variant, arch, ty) in [("i2s", "bitnet-b1.58", "I2_S"), ("tq2", "bitnet", "TQ2_0")] {
        let model = dir.join(format!("synth-{variant}.gguf"));
        let m = model.to_str().unwrap();
        let (ok, _, err) = run(&["synth", m, "--variant", variant, "--layers", "1"]);
        assert!(ok, "{err}");

        let (ok, json, err) = run(&["inspect", m, "--json"]);
        assert!(ok, "{err}");
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        let tensors = j["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), 2 + 11, "token_embd, output_norm and 11 per layer");
        let find = |name: &str| tensors.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(find("token_embd.weight")["shape"], serde_json::json!([2560, 128256]));
        assert_eq!(find("token_embd.weight")["bytes"], 656_670_720u64);
        assert_eq!(find("blk.0.ffn_down.weight")["shape"], serde_json::json!([6912, 2560]));
        assert_eq!(find("blk.0.attn_k.weight")["type"], ty);
        if ty == "I2_S" {
            // Spec §3.1's byte sizes: ne/4 + 32.
            assert_eq!(find("blk.0.attn_q.weight")["bytes"], 1_638_432u64);
            assert_eq!(find("blk.0.ffn_gate.weight")["bytes"], 4_423_712u64);
        }
        let meta = |k: &str| j["metadata"].as_array().unwrap().iter().find(|e| e["key"] == k).unwrap()["value"].clone();
        assert_eq!(meta("general.architecture"), arch);
        assert_eq!(meta(&format!("{arch}.attention.head_count_kv")), 5);
        assert_eq!(meta(&format!("{arch}.rope.freq_base")), 500000.0);
        assert_eq!(meta("tokenizer.ggml.bos_token_id"), 128000);

        let (ok, ids, err) = run(&["tokenize", m, "User: How are you?", "--json"]);
        assert!(ok, "{err}");
        assert_eq!(ids.trim(), "[128000,1502,25,2650,527,499,30]");

        let logits = dir.join("logits.f32");
        let (ok, _, err) = run(&["logits", m, "--tokens", "128000,1502,25", logits.to_str().unwrap()]);
        assert!(ok, "{err}");
        let bytes = std::fs::read(&logits).unwrap();
        assert_eq!(bytes.len(), 3 * 128256 * 4);
        assert!(bytes.chunks_exact(4).all(|b| f32::from_le_bytes(b.try_into().unwrap()).is_finite()));

        let (ok, _, err) = run(&["generate", m, "--chat", "Hello", "--max-tokens", "3", "--temperature", "0"]);
        assert!(ok, "{err}");
        assert!(err.contains("decode") && err.contains("peak RSS"), "{err}");
        std::fs::remove_file(&model).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_give_clear_errors() {
    let (ok, _, err) = run(&["inspect", "Cargo.toml"]);
    assert!(!ok && err.contains("not a GGUF file"), "{err}");
    let (ok, _, err) = run(&["generate", "tests/fixtures/llama3-vocab.gguf", "--prompt", "hi"]);
    assert!(!ok && err.contains("lacks"), "{err}");
    let (ok, _, err) = run(&["generate", "tests/fixtures/gguf/types.gguf", "--prompt", "hi"]);
    assert!(!ok && err.contains("lacks the metadata key"), "{err}");
    assert!(!Path::new("no-such-file.gguf").exists());
    let (ok, _, err) = run(&["inspect", "no-such-file.gguf"]);
    assert!(!ok && err.contains("no-such-file.gguf"), "{err}");
}

/// `logits` exists so anyone can check our numbers, so with no options it prints exact ones: the
/// stored head, within the reference suite's 1e-6 (relative to each row's largest |logit|) of HF
/// transformers on every reference model.
#[test]
fn logits_with_no_options_match_hf_transformers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    let cases = common::reference::manifest(&std::fs::read_to_string(root.join("manifest.json")).unwrap());
    assert!(cases.len() >= 5);
    let dir = temp_dir();
    for case in &cases {
        let out = dir.join(format!("{}.logits", case.gguf));
        let tokens = case.tokens.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let (ok, _, err) = run(&["logits", root.join(&case.gguf).to_str().unwrap(), "--tokens", &tokens, out.to_str().unwrap()]);
        assert!(ok, "{}: {err}", case.gguf);
        let f32s = |b: Vec<u8>| b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>();
        let ours = f32s(std::fs::read(&out).unwrap());
        let hf = f32s(std::fs::read(root.join(&case.logits)).unwrap());
        assert_eq!(ours.len(), hf.len(), "{}", case.gguf);
        for (row, (a, b)) in ours.chunks(case.n_vocab).zip(hf.chunks(case.n_vocab)).enumerate() {
            let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
            let err = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
            assert!(err <= 1e-6, "{} row {row}: relative error {err:e}", case.gguf);
        }
    }
}

/// `perplexity` against the PyTorch model's validation loss: train/evaluate.py scored the embedded
/// model on its whole held-out split, 364 windows of 256 predictions (1.956 nats/token, recorded in
/// www/models/README.md, rounded to 3 decimals). The same windows (tests/fixtures/make_heldout.py
/// rebuilds them from the deterministic data stage) scored the same way must give the same loss.
#[test]
fn perplexity_matches_the_pytorch_validation_loss_on_the_held_out_split() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("www/models/bitnet-tiny-chat.i2_s.gguf");
    let ids = root.join("tests/fixtures/embedded/heldout.ids");
    let (ok, out, err) =
        run(&["perplexity", model.to_str().unwrap(), "--tokens-file", ids.to_str().unwrap(), "--ctx", "257", "--score", "all"]);
    assert!(ok, "{err}");
    assert!(err.contains("93184 tokens scored in windows of 257"), "{err}");
    let ppl: f64 = out.trim().lines().last().unwrap().strip_prefix("perplexity: ").unwrap().parse().unwrap();
    let loss = ppl.ln();
    assert!((loss - 1.956).abs() < 0.005, "ours {loss:.4} nats/token, PyTorch 1.956");
    println!("held-out loss: ours {loss:.4} nats/token (perplexity {ppl:.3}), PyTorch 1.956");
}

/// `perplexity` against the PyTorch model it was exported from: on each reference sequence of the
/// embedded model, one window of the sequence's length, scored on its second half, must give the
/// perplexity computed from PyTorch's own eval-mode logits for the same tokens (within 2 %: the
/// two sets of logits agree to 1e-3 of each row's largest, which moves a token's loss by ~0.01).
#[test]
fn perplexity_matches_the_pytorch_model_on_the_same_tokens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("tests/fixtures/embedded/reference.json")).unwrap()).unwrap();
    for seq in refs["sequences"].as_array().unwrap() {
        let ids: Vec<usize> = seq["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let n_vocab = seq["shape"][1].as_u64().unwrap() as usize;
        let bytes = std::fs::read(root.join("tests/fixtures/embedded").join(seq["file"].as_str().unwrap())).unwrap();
        let logits: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        let n = ids.len();
        let mut nll = 0f64;
        for j in n / 2..n - 1 {
            let row = &logits[j * n_vocab..(j + 1) * n_vocab];
            let lse = row.iter().map(|&l| (l as f64).exp()).sum::<f64>().ln();
            nll += lse - row[ids[j + 1]] as f64;
        }
        let want = (nll / (n - 1 - n / 2) as f64).exp();
        let model = root.join("www/models/bitnet-tiny-chat.i2_s.gguf");
        let text = seq["text"].as_str().unwrap();
        let (ok, out, err) = run(&["perplexity", model.to_str().unwrap(), "--text", text, "--ctx", &n.to_string()]);
        assert!(ok, "{err}");
        let got: f64 = out.trim().lines().last().unwrap().strip_prefix("perplexity: ").unwrap().parse().unwrap();
        assert!((got / want - 1.0).abs() < 0.02, "{}: ours {got}, PyTorch {want}", seq["name"]);
        assert!(err.contains(&format!("{} tokens scored in windows of {n}", n - 1 - n / 2)), "{err}");
    }
}

/// `inspect` says which model a file is and why (text and JSON), `--activation` overrides it with a
/// warning that names the clue it overrides, and `logits` follows the choice.
#[test]
fn inspect_prints_the_model_decision_and_activation_overrides_it() {
    let ms = "tests/fixtures/converters/ms_1bitllm.i2_s.gguf";
    let (ok, text, err) = run(&["inspect", ms]);
    assert!(ok, "{err}");
    assert!(text.contains("model: 1bitLLM") && text.contains("activation silu"), "{text}");
    assert!(text.contains("SentencePiece vocabulary") && !text.contains("warning"), "{text}");
    let (ok, json, err) = run(&["inspect", ms, "--json"]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["model"]["activation"], "silu");
    assert_eq!(j["model"]["conflicts"], serde_json::json!([]));
    let (ok, text, err) = run(&["inspect", ms, "--memory", "--activation", "relu2"]);
    assert!(ok, "{err}");
    assert!(text.contains("activation relu2") && text.contains("warning: the caller's choice says relu2"), "{text}");

    let dir = temp_dir();
    let [by_clues, chosen] = ["silu", "relu2"].map(|a| dir.join(format!("ms-{a}.f32")));
    let (ok, _, err) = run(&["logits", ms, "--tokens", "1,17,200", by_clues.to_str().unwrap()]);
    // No activation warning ("…; running silu (…)"). The random fixture does get the I2_S layout one: its
    // weights read badly both ways (tests/suite/layout_probe.rs).
    assert!(ok && !err.contains("; running") && err.contains("i2sLayout: 64"), "{err}");
    let (ok, _, err) = run(&["logits", ms, "--tokens", "1,17,200", chosen.to_str().unwrap(), "--activation", "relu2"]);
    assert!(ok && err.contains("warning: the caller's choice says relu2"), "{err}");
    assert_ne!(std::fs::read(&by_clues).unwrap(), std::fs::read(&chosen).unwrap());
}

/// `inspect` on bitnet.cpp's TL1/TL2 files says how each matrix shape is untiled and from where (the file
/// records none): a preset, the given config, or unknown with the flag to give; `generate` reads them with
/// `--kernel-config` as their I2_S twin.
#[test]
fn inspect_says_how_tl_files_are_untiled_and_kernel_config_reads_them() {
    let tl2 = "tests/fixtures/converters/ms_1bitllm_tl.tl2.gguf";
    let ini = "tests/fixtures/converters/ms_1bitllm_tl.tl2.kernel_config.ini";
    let (ok, text, err) = run(&["inspect", tl2]);
    assert!(ok, "{err}");
    assert!(text.contains("TL2 256×512: unknown: no preset covers it") && text.contains("--kernel-config"), "{text}");
    let (ok, text, err) = run(&["inspect", tl2, "--kernel-config", ini]);
    assert!(ok, "{err}");
    assert!(text.contains("TL2 256×512: BM 32 · BK 96 · bm 32, from the given kernel config"), "{text}");
    let dir = temp_dir();
    let large = dir.join("ms_large_tl.tl1.gguf");
    let gz = std::fs::read("tests/fixtures/converters/ms_large_tl.tl1.gguf.gz").unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut bytes).unwrap();
    std::fs::write(&large, bytes).unwrap();
    let (ok, text, err) = run(&["inspect", large.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(text.contains("TL1 4096×1536: BM 256 · BK 128 · bm 32, bitnet.cpp's preset for bitnet_b1_58-large"), "{text}");

    // Read: the I2_S twin's greedy text; without the config, the header's refusal.
    let generate = |file: &str, extra: &[&str]| {
        let mut args = vec!["generate", file, "--prompt", "the model", "--max-tokens", "8", "--temperature", "0", "--device", "cpu"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (ok, twin, err) = generate("tests/fixtures/converters/ms_1bitllm_tl.i2_s.gguf", &[]);
    assert!(ok, "{err}");
    let (ok, text, err) = generate(tl2, &["--kernel-config", ini]);
    assert!(ok, "{err}");
    assert_eq!(text, twin);
    let (ok, _, err) = generate(tl2, &[]);
    assert!(!ok && err.contains("lookup-table format") && err.contains("--kernel-config"), "{err}");
    let (ok, _, err) = generate(tl2, &["--kernel-config", "Cargo.toml"]);
    assert!(!ok && err.contains("Cargo.toml: line 2: unknown key 'name'"), "{err}");
}

/// `embed`: an embedding model's vectors as OpenAI's JSON, the same as HF's for the fixture that
/// Microsoft's converter wrote (tests/suite/embedding.rs has the bars); each kind of model refuses
/// the other's command; and `synth --shape bitnet-embedding-0.6b` writes a file that embeds.
#[test]
fn embed_prints_openai_json_and_the_wrong_kind_of_model_is_refused() {
    let fixture = "tests/fixtures/embedding/qwen3_emb.i2_s.gguf";
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embedding/qwen3_emb.json")).unwrap()).unwrap();
    let clean: Vec<&serde_json::Value> = reference["cases"].as_array().unwrap().iter().filter(|c| c["guide_ties_taken_from_hf"] == 0).take(2).collect();
    let (a, b) = (clean[0]["text"].as_str().unwrap(), clean[1]["text"].as_str().unwrap());
    let (ok, out, err) = run(&["embed", fixture, "--input", a, "--input", b]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["object"], "list");
    let tokens: usize = clean.iter().map(|c| c["ids"].as_array().unwrap().len()).sum();
    assert_eq!(j["usage"]["prompt_tokens"], tokens);
    for (i, case) in clean.iter().enumerate() {
        let ours: Vec<f64> = j["data"][i]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let want: Vec<f64> = case["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let dot: f64 = ours.iter().zip(&want).map(|(x, y)| x * y).sum();
        assert!(dot > 0.99999, "{i}: {dot}");
    }
    let (ok, out, err) = run(&["embed", fixture, "--input", a, "--dimensions", "16"]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["data"][0]["embedding"].as_array().unwrap().len(), 16);
    let (ok, _, err) = run(&["embed", fixture, "--input", a, "--dimensions", "999"]);
    assert!(!ok && err.contains("--dimensions must be 1 to 128"), "{err}");
    let (ok, _, err) = run(&["generate", fixture, "--chat", "hi"]);
    assert!(!ok && err.contains("embedding model"), "{err}");
    let (ok, _, err) = run(&["embed", "tests/fixtures/reference/tiny_b.i2_s.gguf", "--input", "hi"]);
    assert!(!ok && err.contains("not an embedding model"), "{err}");

    let dir = temp_dir();
    let model = dir.join("embedding-0.6b.gguf");
    let m = model.to_str().unwrap();
    let (ok, _, err) = run(&["synth", m, "--shape", "bitnet-embedding-0.6b", "--layers", "2"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["embed", m, "--input", "query: what is BitNet?"]);
    assert!(ok, "{err}");
    let v: Vec<f64> = serde_json::from_str::<serde_json::Value>(&out).unwrap()["data"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(v.len(), 1024);
    assert!((v.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-5);
    std::fs::remove_dir_all(&dir).unwrap();
}
