//! The token embedding left in the model file (`LoadOptions::rows_in_file`: the browser's default
//! when the model is kept offline or given as a File, and the CLI's): the same logits, bit for bit,
//! as with the embedding in memory, for every head option on every reference model; exactly the
//! embedding's bytes saved, as the header's estimate says; and a file that can no longer be read
//! is a typed error, never zeros passed off as logits.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bitnet_web::engine::{Engine, EngineError, EngineOptions, GenerateParams, Prompt};
use bitnet_web::gguf::{self, Gguf, GgufWriter, TensorType};
use bitnet_web::model::{ForwardOptions, HeadPrecision, KvCache, KvPrecision, LoadOptions, Logits, Model, ModelError, ModelLoader};
use bitnet_web::weights::dense::DenseData;
use bitnet_web::weights::file_rows::{DiskStore, RowStore};
use bitnet_web::weights::row_stream;
use bitnet_web::sampler::SamplerParams;

use common::EVERY_MODEL;

/// Loads `path` fed in 4093-byte chunks (so rows and values are cut across chunks), with the
/// embedding left to `store` when one is given.
fn load(path: &str, head: HeadPrecision, store: Option<Arc<dyn RowStore>>) -> (Model, Gguf, u64) {
    let bytes = std::fs::read(path).unwrap();
    let mut loader = ModelLoader::new(LoadOptions { head, ..Default::default() }, Some(bytes.len() as u64));
    if let Some(store) = store {
        loader.rows_from(store);
    }
    for chunk in bytes.chunks(4093) {
        loader.feed(chunk).unwrap();
    }
    let weights = loader.estimate().unwrap().weights;
    let (model, g) = loader.finish().unwrap();
    (model, g, weights)
}

fn disk(path: &str) -> Option<Arc<dyn RowStore>> {
    Some(Arc::new(DiskStore::open(std::path::Path::new(path)).unwrap()))
}

fn logits(m: &Model, tokens: &[u32]) -> Vec<f32> {
    let c = &m.config;
    let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, 64, KvPrecision::F32);
    m.forward(&mut cache, tokens, Logits::All, ForwardOptions::default()).unwrap()
}

/// A reference model rewritten with an F32 embedding, and (`llama` arch) with a separate head
/// (the embedding's rows, halved): the cases the reference files do not have.
fn variant(path: &str, separate_head: bool) -> String {
    let (g, data) = gguf::read_all(&std::fs::read(path).unwrap()).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in &g.metadata {
        w.kv(k.clone(), v.clone());
    }
    let widen = |bytes: &[u8], scale: f32| -> Vec<u8> {
        let mut wide = vec![0f32; bytes.len() / 2];
        row_stream::widen(bytes, true, &mut wide);
        wide.iter().flat_map(|v| (v * scale).to_le_bytes()).collect()
    };
    for (t, bytes) in g.tensors.iter().zip(&data) {
        if t.name == "token_embd.weight" {
            assert_eq!(t.ty, TensorType::F16, "{path}");
            w.tensor(&t.name, TensorType::F32, &t.shape, widen(bytes, 1.0));
            if separate_head {
                w.tensor("output.weight", TensorType::F32, &t.shape, widen(bytes, 0.5));
            }
        } else {
            w.tensor(&t.name, t.ty, &t.shape, bytes.clone());
        }
    }
    let out = std::env::temp_dir().join(format!("bitnet-web-file-rows-{}-{separate_head}.gguf", std::process::id()));
    std::fs::write(&out, w.to_bytes().unwrap()).unwrap();
    out.to_str().unwrap().to_string()
}

#[test]
fn logits_are_the_same_bits_and_the_embedding_costs_nothing() {
    let (mut tied, mut separate, mut f32_embd) = (0, 0, 0);
    let variants = [variant("tests/fixtures/reference/tiny_a.i2_s.gguf", false), variant("tests/fixtures/reference/tiny_llama.i2_s.gguf", true)];
    for path in EVERY_MODEL.iter().copied().chain(variants.iter().map(String::as_str)) {
        for head in [HeadPrecision::Auto, HeadPrecision::Shortlist, HeadPrecision::Int8, HeadPrecision::Stored] {
            let (held, g, est_held) = load(path, head, None);
            let (left, _, est_left) = load(path, head, disk(path));
            let c = &held.config;
            let tokens: Vec<u32> = (0..24).map(|i| ((i * 7919 + 13) % c.n_vocab) as u32).collect();
            let (a, b) = (logits(&held, &tokens), logits(&left, &tokens));
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{path} {head:?}: logits differ");
            assert_eq!(held.head_name(), left.head_name(), "{path} {head:?}");

            let embd = g.tensors.iter().find(|t| t.name == "token_embd.weight").unwrap();
            let is_tied = !g.tensors.iter().any(|t| t.name == "output.weight") || c.arch == bitnet_web::model::Arch::BitnetB158;
            let stays = is_tied && head == HeadPrecision::Stored;
            assert_eq!(matches!(left.token_embd.data, DenseData::File(_)), !stays, "{path} {head:?}");
            let saved = if stays { 0 } else { held.token_embd.memory_bytes() as u64 };
            assert_eq!(held.memory_bytes() as u64 - left.memory_bytes() as u64, saved, "{path} {head:?}");
            // The header knew: its estimate drops by the same bytes.
            assert_eq!(est_held - est_left, saved, "{path} {head:?}: estimate");
            if !stays {
                if is_tied { tied += 1 } else { separate += 1 }
                if embd.ty == TensorType::F32 {
                    f32_embd += 1;
                }
            }
        }
    }
    for v in &variants {
        std::fs::remove_file(v).unwrap();
    }
    // Both kinds of head, and F32 as well as F16 embeddings, were covered.
    assert!(tied > 0 && separate > 0 && f32_embd > 0, "tied {tied}, separate {separate}, f32 {f32_embd}");
}

