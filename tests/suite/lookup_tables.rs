//! bitnet.cpp's TL1/TL2 files (`quant::tl`) against what a stranger's file or config can hold: kernel
//! configs in codegen's format and broken ones, the preset table against the converter's own rules,
//! and TL files with bytes no converter writes, a missing or non-finite scale, a tiling that does
//! not fit, or a cut. Each is a typed error, at the header where the header can tell.
//! (That the files read right is hf_parity.rs's and gpu_model.rs's.)
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use bitnet_web::gguf::{self, TensorType};
use bitnet_web::model::{LoadOptions, ModelError, check_header, load_bytes};
use bitnet_web::quant::QuantError;
use bitnet_web::quant::tl::{self, KernelConfig, Tiling};

fn fixture(fmt: &str) -> (Vec<u8>, KernelConfig) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters");
    let bytes = std::fs::read(dir.join(format!("ms_1bitllm_tl.{fmt}.gguf"))).unwrap();
    let ini = std::fs::read_to_string(dir.join(format!("ms_1bitllm_tl.{fmt}.kernel_config.ini"))).unwrap();
    (bytes, KernelConfig::parse(&ini).unwrap())
}

/// The absolute file offset of a tensor's data.
fn data_at(bytes: &[u8], name: &str) -> usize {
    let (g, _) = gguf::read_all(bytes).unwrap();
    let (_, t) = g.tensor(name).unwrap();
    (g.data_offset + t.offset) as usize
}

#[test]
fn kernel_configs_are_read_as_codegen_writes_them_and_broken_ones_are_refused() {
    // codegen_tl1.py's ConfigParser output, keys lower-cased; a hand-written one in capitals.
    let (_, k) = fixture("tl1");
    assert_eq!(k.find(512, 256), Some(Tiling { tile_rows: 256, tile_cols: 128, block_rows: 32 }));
    assert_eq!(k.find(256, 512), Some(Tiling { tile_rows: 64, tile_cols: 32, block_rows: 32 }));
    assert_eq!(k.find(256, 257), None);
    let k = KernelConfig::parse("; made by hand\n[Kernels_0]\nM = 3200\nK: 8640\nBM = 160\nBK = 64\nbmm = 32\n").unwrap();
    assert_eq!(k.find(3200, 8640), Some(Tiling { tile_rows: 160, tile_cols: 64, block_rows: 32 }));
    for (text, says) in [
        ("", "no [Kernels_N] section"),
        ("m = 1\n", "before the first [section]"),
        ("[K]\nm = 1\nk = 1\nbm = 1\nbk = 1\n", "lacks one of"),
        ("[K]\nm = x\n", "not a whole number"),
        ("[K]\nm = 0\n", "not a matrix or tile size"),
        ("[K]\nwidth = 4\n", "unknown key 'width'"),
        ("[K]\njust words\n", "not `key = value`"),
    ] {
        let e = KernelConfig::parse(text).unwrap_err();
        assert!(e.contains(says), "{text:?}: {e}");
    }
    let many: String = (0..9).map(|i| format!("[K{i}]\nm=1\nk=1\nbm=1\nbk=1\nbmm=32\n")).collect();
    assert!(KernelConfig::parse(&many).unwrap_err().contains("more than 8 kernels"));
    assert!(KernelConfig::parse(&"#".repeat(65 << 10)).unwrap_err().contains("bytes"));
}

#[test]
fn every_preset_tiling_is_one_the_converter_can_write() {
    // `tl::check` holds the converter's constraints (codegen's asserts and the shapes its reshapes
    // need): a mistyped preset fails here, not in a user's download.
    for &(ty, model, m, k, bm_big, bk, bm) in tl::PRESETS {
        let t = Tiling { tile_rows: bm_big, tile_cols: bk, block_rows: bm };
        tl::check(ty, m, k, t).unwrap_or_else(|e| panic!("{ty} {model} {m}×{k}: {e}"));
        assert_eq!(tl::preset(ty, m, k), Some(t));
    }
    // Each model's matrices, in both formats, as `setup_env.py` converts them.
    for model in ["bitnet_b1_58-large", "bitnet_b1_58-3B", "Llama3-8B-1.58"] {
        for ty in [TensorType::TL1, TensorType::TL2] {
            let n = tl::PRESETS.iter().filter(|p| p.0 == ty && p.1 == model).count();
            assert!(n >= 3, "{ty} {model}: {n} kernels");
        }
    }
    // The 3B's FFN rows of 8640 are no multiple of 128: untiled, they are padded like I2_S's.
    assert!(tl::preset(TensorType::TL2, 3200, 8640).is_some());
}

#[test]
fn tiled_files_with_bytes_no_converter_writes_are_typed_errors() {
    for (fmt, bad, says) in [("tl1", 0x9fu8, "index 9 is not a pair"), ("tl2", 0xe0, "magnitude 14 is not a triple")] {
        let (good, kernels) = fixture(fmt);
        let opts = LoadOptions { tl_kernels: kernels, ..Default::default() };
        let mut bytes = good.clone();
        let at = data_at(&bytes, "blk.1.attn_v.weight");
        bytes[at + 100] = bad;
        let e = load_bytes(&bytes, opts).err().expect("refused");
        let ModelError::Quant { tensor, source: QuantError::Tiled { reason, .. } } = &e else { panic!("{fmt}: {e:?}") };
        assert_eq!(tensor, "blk.1.attn_v.weight");
        assert!(reason.contains(says), "{fmt}: {reason}");

        // A scale that is not a finite number.
        let mut bytes = good.clone();
        let at = data_at(&bytes, "blk.0.ffn_up.weight_scale");
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let e = load_bytes(&bytes, opts).err().expect("refused");
        assert!(matches!(&e, ModelError::BadTensor { tensor, .. } if tensor == "blk.0.ffn_up.weight_scale"), "{fmt}: {e:?}");

        // A scale the table lacks: at the header, named.
        let mut bytes = good.clone();
        let name = b"blk.0.ffn_up.weight_scale";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
        bytes[at + name.len() - 1] = b'X';
        let (g, _) = gguf::read_all(&bytes).unwrap();
        let e = check_header(&g, &opts).err().expect("refused");
        let want = if fmt == "tl2" { "UnsupportedTensor" } else { "MissingTensor" };
        assert!(format!("{e:?}").starts_with(want), "{fmt}: {e:?}");
        if fmt == "tl1" {
            assert_eq!(e, ModelError::MissingTensor("blk.0.ffn_up.weight_scale".into()));
        } else {
            // A type-39 tensor with no scale may as well be upstream's MXFP4.
            assert!(e.to_string().contains("MXFP4"), "{e}");
        }

        // A tiling that does not fit the matrix: at the header.
        let ini = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/converters/ms_1bitllm_tl.{fmt}.kernel_config.ini"))).unwrap();
        let misfit = KernelConfig::parse(&format!("[K]\nm = 256\nk = 256\nbm = 96\nbk = 64\nbmm = 32\n{ini}")).unwrap();
        let (g, _) = gguf::read_all(&good).unwrap();
        let e = check_header(&g, &LoadOptions { tl_kernels: misfit, ..Default::default() }).err().expect("refused");
        assert!(matches!(&e, ModelError::BadTensor { reason, .. } if reason.contains("M must be a multiple of BM")), "{fmt}: {e:?}");

        // Cut inside the last tensor: truncated, not a model.
        assert!(load_bytes(&good[..good.len() - 10], opts).is_err());
    }
}
