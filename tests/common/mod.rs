//! Shared test support: the committed gguf-py fixtures and a byte-level builder for broken files.
//! Both native tests and the headless-Chromium tests use it, so the browser checks the same facts.
#![allow(dead_code)]

pub mod raw;
pub mod reference;

use bitnet_web::gguf::{self, Gguf, GgufWriter, Value};
use bitnet_web::quant::{self, DecodeOptions, I2sLayout};
use serde_json::Value as Json;

/// Every model we can run, as paths from the repository root: the embedded model and the seven HF
/// reference models.
pub const EVERY_MODEL: &[&str] = &[
    "www/models/bitnet-tiny-chat.i2_s.gguf",
    "tests/fixtures/reference/tiny_a.i2_s.gguf",
    "tests/fixtures/reference/tiny_a.tq2_0.gguf",
    "tests/fixtures/reference/tiny_b.i2_s.gguf",
    "tests/fixtures/reference/tiny_b.tq2_0.gguf",
    "tests/fixtures/reference/tiny_c.i2_s.gguf",
    "tests/fixtures/reference/tiny_bitnet_silu.tq2_0.gguf",
    "tests/fixtures/reference/tiny_llama.i2_s.gguf",
];

pub struct Fixture {
    pub name: &'static str,
    pub gguf: &'static [u8],
    /// Metadata and tensor table as gguf-py's GGUFReader reads them.
    pub manifest: &'static str,
    /// gguf-py's dequantized values (or the spec encoder's, for I2_S), f32 LE, in table order.
    pub expected: &'static [u8],
    pub i2s_layout: I2sLayout,
}

macro_rules! fixture {
    ($name:literal, $layout:expr) => {
        Fixture {
            name: $name,
            gguf: include_bytes!(concat!("../fixtures/gguf/", $name, ".gguf")),
            manifest: include_str!(concat!("../fixtures/gguf/", $name, ".json")),
            expected: include_bytes!(concat!("../fixtures/gguf/", $name, ".expected.f32")),
            i2s_layout: $layout,
        }
    };
}

pub const FIXTURES: &[Fixture] = &[
    fixture!("types", I2sLayout::Block128),
    fixture!("quants", I2sLayout::Block128),
    fixture!("i2s", I2sLayout::Block128),
    fixture!("i2s_64", I2sLayout::Block64),
    fixture!("embeddings", I2sLayout::Block128),
];

pub const QUANT_SIZES: &str = include_str!("../fixtures/gguf/quant_sizes.json");

/// gguf-py's value-type names.
fn type_name(v: &Value) -> &'static str {
    use bitnet_web::gguf::ValueType as T;
    match v.value_type() {
        T::U8 => "UINT8",
        T::I8 => "INT8",
        T::U16 => "UINT16",
        T::I16 => "INT16",
        T::U32 => "UINT32",
        T::I32 => "INT32",
        T::F32 => "FLOAT32",
        T::Bool => "BOOL",
        T::String => "STRING",
        T::Array => "ARRAY",
        T::U64 => "UINT64",
        T::I64 => "INT64",
        T::F64 => "FLOAT64",
    }
}

/// Compares one of our values with gguf-py's JSON rendering of it. Floats compare exactly: an f32
/// widened to f64 is what gguf-py prints.
fn same_value(ours: &Value, theirs: &Json) -> bool {
    match (ours, theirs) {
        (Value::Array(a), Json::Array(items)) => {
            a.len() == items.len() && items.iter().enumerate().all(|(i, t)| same_value(&a.get(i).unwrap(), t))
        }
        (Value::String(s), Json::String(t)) => s == t,
        (Value::Bool(b), Json::Bool(t)) => b == t,
        (Value::U64(x), Json::Number(n)) => n.as_u64() == Some(*x),
        (Value::I64(x), Json::Number(n)) => n.as_i64() == Some(*x),
        (v, Json::Number(n)) => v.as_f64().is_some() && v.as_f64() == n.as_f64(),
        _ => false,
    }
}

