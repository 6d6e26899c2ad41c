//! `bitnet-web convert` (src/convert) against Microsoft's converter and HF transformers, on the tiny
//! checkpoints make_converter_fixtures.py keeps in tests/fixtures/converters/hf: the file we write holds
//! every key Microsoft's holds, with the same value, and the same tensors byte for byte (the ternary
//! scales to within an ulp), plus the key that names the activation; it gives HF's logits and greedy tokens on every kernel. Bad checkpoints get a
//! typed error and leave no file behind them that reads as a model.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use bitnet_web::convert::{self, ConvertError, ConvertOptions, OutType};
use bitnet_web::gguf::{read_all, Value};
use bitnet_web::model::HeadPrecision;

use crate::common::reference::{check_case, manifest};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bitnet-web-convert-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Every tensor of `theirs` is in `ours` with the same type, shape and bytes; an I2_S tensor's scale may
/// differ by one ulp (`ulp_scales`): torch sums mean|W| in f32 in an order that follows the CPU's vector
/// width, we sum exactly (src/convert says so). Its codes may not differ.
fn same_tensors(ours: &[u8], theirs: &[u8], ulp_scales: bool) {
    let ((o, o_data), (t, t_data)) = (read_all(ours).unwrap(), read_all(theirs).unwrap());
    assert_eq!(o.tensors.len(), t.tensors.len());
    for (tt, b) in t.tensors.iter().zip(&t_data) {
        let i = o.tensors.iter().position(|x| x.name == tt.name).unwrap_or_else(|| panic!("no {}", tt.name));
        assert_eq!((o.tensors[i].ty, &o.tensors[i].shape), (tt.ty, &tt.shape), "{}", tt.name);
        let a = &o_data[i];
        if ulp_scales && tt.ty.name() == "I2_S" {
            let n = a.len() - 32;
            assert!(a[..n] == b[..n] && a[n + 4..] == b[n + 4..], "{}: codes differ", tt.name);
            let bits = |x: &[u8]| i32::from_le_bytes(x[n..n + 4].try_into().unwrap());
            assert!((bits(a) - bits(b)).abs() <= 1, "{}: scale differs by more than an ulp", tt.name);
        } else {
            assert!(a == b, "{}: bytes differ", tt.name);
        }
    }
}

/// HF's logits and greedy tokens for the manifest case named `gguf`, on every kernel.
fn gives_hf_logits(ours: &[u8], cases: &[crate::common::reference::Case], gguf: &str, dir: &Path) {
    let case = cases.iter().find(|c| c.gguf == gguf).unwrap();
    let logits = std::fs::read(dir.join(&case.logits)).unwrap();
    for kernel in bitnet_web::kernels::KernelKind::available() {
        let r = check_case(case, ours, &logits, kernel, HeadPrecision::Stored).unwrap_or_else(|e| panic!("{gguf}: {e}"));
        println!("{gguf}, converted by us ({}): {r}", kernel.name());
    }
}

#[test]
fn converted_checkpoints_match_microsofts_converter_and_hf() {
    let dir = fixtures();
    let cases = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    for (checkpoint, theirs, activation) in [
        ("bitnet_b1_58-tiny-ckpt", "ms_1bitllm_ckpt.i2_s.gguf", "silu"),
        ("bitnet-b1.58-2B-4T-tiny-ckpt", "ms_2b4t_ckpt.i2_s.gguf", "relu2"),
    ] {
        let out = tmp(theirs);
        let report = convert::convert(&dir.join("hf").join(checkpoint), &out, &ConvertOptions::default()).unwrap();
        assert_eq!((report.arch.as_str(), report.activation.as_str()), ("bitnet-b1.58", activation));
        let ours_bytes = std::fs::read(&out).unwrap();
        let ms_bytes = std::fs::read(dir.join(theirs)).unwrap();
        let (ours, ms) = (read_all(&ours_bytes).unwrap().0, read_all(&ms_bytes).unwrap().0);
        for (k, v) in &ms.metadata {
            assert_eq!(ours.get(k), Some(v), "{theirs}: key {k}");
        }
        let extra: Vec<_> = ours.metadata.iter().filter(|(k, _)| ms.get(k).is_none()).collect();
        assert_eq!(extra, [&("bitnet-b1.58.hidden_activation".to_string(), Value::String(activation.into()))]);
        same_tensors(&ours_bytes, &ms_bytes, true);
        gives_hf_logits(&ours_bytes, &cases, theirs, &dir);
        std::fs::remove_file(&out).unwrap();
    }
}

