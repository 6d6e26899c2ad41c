//! BitNet-embedding (issue 32): tiny Qwen3- and Gemma 3-shaped models built from HF transformers' own
//! Qwen3 / Gemma3 and BitNet quantizer, converted by Microsoft's utils/convert-bitnet-embedding-to-gguf.py
//! (tests/fixtures/make_embedding_fixtures.py). Our pooled, normalised vectors against HF's, and our
//! `qwen2` and Gemma (SentencePiece) tokenizers against the `tokenizers` library, on every kernel;
//! natively and in headless Chromium.

use bitnet_web::chat::Message;
use bitnet_web::engine::{Engine, EngineError, EngineOptions, GenerateParams, Prompt};
use bitnet_web::kernels::KernelKind;
use bitnet_web::gguf::{self, GgufWriter, Value};
use bitnet_web::model::{Activation, Arch, ForwardOptions, KvCache, KvPrecision, ModelError, Pooling};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const MODEL: &[u8] = include_bytes!("../fixtures/embedding/qwen3_emb.i2_s.gguf");
const REFERENCE: &str = include_str!("../fixtures/embedding/qwen3_emb.json");
const GEMMA: &[u8] = include_bytes!("../fixtures/embedding/gemma3_emb.i2_s.gguf");
const GEMMA_REFERENCE: &str = include_str!("../fixtures/embedding/gemma3_emb.json");
/// The tiny Gemma 3's window (its HF config), which Microsoft's converter does not write.
const GEMMA_WINDOW: u32 = 8;
const CHAT_MODEL: &[u8] = include_bytes!("../fixtures/reference/tiny_b.i2_s.gguf");

/// Cosine similarity to HF's vector, on every input. An exact forward pass gives 1 to seven places,
/// except where an int8 rounding sits on a tie: an activation within f32 noise of a .5 boundary
/// (x·127/max|x| carries ~1e-5 of an int8 unit of rounding error, and the fixtures' closest values
/// are 0 to 4e-6 from one), which HF's f32 arithmetic and any other exact one may round apart. In a
/// model 128 wide one flip moves the vector by up to 2.3e-4 in cosine: the generator's own f64
/// forward pass, rounding on its own, lands at 0.99988 (Qwen3) and 0.99993 (Gemma 3) on its worst
/// case. Replacing any one norm with ones brings the worst case to 0.9992 or below, and a wrong
/// rotary base, window or embedding scale below 0.95, so this bar still catches each.
const MIN_COSINE_WITH_TIES: f64 = 0.9995;
/// Where nothing flips, the vectors are HF's to float noise: at least `EXACT_CASES` inputs of each
/// fixture reach this.
const MIN_COSINE: f64 = 0.99999;
const EXACT_CASES: usize = 2;

fn reference() -> serde_json::Value {
    serde_json::from_str(REFERENCE).unwrap()
}

/// The Gemma 3 fixture with `gemma3.attention.sliding_window` added, as llama.cpp's converter writes it.
fn gemma_with_window() -> Vec<u8> {
    let (g, data) = gguf::read_all(GEMMA).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata.iter().cloned().chain([("gemma3.attention.sliding_window".to_string(), Value::U32(GEMMA_WINDOW))]) {
        w.kv(k, v);
    }
    for (t, d) in g.tensors.iter().zip(data) {
        w.tensor(t.name.clone(), t.ty, &t.shape, d);
    }
    w.to_bytes().unwrap()
}

/// Each fixture: its name, the file, its reference.
fn fixtures() -> Vec<(&'static str, Vec<u8>, serde_json::Value)> {
    vec![
        ("qwen3", MODEL.to_vec(), reference()),
        ("gemma3", gemma_with_window(), serde_json::from_str(GEMMA_REFERENCE).unwrap()),
    ]
}

fn engine(kernel: Option<KernelKind>) -> Engine {
    Engine::load(MODEL, EngineOptions { kernel, ..Default::default() }).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let n = |v: &[f32]| v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn the_header_is_read_as_bitnet_embedding() {
    let e = engine(None);
    let c = e.config();
    assert_eq!(c.arch, Arch::Qwen3);
    assert_eq!(c.pooling, Some(Pooling::Last));
    // The fixture's heads are 64 wide, not 128 / 4: `key_length` decides, as in the real 0.6B.
    assert_eq!((c.n_embd, c.n_head, c.head_dim), (128, 4, 64));
    assert!(c.proj_norms && c.qk_norm && c.sub_norms);
    assert!(e.tokenizer.add_eos && e.tokenizer.eos.is_some());
}

#[test]
fn embeddings_match_the_hf_reference_on_every_kernel() {
    for (name, model, r) in fixtures() {
        for kernel in KernelKind::available() {
            let mut e = Engine::load(&model, EngineOptions { kernel: Some(kernel), ..Default::default() }).unwrap();
            check_against_reference(&mut e, &r, &format!("{name} on {}", kernel.name()));
        }
    }
}

/// The GPU path (wgpu; lavapipe in `make test`): the same fixtures, streamed to the device as the
/// product loads them, held to the same bars against HF.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn embeddings_match_the_hf_reference_on_the_gpu() {
    use bitnet_web::gpu::Gpu;
    use bitnet_web::model::{LoadOptions, ModelLoader};
    for (name, model, r) in fixtures() {
        let opts = EngineOptions { load: LoadOptions { on_gpu: true, ..Default::default() }, ..Default::default() };
        let mut loader = ModelLoader::new(opts.loader_options(), Some(model.len() as u64));
        loader.use_gpu(Gpu::new().expect("the GPU tests need a wgpu adapter: install mesa-vulkan-drivers (lavapipe)"));
        for chunk in model.chunks(1 << 16) {
            loader.feed(chunk).unwrap();
        }
        let (gpu, gguf) = loader.finish_on_gpu(512).unwrap();
        let mut e = Engine::on_gpu(gpu, &gguf, opts).unwrap();
        assert_eq!(e.backend().name(), "gpu");
        check_against_reference(&mut e, &r, &format!("{name} on the GPU"));
        // Each input is its own sequence: the cache is left empty, and embedding again gives the same.
        let text = r["cases"][0]["text"].as_str().unwrap();
        assert_eq!(e.embed(text, false).unwrap().vector, e.embed(text, false).unwrap().vector);
    }
}