/// A file that fails after `left` row reads, or hands back NaN bytes (it changed).
struct Failing {
    disk: DiskStore,
    left: AtomicUsize,
    nan: bool,
}

impl RowStore for Failing {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        if self.left.fetch_sub(1, Ordering::SeqCst) == 0 {
            self.left.store(0, Ordering::SeqCst);
            if self.nan {
                buf.fill(0xff);
                return Ok(());
            }
            return Err("NotFoundError: the file was removed".into());
        }
        self.disk.read_at(offset, buf)
    }
}

#[test]
fn a_file_that_can_no_longer_be_read_is_a_typed_error() {
    let path = EVERY_MODEL[0];
    for nan in [false, true] {
        let store = Arc::new(Failing { disk: DiskStore::open(std::path::Path::new(path)).unwrap(), left: AtomicUsize::new(200), nan });
        let (model, g, _) = load(path, HeadPrecision::Auto, Some(store));
        let mut e = Engine::new(model, &g, EngineOptions::default()).unwrap();
        let params = GenerateParams { max_tokens: 64, sampler: SamplerParams::greedy(), ..Default::default() };
        let err = e.generate(&Prompt::Text("Once upon a time".into()), params.clone(), |_| std::ops::ControlFlow::Continue(())).unwrap_err();
        let EngineError::Model(ModelError::FileRows(why)) = &err else { panic!("{err:?}") };
        let want = if nan { "the file changed" } else { "NotFoundError: the file was removed" };
        assert!(why.to_string().contains(want) && err.to_string().ends_with("load the model again"), "{err}");
        // It stays an error: nothing computed from zeros is ever handed out.
        assert!(matches!(e.generate(&Prompt::Text("Hi".into()), params, |_| std::ops::ControlFlow::Continue(())), Err(EngineError::Model(ModelError::FileRows(_)))));
    }
}

#[test]
fn the_embedding_stays_in_memory_without_a_file_to_read() {
    // Options that ask for it without a store (an estimate made for a browser that will keep the
    // file, used on bytes alone) leave the embedding in memory.
    let bytes = std::fs::read(EVERY_MODEL[0]).unwrap();
    let mut loader = ModelLoader::new(LoadOptions { rows_in_file: true, ..Default::default() }, Some(bytes.len() as u64));
    loader.feed(&bytes).unwrap();
    assert!(!loader.estimate().unwrap().embedding_in_file);
    let (m, _) = loader.finish().unwrap();
    assert!(!matches!(m.token_embd.data, DenseData::File(_)));
    let _ = gguf::read_all(&bytes).unwrap();
}

#[test]
fn many_rows_are_read_in_bounded_requests_and_equal_the_rows_in_memory() {
    let path = EVERY_MODEL[0];
    let (held, _, _) = load(path, HeadPrecision::Auto, None);
    let (left, _, _) = load(path, HeadPrecision::Auto, disk(path));
    let (n, d) = (held.token_embd.rows, held.token_embd.cols);
    // More than two requests' worth, in a scattered order, some rows twice.
    let rows: Vec<usize> = (0..2 * bitnet_web::weights::file_rows::REQUEST_ROWS + 37).map(|i| (i * 7919) % n).collect();
    let (mut a, mut b) = (vec![0f32; rows.len() * d], vec![0f32; rows.len() * d]);
    held.token_embd.rows_into(&rows, &mut a);
    left.token_embd.rows_into(&rows, &mut b);
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    let x: Vec<f32> = (0..d).map(|i| (i as f32 * 0.37).sin()).collect();
    let (mut da, mut db) = (vec![0f32; rows.len()], vec![0f32; rows.len()]);
    bitnet_web::kernels::dense_rows(&held.token_embd, &rows, &x, &mut da);
    bitnet_web::kernels::dense_rows(&left.token_embd, &rows, &x, &mut db);
    assert!(da.iter().zip(&db).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(left.token_embd.read_failure().is_none());
}
