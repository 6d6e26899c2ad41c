//! Everything the header can tell is decided from the header: each case below is a reference model
//! rewritten by our GGUF writer with one lie or one gap, and only the bytes before the first tensor
//! are fed. Each must fail there, with the error that names the problem.
#![cfg(not(target_arch = "wasm32"))]

use bitnet_web::chat::{ChatError, MAX_TEMPLATE_BYTES};
use bitnet_web::engine::{self, EngineError, EngineOptions};
use bitnet_web::gguf::{self, Array, Value};
use bitnet_web::model::{LoadOptions, ModelError, ModelLoader};
use bitnet_web::tokenizer::TokenizerError;

const MODEL: &[u8] = include_bytes!("../fixtures/reference/tiny_b.i2_s.gguf");
const ARCH: &str = "bitnet-b1.58";

use crate::common::rewrite_model;

/// The reference model with `edit` applied to its metadata and tensors, written by our writer.
fn rewrite(edit: impl Fn(&mut Vec<(String, Value)>, &mut Vec<(String, gguf::TensorType, Vec<u64>, Vec<u8>)>)) -> Vec<u8> {
    rewrite_model(MODEL, &edit)
}

fn set(key: &str, v: Value) -> impl Fn(&mut Vec<(String, Value)>, &mut Vec<(String, gguf::TensorType, Vec<u64>, Vec<u8>)>) {
    let key = key.to_string();
    move |meta, _| match meta.iter_mut().find(|(k, _)| *k == key) {
        Some(kv) => kv.1 = v.clone(),
        None => meta.push((key.clone(), v.clone())),
    }
}

/// Feeds only the header (everything before the tensor data) and returns the first error: the
/// model loader's, then the engine's header check (the tokenizer).
fn header_error(file: &[u8]) -> EngineError {
    let (g, _) = gguf::read_all(file).unwrap();
    let header = &file[..g.data_offset as usize];
    let mut loader = ModelLoader::new(LoadOptions::default(), Some(file.len() as u64));
    if let Err(e) = loader.feed(header) {
        return e.into();
    }
    let (g, c) = (loader.header().expect("header checked"), loader.config().unwrap());
    engine::check_header(g, c, &EngineOptions::default()).expect_err("the header should have been refused")
}

#[test]
fn the_unmodified_model_passes_the_header_checks() {
    let file = rewrite(|_, _| {});
    let (g, _) = gguf::read_all(&file).unwrap();
    let mut loader = ModelLoader::new(LoadOptions::default(), Some(file.len() as u64));
    loader.feed(&file[..g.data_offset as usize]).unwrap();
    engine::check_header(loader.header().unwrap(), loader.config().unwrap(), &EngineOptions::default()).unwrap();
}

#[test]
fn a_lying_block_count_fails_before_anything_is_allocated() {
    for n in [3, 1000, (1 << 31) - 1] {
        let e = header_error(&rewrite(set(&format!("{ARCH}.block_count"), Value::U32(n))));
        assert!(matches!(&e, EngineError::Model(ModelError::BadValue { key, .. }) if key.ends_with("block_count")), "{n}: {e:?}");
        assert!(e.to_string().contains("holds weights for 2"), "{e}");
    }
}

#[test]
fn rope_theta_rms_eps_and_context_length_must_be_sensible() {
    for (key, v) in [
        ("rope.freq_base", Value::F32(f32::NAN)),
        ("rope.freq_base", Value::F32(0.0)),
        ("rope.freq_base", Value::F32(-10000.0)),
        ("rope.freq_base", Value::F32(f32::INFINITY)),
        ("attention.layer_norm_rms_epsilon", Value::F32(0.0)),
        ("attention.layer_norm_rms_epsilon", Value::F32(f32::NAN)),
        ("context_length", Value::U32(0)),
        ("context_length", Value::U64(1 << 40)),
    ] {
        let full = format!("{ARCH}.{key}");
        let e = header_error(&rewrite(set(&full, v.clone())));
        assert!(matches!(&e, EngineError::Model(ModelError::BadValue { key, .. }) if *key == full), "{full} = {v:?}: {e:?}");
    }
}

#[test]
fn a_missing_tensor_is_named_at_the_header() {
    for name in ["blk.1.ffn_down.weight", "blk.0.attn_sub_norm.weight", "output_norm.weight", "token_embd.weight"] {
        let e = header_error(&rewrite(|_, t| t.retain(|(n, ..)| n != name)));
        assert_eq!(e, EngineError::Model(ModelError::MissingTensor(name.into())), "{name}");
    }
}