/// Every case of the reference `r` embedded by `e`: the tokens, and the vector within the bars above.
fn check_against_reference(e: &mut Engine, r: &serde_json::Value, label: &str) {
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 8, "only {} cases", cases.len());
    assert!(cases.iter().any(|c| c["ids"].as_array().unwrap().len() > 256), "no long input");
    let (mut worst_cos, mut worst_abs, mut worst_tied, mut exact) = (1f64, 0f32, 1f64, 0);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want_ids = ids(&case["ids"]);
        assert_eq!(e.encode_prompt(&Prompt::Text(text.into())).unwrap(), want_ids, "{text:?}");
        let got = e.embed(text, false).unwrap();
        let want = floats(&case["embedding"]);
        assert_eq!(got.tokens, want_ids.len());
        assert_eq!(got.vector.len(), want.len());
        let cos = cosine(&got.vector, &want);
        let abs = got.vector.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(cos >= MIN_COSINE_WITH_TIES, "{label} {text:?}: cosine {cos}");
        if cos >= MIN_COSINE {
            exact += 1;
            worst_cos = worst_cos.min(cos);
            worst_abs = worst_abs.max(abs);
        } else {
            worst_tied = worst_tied.min(cos);
        }
        // A wrong norm or head width moves the vector far: each case is also nearer its own
        // reference than any other case's.
        for other in cases.iter().filter(|o| o["text"] != case["text"]) {
            assert!(cosine(&got.vector, &floats(&other["embedding"])) < cos);
        }
    }
    assert!(exact >= EXACT_CASES, "{label}: only {exact} inputs at cosine {MIN_COSINE}");
    println!(
        "{label}: {exact} inputs at cosine >= {MIN_COSINE} (worst {worst_cos:.8}, max abs diff {worst_abs:.2e}); {} below, a rounding flipped (worst {worst_tied:.6})",
        cases.len() - exact
    );
}