/// Checks a parse of `fx` (header plus each tensor's bytes) against gguf-py's manifest and values.
pub fn check_fixture(fx: &Fixture, g: &Gguf, data: &[Vec<u8>]) -> Result<(), String> {
    let m: Json = serde_json::from_str(fx.manifest).map_err(|e| e.to_string())?;
    let name = fx.name;
    let tensors = m["tensors"].as_array().unwrap();
    if tensors.len() != g.tensors.len() {
        return Err(format!("{name}: {} tensors, gguf-py has {}", g.tensors.len(), tensors.len()));
    }
    for (t, e) in g.tensors.iter().zip(tensors) {
        let shape: Vec<u64> = e["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        let same = t.name == e["name"].as_str().unwrap()
            && t.ty.id() as u64 == e["type"].as_u64().unwrap()
            && t.shape == shape
            && t.n_bytes == e["n_bytes"].as_u64().unwrap()
            && t.n_elements == e["n_elements"].as_u64().unwrap()
            && e.get("offset").is_none_or(|o| o.as_u64() == Some(t.offset));
        if !same {
            return Err(format!("{name}: tensor {t:?} differs from gguf-py's {e}"));
        }
    }
    if let Some(off) = m.get("data_offset").and_then(Json::as_u64) {
        if off != g.data_offset || m["alignment"].as_u64() != Some(g.alignment) {
            return Err(format!("{name}: data at {} (align {}), gguf-py says {off} ({})", g.data_offset, g.alignment, m["alignment"]));
        }
    }
    let meta = m["metadata"].as_array().unwrap();
    if meta.len() != g.metadata.len() {
        return Err(format!("{name}: {} metadata keys, gguf-py has {}", g.metadata.len(), meta.len()));
    }
    for e in meta {
        let key = e["key"].as_str().unwrap();
        let ours = g.get(key).ok_or_else(|| format!("{name}: missing key {key}"))?;
        if !same_value(ours, &e["value"]) {
            return Err(format!("{name}: {key} = {ours:?}, gguf-py has {}", e["value"]));
        }
        if let Some(types) = e.get("types").and_then(Json::as_array) {
            let mut ours_types = vec![type_name(ours)];
            if let Value::Array(a) = ours {
                ours_types.push(type_name(&a.get(0).unwrap_or(Value::U8(0))));
                if a.is_empty() {
                    ours_types.pop();
                }
            }
            let theirs: Vec<&str> = types.iter().map(|t| t.as_str().unwrap()).collect();
            if ours_types != theirs {
                return Err(format!("{name}: {key} has types {ours_types:?}, gguf-py says {theirs:?}"));
            }
        }
    }
    let mut decoded = Vec::new();
    for (t, bytes) in g.tensors.iter().zip(data) {
        let opts = DecodeOptions { i2s_layout: fx.i2s_layout, ..Default::default() };
        let v = quant::decode(t.ty, bytes, t.n_elements, opts).map_err(|e| format!("{name}/{}: {e}", t.name))?;
        decoded.extend(v);
    }
    let expected: Vec<f32> = fx.expected.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    if decoded.len() != expected.len() {
        return Err(format!("{name}: decoded {} values, expected {}", decoded.len(), expected.len()));
    }
    if let Some(i) = (0..expected.len()).find(|&i| decoded[i].to_bits() != expected[i].to_bits()) {
        return Err(format!("{name}: value {i} decodes to {}, gguf-py says {}", decoded[i], expected[i]));
    }
    Ok(())
}

/// Parses `chunks` in order through the streaming reader, collecting each tensor's bytes.
pub fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<(Gguf, Vec<Vec<u8>>), gguf::GgufError> {
    let mut stream = gguf::GgufStream::default();
    let mut data: Vec<Vec<u8>> = Vec::new();
    let mut next_offset: Vec<u64> = Vec::new();
    for chunk in chunks {
        stream.feed(chunk, |ev| {
            match ev {
                gguf::Event::Header(g) => {
                    data = vec![Vec::new(); g.tensors.len()];
                    next_offset = vec![0; g.tensors.len()];
                }
                gguf::Event::TensorData { index, offset, bytes } => {
                    assert_eq!(offset, next_offset[index], "tensor pieces arrive in order");
                    next_offset[index] += bytes.len() as u64;
                    data[index].extend_from_slice(bytes);
                }
                gguf::Event::TensorEnd { .. } => {}
            }
            Ok::<(), gguf::GgufError>(())
        })?;
    }
    Ok((stream.finish()?, data))
}

/// A small deterministic PRNG (xorshift64*), so tests need no extra crate and replay exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Splits `bytes` into uneven chunks (1 byte up to a few hundred).
pub fn uneven_chunks(bytes: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = match rng.below(4) {
            0 => 1,
            1 => 1 + rng.below(8) as usize,
            _ => 1 + rng.below(300) as usize,
        };
        let end = (at + n).min(bytes.len());
        out.push(&bytes[at..end]);
        at = end;
    }
    out
}

/// A tensor as `rewrite_model` hands it to an edit: name, type, shape (ggml order) and bytes.
pub type Tensor = (String, gguf::TensorType, Vec<u64>, Vec<u8>);

/// `model` with `edit` applied to its metadata and tensors, written again by our GGUF writer: the way the
/// tests make a file that differs from a real one in exactly one respect.
pub fn rewrite_model(model: &[u8], edit: &dyn Fn(&mut Vec<(String, Value)>, &mut Vec<Tensor>)) -> Vec<u8> {
    let (g, data) = gguf::read_all(model).unwrap();
    let mut meta = g.metadata.clone();
    let mut tensors: Vec<Tensor> = g.tensors.iter().zip(data).map(|(t, d)| (t.name.clone(), t.ty, t.shape.clone(), d)).collect();
    edit(&mut meta, &mut tensors);
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.kv(k, v);
    }
    for (name, ty, shape, d) in tensors {
        w.tensor(name, ty, &shape, d);
    }
    w.to_bytes().unwrap()
}