#[test]
fn the_tokenizer_is_checked_at_the_header() {
    let e = header_error(&rewrite(set("tokenizer.ggml.model", Value::String("t5".into()))));
    assert!(matches!(e, EngineError::Tokenizer(TokenizerError::UnsupportedModel(ref m)) if m == "t5"), "{e:?}");
    let e = header_error(&rewrite(set("tokenizer.ggml.pre", Value::String("no-such-pre".into()))));
    assert!(matches!(e, EngineError::Tokenizer(TokenizerError::UnsupportedPreTokenizer(_))), "{e:?}");
    // One token fewer than the embedding has rows.
    let e = header_error(&rewrite(|meta, _| {
        for (k, v) in meta.iter_mut() {
            if !k.starts_with("tokenizer.ggml.") || k == "tokenizer.ggml.merges" {
                continue;
            }
            match v {
                Value::Array(Array::String(t)) => drop(t.pop()),
                Value::Array(Array::F32(t)) => drop(t.pop()),
                Value::Array(Array::I32(t)) => drop(t.pop()),
                _ => {}
            }
        }
    }));
    assert!(e.to_string().contains("287 tokens in the vocabulary, but the model has 288 embeddings"), "{e}");
    let e = header_error(&rewrite(|meta, _| meta.retain(|(k, _)| k != "tokenizer.ggml.model")));
    assert!(matches!(e, EngineError::Tokenizer(TokenizerError::Missing("tokenizer.ggml.model"))), "{e:?}");
}

/// An embedding, head or norm can be any ggml type; one that the decoder does not read is named at
/// the header, with the types that are read and how to get one, instead of failing once its bytes
/// have streamed in.
#[test]
fn an_embedding_or_norm_in_a_type_we_do_not_decode_is_refused_at_the_header() {
    use gguf::TensorType::{IQ4_NL, Q2_K, Q4_1, Q5_1};
    for (name, ty) in [("token_embd.weight", Q4_1), ("token_embd.weight", Q5_1), ("token_embd.weight", Q2_K), ("output_norm.weight", Q4_1), ("blk.1.ffn_sub_norm.weight", IQ4_NL)] {
        let file = rewrite(|_, tensors| {
            let t = tensors.iter_mut().find(|t| t.0 == name).unwrap();
            let n: u64 = t.2.iter().product();
            (t.1, t.3) = (ty, vec![0; ty.byte_size(n).unwrap() as usize]);
        });
        let e = header_error(&file);
        let EngineError::Model(ModelError::UnsupportedTensor { tensor, reason }) = &e else { panic!("{name} as {ty}: {e:?}") };
        assert_eq!(tensor, name);
        assert!(reason.contains(&format!("stored as {ty}")) && reason.contains("F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q3_K, Q4_K, Q6_K"), "{reason}");
        assert!(reason.contains("--token-embedding-type f16"), "says how to get a file that loads: {reason}");
    }
}

/// bitnet.cpp's embedding-quantization study writes token embeddings in Q4_0, Q5_0 and Q3_K. A model
/// whose embedding (tied: also its head) is stored so computes exactly what the same values stored
/// as F32 compute: the decoders themselves are checked against gguf-py (tests/suite/gguf_fixtures.rs).
#[test]
fn an_embedding_in_the_study_types_computes_what_its_values_compute() {
    use bitnet_web::quant::{self, DecodeOptions};
    use gguf::TensorType::{F32, Q3_K, Q4_0, Q5_0};
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut byte = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 56) as u8
    };
    for (ty, d_at) in [(Q4_0, 0), (Q5_0, 0), (Q3_K, 108)] {
        let (g, _) = gguf::read_all(MODEL).unwrap();
        let n = g.tensors.iter().find(|t| t.name == "token_embd.weight").unwrap().n_elements;
        let (block, size) = (ty.block_size() as usize, ty.byte_size(ty.block_size()).unwrap() as usize);
        let mut bytes: Vec<u8> = (0..ty.byte_size(n).unwrap()).map(|_| byte()).collect();
        for b in bytes.chunks_exact_mut(size) {
            // A scale like a trained embedding's (0.004 to 0.02), not a random f16 (up to 65504).
            let d = half::f16::from_f32(0.004 + 0.016 * byte() as f32 / 255.0);
            b[d_at..d_at + 2].copy_from_slice(&d.to_le_bytes());
        }
        assert_eq!(bytes.len() % size, 0);
        assert_eq!(n as usize % block, 0);
        let values = quant::decode(ty, &bytes, n, DecodeOptions::default()).unwrap();
        let with = |ty: gguf::TensorType, data: Vec<u8>| {
            rewrite(move |_, tensors| {
                let t = tensors.iter_mut().find(|t| t.0 == "token_embd.weight").unwrap();
                (t.1, t.3) = (ty, data.clone());
            })
        };
        let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let logits = |file: &[u8]| engine::Engine::load(file, EngineOptions::default()).unwrap().evaluate(&[1, 20, 300 % 288, 45]).unwrap();
        let (stored, reference) = (logits(&with(ty, bytes)), logits(&with(F32, f32_bytes)));
        assert!(stored.iter().all(|x| x.is_finite()));
        assert_eq!(stored, reference, "{ty}");
    }
}

