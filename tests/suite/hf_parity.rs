//! The forward pass against HF transformers' BitNetForCausalLM on tiny random models
//! (tests/fixtures/make_reference.py): logits within 1e-3 relative error at every position, and
//! the same 32 greedy tokens. Natively here; in headless Chromium by tests/web_parity.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::path::Path;

use bitnet_web::model::HeadPrecision;
use common::reference::{check_case, check_case_with, manifest};

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
    // The lookup-table files have a test of their own, below; the checkpoints kept for `convert` too
    // (convert.rs, which also checks Microsoft's files of them against HF).
    let m: Vec<_> = m.into_iter().filter(|c| !c.gguf.contains("_tl.") && !c.gguf.contains("_ckpt.")).collect();
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

/// bitnet.cpp's lookup-table formats as Microsoft's converter writes them (make_converter_fixtures.py):
/// a checkpoint converted to I2_S, TL1 and TL2. Read, each TL file gives its I2_S twin's weights code for
/// code, and HF's logits on every kernel.
/// - `ms_1bitllm_tl`: tiny shapes, tiled by a kernel config of the kind a bitnet.cpp build generates
///   (both TL1 block sizes; TL2 with leftover columns in every matrix). Read with that config; without
///   it, refused at the header, as these shapes are in none of bitnet.cpp's presets.
/// - `ms_large_tl`, `ms_3b_tl`, `ms_llama8b_tl`: bitnet_b1_58-large's, -3B's and Llama3-8B-1.58's shapes
///   (one layer each), tiled by the configs bitnet.cpp's codegen writes when its setup converts those
///   models: every preset. Read with no config: from the presets (`quant::tl::PRESETS`), which must agree
///   with codegen's files. The 3B's 8640-wide rows are padded at load, in the twin and the TL files alike.
#[test]
fn tl1_and_tl2_files_read_as_their_i2_s_twin() {
    use bitnet_web::model::{LoadOptions, ModelError, check_header, load_bytes};
    use bitnet_web::quant::tl::{self, KernelConfig, Tiling};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters");
    let m = manifest(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    let stored = LoadOptions { head: HeadPrecision::Stored, ..Default::default() };
    let weights = |model: &bitnet_web::model::Model| -> Vec<(Vec<u8>, String)> {
        let mut out = Vec::new();
        for l in &model.layers {
            for p in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down] {
                out.push((p.w.codes.clone(), format!("{:?} {}x{} {:?}", p.w.scale, p.w.rows, p.w.cols, p.scale)));
            }
        }
        out
    };
    let with_presets = [("ms_large_tl", "gguf.gz", true), ("ms_3b_tl", "gguf.gz", true), ("ms_llama8b_tl", "gguf.gz", true)];
    for (model_name, ext, presets) in std::iter::once(("ms_1bitllm_tl", "gguf", false)).chain(with_presets) {
        let (twin, _) = load_bytes(&common::reference::fixture_bytes(&dir.join(format!("{model_name}.i2_s.{ext}"))), stored).unwrap();
        let want = weights(&twin);
        for (fmt, name) in [("tl1", "TL1"), ("tl2", "TL2")] {
            let file = format!("{model_name}.{fmt}.{ext}");
            let case = m.iter().find(|c| c.gguf == file).expect("in the manifest");
            let gguf = common::reference::fixture_bytes(&dir.join(&file));
            let logits = std::fs::read(dir.join(&case.logits)).unwrap();
            let g = bitnet_web::gguf::read_all(&gguf).unwrap().0;
            assert!(g.tensors.iter().any(|t| t.ty.name() == name), "{file} holds {name} tensors");
            let ini = std::fs::read_to_string(dir.join(format!("{model_name}.{fmt}.kernel_config.ini"))).unwrap();
            let kernels = KernelConfig::parse(&ini).unwrap();

            let opts = if presets {
                // codegen's own config for the model, kernel by kernel, is what the presets say.
                let ty = g.tensors.iter().find(|t| t.ty.name() == name).unwrap().ty;
                for t in g.tensors.iter().filter(|t| t.ty == ty) {
                    let (rows, cols) = (t.shape[1] as usize, t.shape[0] as usize);
                    assert_eq!(tl::preset(ty, rows, cols), kernels.find(rows, cols), "{file}: {}", t.name);
                }
                stored
            } else {
                let e = check_header(&g, &stored).err().expect("no preset covers these shapes");
                let ModelError::UnsupportedTensor { reason, .. } = &e else { panic!("{file}: {e:?}") };
                assert!(reason.contains(name) && reason.contains("kernel_config.ini") && reason.contains("I2_S"), "{reason}");
                LoadOptions { tl_kernels: kernels, ..stored }
            };
            let (model, _) = load_bytes(&gguf, opts).unwrap();
            let got = weights(&model);
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.1, w.1, "{file}: projection {i}'s scale and shape");
                assert!(g.0 == w.0, "{file}: projection {i}'s codes differ from the I2_S twin's");
            }
            for kernel in bitnet_web::kernels::KernelKind::available() {
                let report = check_case_with(case, &gguf, &logits, kernel, opts).unwrap_or_else(|e| panic!("{file}: {e}"));
                println!("{file} ({}): {report}", kernel.name());
            }
            if presets {
                continue;
            }
            // Another tiling that fits the same matrices reads other weights: the comparison can fail.
            let wrong = match name {
                "TL1" => "[K0]\nm=256\nk=256\nbm=256\nbk=64\nbmm=64\n",
                _ => "[K0]\nm=256\nk=256\nbm=256\nbk=96\nbmm=32\n",
            };
            let wrong = KernelConfig::parse(&format!("{wrong}{ini}")).unwrap();
            assert!(wrong.find(256, 256).is_some_and(|t: Tiling| t.tile_rows == 256));
            let (model, _) = load_bytes(&gguf, LoadOptions { tl_kernels: wrong, ..stored }).unwrap();
            assert!(model.layers[0].wq.w.codes != twin.layers[0].wq.w.codes, "{file}: a wrong tiling read the same codes");
        }
    }
}
