//! An I2_S file's packing told from its weights (`engine::layout_probe`), where neither the caller nor the
//! file says it: the embedded model (trained here, written 128/32 with no key, as bitnet.cpp's x86 builds
//! write) and the same weights packed 64/16 (as its ARM builds since 2025-11 write them) or 1×4 (as its
//! x86 builds without ACT_PARALLEL do), by the spec's encoder `quant::i2_s::encode`, all run as the
//! trained model; a random model, which reads badly both
//! ways, keeps 128/32 and says so. Natively and in every browser the suite runs in.

use bitnet_web::engine::{Engine, EngineError, EngineOptions};
use bitnet_web::gguf::{TensorType, Value};
use bitnet_web::model::{LoadOptions, ModelError, i2s_layout::BLOCK_KEY};
use bitnet_web::quant::{I2sLayout, i2_s};

use crate::common::{Tensor, rewrite_model};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const EMBEDDED: &[u8] = include_bytes!("../../www/models/bitnet-tiny-chat.i2_s.gguf");
/// HF's tiny random BitNet, converted to I2_S with no key (tests/fixtures/make_reference.py).
const RANDOM: &[u8] = include_bytes!("../fixtures/reference/tiny_b.i2_s.gguf");

/// `model`'s I2_S tensors packed `layout` (the same weights and scales), with the block-size key set to
/// `key` where it is `Some`.
fn packed(model: &[u8], layout: I2sLayout, key: Option<Value>) -> Vec<u8> {
    rewrite_model(model, &|meta, tensors: &mut Vec<Tensor>| {
        meta.retain(|(k, _)| k != BLOCK_KEY);
        meta.extend(key.clone().map(|v| (BLOCK_KEY.to_string(), v)));
        for (_, ty, shape, data) in tensors.iter_mut().filter(|t| t.1 == TensorType::I2_S) {
            let n = shape.iter().product::<u64>() as usize;
            let cols = shape[0] as usize;
            let trits: Vec<i8> = (0..n).map(|i| i2_s::code(data, i, cols, I2sLayout::Block128) as i8 - 1).collect();
            *data = i2_s::encode(&trits, cols, i2_s::scale(data, n), layout);
            assert_eq!(*ty, TensorType::I2_S);
        }
    })
}

fn load(file: &[u8], layout: Option<I2sLayout>) -> Result<Engine, EngineError> {
    Engine::load(file, EngineOptions { load: LoadOptions { i2s_layout: layout, ..Default::default() }, ..Default::default() })
}

/// Every position's logits on a chat-like text the embedded model knows.
fn logits(engine: &mut Engine) -> Vec<f32> {
    let tokens = engine.tokenizer.encode("Hello! How are you today? I like to read books about the sea.", false);
    engine.evaluate(&tokens).unwrap()
}

#[test]
fn the_official_packing_is_told_and_kept() {
    let mut e = load(EMBEDDED, None).unwrap();
    let d = e.i2s_layout().unwrap().clone();
    println!("embedded model, no key: {}", d.reason);
    assert_eq!((d.layout, d.warning), (I2sLayout::Block128, None));
    assert!(d.reason.contains("test sentence"), "{}", d.reason);
    assert_eq!(logits(&mut e), logits(&mut load(EMBEDDED, Some(I2sLayout::Block128)).unwrap()));
}

#[test]
fn an_arm_packed_file_is_told_apart_and_runs_as_the_x86_one() {
    let arm = packed(EMBEDDED, I2sLayout::Block64, None);
    let want = logits(&mut load(EMBEDDED, Some(I2sLayout::Block128)).unwrap());
    let mut e = load(&arm, None).unwrap();
    let d = e.i2s_layout().unwrap().clone();
    println!("embedded model packed 64/16, no key: {}", d.reason);
    assert_eq!((d.layout, d.warning), (I2sLayout::Block64, None));
    assert_eq!(logits(&mut e), want, "the same weights, the same logits");
    // Read the other way, as before this probe existed: the file runs, and its logits are garbage.
    let mut misread = load(&arm, Some(I2sLayout::Block128)).unwrap();
    assert!(misread.i2s_layout().unwrap().reason.contains("caller"));
    let got = logits(&mut misread);
    let off = got.iter().zip(&want).filter(|(a, b)| (*a - *b).abs() > 0.1).count();
    assert!(off > want.len() / 2, "{off} of {} logits differ when misread", want.len());
}

#[test]
fn an_x86_file_packed_1x4_is_told_apart_and_runs_as_the_official_one() {
    let rows4 = packed(EMBEDDED, I2sLayout::Rows4, None);
    let want = logits(&mut load(EMBEDDED, Some(I2sLayout::Block128)).unwrap());
    let mut e = load(&rows4, None).unwrap();
    let d = e.i2s_layout().unwrap().clone();
    println!("embedded model packed 1×4, no key: {}", d.reason);
    assert_eq!((d.layout, d.warning), (I2sLayout::Rows4, None));
    assert!(d.reason.contains("ACT_PARALLEL"), "{}", d.reason);
    assert_eq!(logits(&mut e), want, "the same weights, the same logits");
    // The caller's choice, with no probe: the same.
    let mut chosen = load(&rows4, Some(I2sLayout::Rows4)).unwrap();
    assert!(chosen.i2s_layout().unwrap().reason.contains("caller"));
    assert_eq!(logits(&mut chosen), want);
    // Misread as the official packing: garbage.
    let got = logits(&mut load(&rows4, Some(I2sLayout::Block128)).unwrap());
    let off = got.iter().zip(&want).filter(|(a, b)| (*a - *b).abs() > 0.1).count();
    assert!(off > want.len() / 2, "{off} of {} logits differ when misread", want.len());
}