/// Every type the header accepts for a dense tensor decodes, and the others are exactly the ones
/// the decoder refuses: the header's list cannot drift from the decoder.
#[test]
fn the_dense_types_the_header_accepts_are_the_ones_the_decoder_reads() {
    use bitnet_web::quant::{self, DecodeOptions, QuantError};
    for id in 0..=36 {
        let Some(ty) = gguf::TensorType::from_id(id) else { continue };
        if quant::ternary::is_ternary(ty) {
            continue;
        }
        let n = ty.block_size();
        let bytes = vec![0u8; ty.byte_size(n).unwrap() as usize];
        match quant::decode(ty, &bytes, n, DecodeOptions::default()) {
            Ok(_) => assert!(quant::DENSE.contains(&ty), "{ty} decodes but the header refuses it"),
            Err(QuantError::Unsupported(_)) => assert!(!quant::DENSE.contains(&ty), "the header accepts {ty}, which does not decode"),
            Err(e) => panic!("{ty}: {e}"),
        }
    }
}

/// The chat template is bounded at the header (`chat::MAX_TEMPLATE_BYTES`, sized from the official
/// templates), and an empty one is refused where the arch would use it.
#[test]
fn the_chat_template_is_bounded_and_an_empty_one_is_refused_at_the_header() {
    const LLAMA: &[u8] = include_bytes!("../fixtures/reference/tiny_llama.i2_s.gguf");
    let with_template = |model: &[u8], t: String| rewrite_model(model, &set("tokenizer.chat_template", Value::String(t)));
    let passes = |file: &[u8]| {
        let (g, _) = gguf::read_all(file).unwrap();
        let mut loader = ModelLoader::new(LoadOptions::default(), Some(file.len() as u64));
        loader.feed(&file[..g.data_offset as usize]).unwrap();
        engine::check_header(loader.header().unwrap(), loader.config().unwrap(), &EngineOptions::default())
    };
    let longest = "{{ 'x' }}".repeat(MAX_TEMPLATE_BYTES / 9) + &" ".repeat(MAX_TEMPLATE_BYTES % 9);
    assert_eq!(longest.len(), MAX_TEMPLATE_BYTES);
    for model in [MODEL, LLAMA] {
        passes(&with_template(model, longest.clone())).unwrap();
        let e = header_error(&with_template(model, longest.clone() + " "));
        assert_eq!(e, EngineError::Chat(ChatError::TemplateTooLong { bytes: MAX_TEMPLATE_BYTES + 1, max: MAX_TEMPLATE_BYTES }));
    }
    for empty in ["", " \n\t"] {
        let e = header_error(&with_template(LLAMA, empty.into()));
        assert_eq!(e, EngineError::Chat(ChatError::EmptyTemplate), "{empty:?}");
        assert!(e.to_string().contains("is empty"), "{e}");
        // 2B4T's arch formats its chats itself and never reads the template.
        passes(&with_template(MODEL, empty.into())).unwrap();
    }
    // Engine::load checks it too (the CLI's and the tests' path).
    let file = with_template(LLAMA, String::new());
    let e = engine::Engine::load(&file, EngineOptions::default()).err().expect("refused");
    assert_eq!(e, EngineError::Chat(ChatError::EmptyTemplate));
}