/// Several inputs packed into one forward call (`Compute::embed_batch`, up to `PACK_TOKENS` tokens)
/// each attend to their own rows only, from position 0, within Gemma 3's window: every vector is the
/// one the input gets alone, to the bit (every row's arithmetic is its own).
#[test]
fn inputs_packed_into_one_forward_call_get_their_own_vectors() {
    use bitnet_web::model::PACK_TOKENS;
    for (name, model, r) in fixtures() {
        let mut e = Engine::load(&model, EngineOptions::default()).unwrap();
        let texts: Vec<&str> = r["cases"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
        let lens: Vec<usize> = r["cases"].as_array().unwrap().iter().map(|c| c["ids"].as_array().unwrap().len()).collect();
        // Some consecutive inputs share a pack, and one crosses the window of 8.
        assert!(lens.windows(2).any(|w| w[0] + w[1] <= PACK_TOKENS && w[0] > GEMMA_WINDOW as usize), "{lens:?}");
        let alone: Vec<_> = texts.iter().map(|t| e.embed(t, false).unwrap()).collect();
        let packed = e.embed_many(&texts, false).unwrap();
        assert_eq!(packed.len(), texts.len());
        for ((a, p), text) in alone.iter().zip(&packed).zip(&texts) {
            assert_eq!((a.tokens, &a.vector), (p.tokens, &p.vector), "{name}: {text:?}");
        }
    }
}

#[test]
fn gemma3_is_read_as_bitnet_embedding_270m_and_an_unrecorded_window_is_said() {
    let e = Engine::load(&gemma_with_window(), EngineOptions::default()).unwrap();
    let c = e.config();
    assert_eq!((c.arch, c.pooling, c.activation), (Arch::Gemma3, Some(Pooling::Last), Activation::GeluTanh));
    assert!(c.post_norms && c.proj_norms && c.qk_norm);
    assert_eq!(c.embed_scale, Some((128f32).sqrt()));
    assert_eq!(c.sliding_window.map(|w| (w.window, w.every, w.theta)), Some((8, 6, 10000.0)));
    assert!(c.decision.conflicts.is_empty(), "{:?}", c.decision.conflicts);
    // Five local layers of six: positions 0..=3 fall out of layer 0's window at position 11, not layer 5's.
    assert_eq!((c.attended(0, 11), c.attended(5, 11)), (4..12, 0..12));
    assert_eq!((c.rope_theta_of(0), c.rope_theta_of(5)), (10000.0, 1e6));

    // As Microsoft's converter wrote it, the window is not in the file: Gemma 3 270M's 512 is
    // assumed and said, and an input shorter than both windows embeds as HF's does.
    let mut e = Engine::load(GEMMA, EngineOptions::default()).unwrap();
    assert_eq!(e.config().sliding_window.map(|w| w.window), Some(512));
    assert!(e.config().decision.conflicts.iter().any(|w| w.contains("sliding window") && w.contains("512")), "{:?}", e.config().decision);
    let r: serde_json::Value = serde_json::from_str(GEMMA_REFERENCE).unwrap();
    let short: Vec<&serde_json::Value> = r["cases"].as_array().unwrap().iter().filter(|c| c["ids"].as_array().unwrap().len() <= GEMMA_WINDOW as usize).collect();
    assert!(!short.is_empty());
    for case in short {
        let got = e.embed(case["text"].as_str().unwrap(), false).unwrap();
        assert!(cosine(&got.vector, &floats(&case["embedding"])) >= MIN_COSINE_WITH_TIES);
    }
}

#[test]
fn qwen2_and_gemma_tokenizers_match_the_tokenizers_library() {
    for (name, model, r) in fixtures() {
    let e = Engine::load(&model, EngineOptions::default()).unwrap();
    let cases = r["tokenizer_cases"].as_array().unwrap();
    assert!(cases.len() >= 200, "only {} tokenizer cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        if e.tokenizer.encode(text, true) != ids(&case["ids"]) {
            wrong.push(text.to_string());
        }
    }
    assert!(wrong.is_empty(), "{name}: {} of {} differ, e.g. {:?}", wrong.len(), cases.len(), &wrong[..wrong.len().min(5)]);
    }
}

#[test]
fn dimensions_keep_the_first_values_normalised_again() {
    let mut e = engine(None);
    let full = e.embed("what is BitNet?", false).unwrap();
    let short = full.shortened(32).unwrap();
    assert_eq!(short.len(), 32);
    let norm: f64 = short.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-6);
    assert!(cosine(&short, &full.vector[..32]) > 0.999_999);
    assert!(full.shortened(0).is_none() && full.shortened(129).is_none());
    assert_eq!(full.shortened(128).unwrap().len(), 128);
}

#[test]
fn an_input_longer_than_the_context_is_refused_or_cut_to_end_with_eos() {
    let mut e = Engine::load(MODEL, EngineOptions { max_context: 16, ..Default::default() }).unwrap();
    let long = "BitNet embeds text on the device, one ternary weight at a time. ".repeat(4);
    // Refused by its tokens, or already by its bytes (no token of this vocabulary is that long).
    assert!(matches!(e.embed(&long, false), Err(EngineError::PromptTooLong { max: 16, .. } | EngineError::PromptTooManyBytes { max: 16, .. })));
    let cut = e.embed(&long, true).unwrap();
    assert_eq!(cut.tokens, 16);
    // The same as embedding the first 15 tokens and the EOS, which pooling reads.
    let ids = e.encode_prompt(&Prompt::Text(long.clone())).unwrap();
    let eos = e.tokenizer.eos.unwrap();
    assert_eq!(ids.last(), Some(&eos));
    let want: Vec<u32> = ids[..15].iter().copied().chain([eos]).collect();
    let c = e.config().clone();
    let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, 16, KvPrecision::F32);
    let again = e.model().unwrap().embed(&mut cache, &want, ForwardOptions::default()).unwrap();
    assert!(cosine(&again, &cut.vector) > 0.999_999);
    // Megabytes of text are refused by their length before they are tokenized.
    let huge = "x".repeat(16 << 20);
    assert!(matches!(e.embed(&huge, false), Err(EngineError::PromptTooManyBytes { .. })));
    assert_eq!(e.embed(&huge, true).unwrap().tokens, 16);
}

#[test]
fn each_kind_of_model_refuses_the_other_kinds_request() {
    let mut e = engine(None);
    let chat = Prompt::Chat(vec![Message::new("user", "hi")]);
    let refused = e.begin(&chat, GenerateParams::default());
    assert!(matches!(refused, Err(EngineError::Model(ModelError::WrongKind(_)))), "{:?}", refused.err());
    assert!(matches!(e.evaluate(&[1, 2]), Err(EngineError::Model(ModelError::WrongKind(_)))));
    let mut lm = Engine::load(CHAT_MODEL, EngineOptions::default()).unwrap();
    assert!(matches!(lm.embed("hi", false), Err(EngineError::Model(ModelError::WrongKind(_)))));
    // Both still answer what they are for.
    assert!(e.embed("hi", false).is_ok());
    assert!(lm.begin(&chat, GenerateParams { max_tokens: 1, ..Default::default() }).is_ok());
}