#[test]
fn a_file_that_names_its_packing_is_read_so_without_a_probe() {
    let mut e = load(&packed(EMBEDDED, I2sLayout::Block64, Some(Value::U32(64))), None).unwrap();
    let d = e.i2s_layout().unwrap().clone();
    assert_eq!(d.layout, I2sLayout::Block64);
    assert!(d.reason.contains(BLOCK_KEY), "{}", d.reason);
    assert_eq!(logits(&mut e), logits(&mut load(EMBEDDED, Some(I2sLayout::Block128)).unwrap()));
    // A block size bitnet.cpp never wrote is refused at the header.
    let bad = packed(EMBEDDED, I2sLayout::Block128, Some(Value::U32(96)));
    assert!(matches!(load(&bad, None), Err(EngineError::Model(ModelError::BadValue { ref key, .. })) if key == BLOCK_KEY));
}

/// What a probe found for a kept copy (`LoadOptions::i2s_layout_found`, which the package keeps with the
/// copy) is read so on its next load, without the test sentence; the caller and the file still come first.
#[test]
fn a_layout_found_before_is_read_so_without_probing_again() {
    let arm = packed(EMBEDDED, I2sLayout::Block64, None);
    let first = load(&arm, None).unwrap().i2s_layout().unwrap().clone();
    assert!(first.probed, "the test sentence decided it: {}", first.reason);
    let want = logits(&mut load(EMBEDDED, Some(I2sLayout::Block128)).unwrap());
    let found = |file: &[u8], chosen, found| {
        Engine::load(file, EngineOptions { load: LoadOptions { i2s_layout: chosen, i2s_layout_found: found, ..Default::default() }, ..Default::default() }).unwrap()
    };
    let mut e = found(&arm, None, Some(first.layout));
    let d = e.i2s_layout().unwrap().clone();
    assert_eq!((d.layout, d.probed, d.warning), (I2sLayout::Block64, false, None));
    assert!(d.reason.contains("first loaded"), "{}", d.reason);
    assert_eq!(logits(&mut e), want, "read as found, the same logits");
    // The caller's choice and the file's key are what was said: they come before what was found.
    assert!(found(&arm, Some(I2sLayout::Block64), Some(I2sLayout::Block128)).i2s_layout().unwrap().reason.contains("caller"));
    let keyed = packed(EMBEDDED, I2sLayout::Block64, Some(Value::U32(64)));
    assert!(found(&keyed, None, Some(I2sLayout::Block128)).i2s_layout().unwrap().reason.contains(BLOCK_KEY));
    // An undecided probe is not worth remembering.
    assert!(!load(RANDOM, None).unwrap().i2s_layout().unwrap().probed);
}

#[test]
fn weights_that_read_badly_both_ways_keep_128_and_say_so() {
    let mut e = load(RANDOM, None).unwrap();
    let d = e.i2s_layout().unwrap().clone();
    println!("random model: {:?}", d.warning);
    assert_eq!(d.layout, I2sLayout::Block128);
    let warning = d.warning.expect("a warning");
    assert!(warning.contains("i2sLayout: 64 or \"1x4\""), "{warning}");
    assert!(d.reason.contains("128/32") || warning.contains("read 1×4"), "{warning}");
    // Turned back exactly: the same logits as a load that never probed.
    let tokens = [1u32, 5, 9, 14, 3, 7];
    let forced = load(RANDOM, Some(I2sLayout::Block128)).unwrap().evaluate(&tokens).unwrap();
    assert_eq!(e.evaluate(&tokens).unwrap(), forced);
}

#[test]
fn files_without_i2s_have_no_packing_to_decide() {
    let tq2 = include_bytes!("../fixtures/reference/tiny_b.tq2_0.gguf");
    assert!(load(tq2, None).unwrap().i2s_layout().is_none());
}

/// On the GPU path the weights are on the device, read one way: the test sentence is scored there, a clear
/// win over chance settles it, and anything else is a warning that names the CPU and the option.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn on_the_gpu_the_one_reading_is_scored_and_a_misread_is_a_warning() {
    use bitnet_web::gpu::Gpu;
    use bitnet_web::model::ModelLoader;
    let on_gpu = |file: &[u8]| {
        let opts = EngineOptions { load: LoadOptions { on_gpu: true, ..Default::default() }, ..Default::default() };
        let mut loader = ModelLoader::new(opts.loader_options(), Some(file.len() as u64));
        loader.use_gpu(Gpu::new().expect("the GPU tests need a wgpu adapter (lavapipe)"));
        loader.feed(file).unwrap();
        let (gpu, gguf) = loader.finish_on_gpu(256).unwrap();
        let mut e = Engine::on_gpu(gpu, &gguf, opts).unwrap();
        e.settle_i2s_layout().cloned().expect("an I2_S file")
    };
    let d = on_gpu(EMBEDDED);
    println!("embedded model on the GPU: {}", d.reason);
    assert_eq!((d.layout, d.warning), (I2sLayout::Block128, None));
    assert!(d.reason.contains("clearly better than chance") && d.reason.contains("the GPU holds one reading"), "{}", d.reason);
    let d = on_gpu(&packed(EMBEDDED, I2sLayout::Block64, None));
    let warning = d.warning.expect("a misread on the GPU is a warning");
    println!("embedded model packed 64/16, on the GPU: {warning}");
    assert_eq!(d.layout, I2sLayout::Block128);
    assert!(warning.contains("device: \"cpu\"") && warning.contains("i2sLayout: 64 or \"1x4\""), "{warning}");
}