#[test]
fn tl1_and_tl2_of_shapes_no_preset_covers_are_refused_naming_the_way_out() {
    // bitnet.cpp's lookup-table formats are read only where the tiling is known (quant::tl): this
    // model's shapes are in none of bitnet.cpp's presets, and a type-39 tensor with no scale beside it
    // may as well be upstream's MXFP4.
    for (id, says) in [(38u32, ["TL1", "kernel_config.ini", "re-convert the model to I2_S"]), (39, ["TL2", "MXFP4", "I2_S"])] {
        // The tensor table entry of blk.0.attn_q with its type id replaced.
        let file = rewrite(|_, _| {});
        let (g, _) = gguf::read_all(&file).unwrap();
        let mut bytes = file.clone();
        let name = b"blk.0.attn_q.weight";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
        let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let ty_at = at + 4 + 8 * n_dims;
        bytes[ty_at..ty_at + 4].copy_from_slice(&id.to_le_bytes());
        let mut loader = ModelLoader::new(LoadOptions::default(), Some(bytes.len() as u64));
        let e = loader.feed(&bytes[..g.data_offset as usize]).unwrap_err();
        let ModelError::UnsupportedTensor { tensor, reason } = &e else { panic!("{id}: {e:?}") };
        assert_eq!(tensor, "blk.0.attn_q.weight");
        for s in says {
            assert!(reason.contains(s), "{id}: says {s:?}: {reason}");
        }
    }
}

#[test]
fn a_non_finite_norm_is_refused_when_it_arrives() {
    // A NaN in a norm would vanish in the int8 activations (NaN casts to 0): silent garbage.
    let file = rewrite(|_, t| {
        let (.., d) = t.iter_mut().find(|(n, ..)| n == "blk.1.ffn_norm.weight").unwrap();
        d[8..12].copy_from_slice(&f32::INFINITY.to_le_bytes());
    });
    let err = bitnet_web::engine::Engine::load(&file, EngineOptions::default()).err().expect("refused");
    assert!(matches!(&err, EngineError::Model(ModelError::BadTensor { tensor, reason }) if tensor == "blk.1.ffn_norm.weight" && reason.contains("value 2 is inf")), "{err:?}");
}

#[test]
fn a_non_finite_embedding_is_refused_when_it_arrives() {
    // F16 0x7e00 is NaN. With the default 4-bit shortlist head, a NaN row's estimate stays finite,
    // so it would have gone unnoticed.
    let file = rewrite(|_, t| {
        let (.., d) = t.iter_mut().find(|(n, ..)| n == "token_embd.weight").unwrap();
        d[2 * (256 * 7 + 3)..][..2].copy_from_slice(&0x7e00u16.to_le_bytes());
    });
    let err = bitnet_web::engine::Engine::load(&file, EngineOptions::default()).err().expect("refused");
    assert!(matches!(&err, EngineError::Model(ModelError::BadTensor { tensor, reason }) if tensor == "token_embd.weight" && reason.contains("value 3 of row 7")), "{err:?}");
}

/// What no load-time check can see: a hidden state that overflows in a layer is named there, and
/// logits that are not finite are a typed error, not a silent token 0. Both are forced here with
/// a ternary scale of 1e38 (finite itself), which overflows the projection's output.
#[test]
fn a_non_finite_hidden_state_names_its_layer() {
    let huge = |layer: usize| {
        rewrite(move |_, t| {
            let name = format!("blk.{layer}.ffn_down.weight");
            let (_, ty, shape, d) = t.iter_mut().find(|(n, ..)| *n == name).unwrap();
            assert_eq!(*ty, gguf::TensorType::I2_S);
            // I2_S: the 2-bit codes of n weights, then one f32 scale for the whole tensor at n/4.
            let at = shape.iter().product::<u64>() as usize / 4;
            d[at..at + 4].copy_from_slice(&1e38f32.to_le_bytes());
        })
    };
    for layer in [0, 1] {
        let mut e = bitnet_web::engine::Engine::load(&huge(layer), EngineOptions::default()).unwrap();
        let err = e.begin(&bitnet_web::engine::Prompt::Text("hello world".into()), Default::default()).err().expect("must not sample");
        assert_eq!(err, EngineError::Model(ModelError::NonFinite { layer }));
        assert!(err.to_string().contains(&format!("layer {layer}")));
    }
}

#[test]
fn non_finite_logits_are_a_typed_error_not_token_0() {
    // A final norm of 3e38 everywhere (finite, so the loader keeps it) overflows the logits.
    let file = rewrite(|_, t| {
        let (.., d) = t.iter_mut().find(|(n, ..)| n == "output_norm.weight").unwrap();
        d.chunks_exact_mut(4).for_each(|v| v.copy_from_slice(&3e38f32.to_le_bytes()));
    });
    let mut e = bitnet_web::engine::Engine::load(&file, EngineOptions::default()).unwrap();
    let prompt = bitnet_web::engine::Prompt::Text("hello".into());
    let err = e.begin(&prompt, Default::default()).err().expect("non-finite logits must not sample");
    assert!(matches!(err, EngineError::NonFiniteLogits { .. }), "{err:?}");
}