/// A Llama-shaped checkpoint as Falcon3-1.58bit and Llama3-8B-1.58 are published (make_packed_checkpoint.py):
/// transformers' packed codes with a `weight_scale` it divides by, an untied float head. Converted, it gives
/// the logits transformers computes loading it through its own BitNet quantizer; read with the scale taken
/// as a multiplier (the other convention) it would not.
#[test]
fn packed_llama_checkpoints_give_transformers_logits() {
    let dir = fixtures().join("hf/falcon3-tiny-packed");
    let case = &manifest(&std::fs::read_to_string(dir.join("reference.json")).unwrap())[0];
    let logits = std::fs::read(dir.join(&case.logits)).unwrap();
    let out = tmp("packed.gguf");
    let report = convert::convert(&dir, &out, &ConvertOptions::default()).unwrap();
    assert_eq!((report.arch.as_str(), report.activation.as_str()), ("llama", "silu"));
    let bytes = std::fs::read(&out).unwrap();
    let (g, _) = read_all(&bytes).unwrap();
    assert!(g.tensors.iter().any(|t| t.name == "output.weight"), "the untied head is kept");
    for kernel in bitnet_web::kernels::KernelKind::available() {
        let r = check_case(case, &bytes, &logits, kernel, HeadPrecision::Stored).unwrap_or_else(|e| panic!("{e}"));
        println!("falcon3-tiny-packed converted ({}): {r}", kernel.name());
    }
    std::fs::remove_file(&out).unwrap();
}

/// llama.cpp's format, against llama.cpp's converter (`convert_hf_to_gguf.py --outtype tq2_0`) on a 2B4T-style
/// checkpoint with rows of whole 256-weight blocks: every key both files hold has one value (llama.cpp adds
/// naming keys and a no-op linear rope scaling; we add the vocabulary size, the rope width and the activation),
/// every tensor the same bytes, and HF's logits.
#[test]
fn tq2_0_output_matches_llama_cpps_converter_and_hf() {
    let dir = fixtures();
    let cases = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    let theirs = "upstream_2b4t_ckpt.tq2_0.gguf";
    let out = tmp(theirs);
    let opts = ConvertOptions { out_type: Some(OutType::Tq2_0), pre: None };
    let report = convert::convert(&dir.join("hf/bitnet-b1.58-2B-4T-tiny-tq-ckpt"), &out, &opts).unwrap();
    assert_eq!(report.arch, "bitnet");
    let ours_bytes = std::fs::read(&out).unwrap();
    let lc_bytes = std::fs::read(dir.join(theirs)).unwrap();
    let (ours, lc) = (read_all(&ours_bytes).unwrap().0, read_all(&lc_bytes).unwrap().0);
    let mut shared = 0;
    for (k, v) in &lc.metadata {
        if let Some(o) = ours.get(k).filter(|_| k != "general.name") {
            assert_eq!(o, v, "key {k}");
            shared += 1;
        }
    }
    assert!(shared >= 16, "only {shared} keys in common");
    same_tensors(&ours_bytes, &lc_bytes, false);
    gives_hf_logits(&ours_bytes, &cases, theirs, &dir);
    std::fs::remove_file(&out).unwrap();
}

/// TQ2_0 packs whole 256-weight blocks: 128-wide rows are refused by name, not padded.
#[test]
fn tq2_0_needs_whole_blocks() {
    let src = fixtures().join("hf/bitnet-b1.58-2B-4T-tiny-ckpt");
    let err = convert::convert(&src, &tmp("a.tq2_0.gguf"), &ConvertOptions { out_type: Some(OutType::Tq2_0), pre: None }).unwrap_err();
    assert!(matches!(&err, ConvertError::Unsupported(m) if m.contains("256")), "{err}");
}

