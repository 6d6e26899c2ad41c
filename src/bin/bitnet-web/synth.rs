//! `bitnet-web synth`: a model with random ternary weights and the exact shapes, tensor names, types
//! and metadata of Microsoft's BitNet b1.58 2B4T GGUF (spec §3.1), with the real 128,256-token
//! tokenizer copied from a tokenizer GGUF. Its speed is that of the real model; its text is noise.
//! Generated on demand for load and speed tests, never committed.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use bitnet_web::gguf::{GgufWriter, TensorType, Value};
use bitnet_web::quant::{I2sLayout, i2_s, tq2_0};
use clap::{Args, ValueEnum};

use crate::files::{self, CliError};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Variant {
    /// arch `bitnet-b1.58`, I2_S weights: the official file's layout.
    I2s,
    /// arch `bitnet`, TQ2_0 weights: loadable by upstream llama.cpp (and wllama) too.
    Tq2,
}

#[derive(Args)]
pub struct SynthArgs {
    out: PathBuf,
    #[arg(long, value_enum, default_value = "i2s")]
    variant: Variant,
    /// A GGUF holding the tokenizer to copy (the repo's Llama-3 vocabulary by default).
    #[arg(long, default_value = "tests/fixtures/llama3-vocab.gguf")]
    vocab: PathBuf,
    /// Fewer layers than 2B4T's 30, for quick tests (shapes are otherwise unchanged).
    #[arg(long, default_value_t = 30)]
    layers: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const D: u64 = 2560;
const FF: u64 = 6912;
const HEADS: u64 = 20;
const KV_HEADS: u64 = 5;
const HEAD_DIM: u64 = 128;

/// xorshift64*: deterministic and fast enough for billions of weights.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn ternary(&mut self, n: usize) -> Vec<i8> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let mut r = self.next();
            for _ in 0..32 {
                v.push((r % 3) as i8 - 1);
                r >>= 2;
            }
        }
        v.truncate(n);
        v
    }
}

pub fn run(a: SynthArgs) -> Result<(), CliError> {
    let vocab = files::header(&a.vocab)?;
    let tokens = vocab.get("tokenizer.ggml.tokens").and_then(Value::as_array).map_or(0, |t| t.len()) as u64;
    if tokens == 0 {
        return Err(CliError::Usage(format!("{} holds no tokenizer.ggml.tokens", a.vocab.display())));
    }
    let (arch, file_type, ty) = match a.variant {
        Variant::I2s => ("bitnet-b1.58", 40u32, TensorType::I2_S),
        Variant::Tq2 => ("bitnet", 37u32, TensorType::TQ2_0),
    };
    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.kv("general.architecture", Value::String(arch.into()));
    w.kv("general.name", Value::String("bitnet2b-synthetic".into()));
    w.kv(key("vocab_size"), Value::U32(tokens as u32));
    w.kv(key("context_length"), Value::U32(4096));
    w.kv(key("embedding_length"), Value::U32(D as u32));
    w.kv(key("block_count"), Value::U32(a.layers as u32));
    w.kv(key("feed_forward_length"), Value::U32(FF as u32));
    w.kv(key("rope.dimension_count"), Value::U32(HEAD_DIM as u32));
    w.kv(key("attention.head_count"), Value::U32(HEADS as u32));
    w.kv(key("attention.head_count_kv"), Value::U32(KV_HEADS as u32));
    w.kv(key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    w.kv(key("rope.freq_base"), Value::F32(500000.0));
    if a.variant == Variant::Tq2 {
        w.kv(key("hidden_activation"), Value::String("relu2".into()));
    }
    w.kv("general.file_type", Value::U32(file_type));
    for (k, v) in vocab.metadata.iter().filter(|(k, _)| k.starts_with("tokenizer.")) {
        w.kv(k.clone(), v.clone());
    }
    w.kv("general.quantization_version", Value::U32(2));

    let mut rng = Rng(a.seed.max(1));
    let mut tensors: Vec<(String, TensorType, Vec<u64>, Vec<u8>)> = Vec::new();
    let embd: Vec<u8> = (0..D * tokens)
        .flat_map(|_| {
            let x = ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
            half::f16::from_f32(x).to_le_bytes()
        })
        .collect();
    tensors.push(("token_embd.weight".into(), TensorType::F16, vec![D, tokens], embd));
    let ones = |n: u64| (0..n).flat_map(|_| 1f32.to_le_bytes()).collect::<Vec<u8>>();
    tensors.push(("output_norm.weight".into(), TensorType::F32, vec![D], ones(D)));
    let kv = KV_HEADS * HEAD_DIM;
    for l in 0..a.layers {
        let b = |n: &str| format!("blk.{l}.{n}.weight");
        for (name, n) in [("attn_norm", D), ("attn_sub_norm", D), ("ffn_norm", D), ("ffn_sub_norm", FF)] {
            tensors.push((b(name), TensorType::F32, vec![n], ones(n)));
        }
        for (name, cols, rows) in
            [("attn_q", D, D), ("attn_k", D, kv), ("attn_v", D, kv), ("attn_output", D, D), ("ffn_gate", D, FF), ("ffn_up", D, FF), ("ffn_down", FF, D)]
        {
            let t = rng.ternary((cols * rows) as usize);
            let data = match ty {
                TensorType::I2_S => i2_s::encode(&t, 0.02, I2sLayout::Block128),
                _ => tq2_0::encode(&t, &vec![half::f16::from_f32(0.02); t.len() / 256]),
            };
            tensors.push((b(name), ty, vec![cols, rows], data));
        }
    }
    // The official file lists tensors in name order (blk.0, blk.1, blk.10, ...).
    tensors.sort_by(|x, y| x.0.cmp(&y.0));
    for (name, ty, shape, data) in tensors {
        w.tensor(name, ty, &shape, data);
    }
    let io = |e| CliError::Io(a.out.clone(), e);
    let mut f = BufWriter::new(File::create(&a.out).map_err(io)?);
    w.write_to(&mut f).map_err(io)?;
    drop(f);
    let size = std::fs::metadata(&a.out).map_err(io)?.len();
    eprintln!("wrote {} ({:.2} GB, arch {arch}, {} layers, {ty} weights)", a.out.display(), size as f64 / 1e9, a.layers);
    Ok(())
}