#[test]
fn bad_checkpoints_are_typed_errors() {
    let good = fixtures().join("hf/bitnet_b1_58-tiny-ckpt");
    let work = tmp("bad");
    let copy_of = |from: &Path, files: &[(&str, Option<Vec<u8>>)]| {
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        for f in std::fs::read_dir(from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, work.join(f.file_name().unwrap())).unwrap();
        }
        for (name, bytes) in files {
            match bytes {
                Some(b) => std::fs::write(work.join(name), b).unwrap(),
                None => std::fs::remove_file(work.join(name)).unwrap(),
            }
        }
    };
    let copy = |files: &[(&str, Option<Vec<u8>>)]| copy_of(&good, files);
    let out = tmp("bad.gguf");
    let run = || convert::convert(&work, &out, &ConvertOptions::default());

    copy(&[("config.json", None)]);
    assert!(matches!(run(), Err(ConvertError::Checkpoint(m)) if m.contains("config.json")));

    let cfg = std::fs::read_to_string(good.join("config.json")).unwrap().replace("BitnetForCausalLM", "GPT2LMHeadModel");
    copy(&[("config.json", Some(cfg.into_bytes()))]);
    assert!(matches!(run(), Err(ConvertError::Unsupported(m)) if m.contains("GPT2LMHeadModel")));

    let cfg = std::fs::read_to_string(good.join("config.json")).unwrap().replacen('{', r#"{"rope_scaling": {"rope_type": "yarn", "factor": 4.0},"#, 1);
    copy(&[("config.json", Some(cfg.into_bytes()))]);
    assert!(matches!(run(), Err(ConvertError::Unsupported(m)) if m.contains("rope_scaling")));

    let st = std::fs::read(good.join("model.safetensors")).unwrap();
    copy(&[("model.safetensors", Some(st[..st.len() / 2].to_vec()))]);
    assert!(matches!(run(), Err(ConvertError::Checkpoint(m)) if m.contains("within the file")));

    let mut huge = st.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    copy(&[("model.safetensors", Some(huge))]);
    assert!(matches!(run(), Err(ConvertError::Checkpoint(_))));

    copy(&[("tokenizer.model", Some(b"\x0a\xff\xff\xff\x0f".to_vec()))]);
    assert!(matches!(run(), Err(ConvertError::Tokenizer(_))));

    copy(&[("tokenizer.model", None)]);
    assert!(matches!(run(), Err(ConvertError::Tokenizer(m)) if m.contains("neither")));

    // A SentencePiece vocabulary as tokenizer.json only is not taken for byte-level BPE.
    let spm_json = r#"{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0}, "merges": []}}"#;
    copy(&[("tokenizer.model", None), ("tokenizer.json", Some(spm_json.as_bytes().to_vec()))]);
    assert!(matches!(run(), Err(ConvertError::Tokenizer(m)) if m.contains("tokenizer.model")));

    // A BPE vocabulary whose split is not Llama 3's: the caller names its pre-tokenizer, or it is refused.
    let bpe = fixtures().join("hf/bitnet-b1.58-2B-4T-tiny-ckpt");
    let json = std::fs::read_to_string(bpe.join("tokenizer.json")).unwrap().replace(r"\\p{N}{1,3}", r"\\p{N}");
    copy_of(&bpe, &[("tokenizer.json", Some(json.into_bytes()))]);
    assert!(matches!(run(), Err(ConvertError::Tokenizer(m)) if m.contains("--pre")));
    convert::convert(&work, &out, &ConvertOptions { pre: Some("falcon3".into()), ..Default::default() }).unwrap();
    let (g, _) = read_all(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(g.get("tokenizer.ggml.pre"), Some(&Value::String("falcon3".into())));
}

/// The CLI's face of it: the report on stderr, the file readable, and a bad folder a clear error.
#[test]
fn the_cli_converts_and_reports() {
    let exe = env!("CARGO_BIN_EXE_bitnet-web");
    let out = tmp("cli.gguf");
    let ok = std::process::Command::new(exe)
        .args(["convert", fixtures().join("hf/falcon3-tiny-packed").to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success() && stderr.contains("arch llama, activation silu, 21 tensors"), "{stderr}");
    read_all(&std::fs::read(&out).unwrap()).unwrap();
    let bad = std::process::Command::new(exe).args(["convert", "/nonexistent", "-o", out.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("config.json"), "{stderr}");
}
