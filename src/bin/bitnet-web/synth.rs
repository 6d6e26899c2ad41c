//! `bitnet-web synth`: a model with random ternary weights and the exact tensor names, shapes, types,
//! metadata keys, architecture and tokenizer type of one model of the BitNet family. Its speed and
//! memory are the real model's; its text is noise. Made on demand for load, shape and speed tests,
//! never committed.
//!
//! The shapes, and where each comes from:
//! - `2b4t`: Microsoft's bitnet-b1.58-2B-4T GGUF, tensor by tensor (spec §3.1).
//! - `large`, `3b`: 1bitLLM's bitnet_b1_58-large / -3B configs (spec §3.2): arch `bitnet`, SiLU,
//!   sub-norms, tied head, the Llama-2 SentencePiece vocabulary plus two tokens (32002).
//! - `falcon3-*`: tiiuae's Falcon3-{1B,3B,7B,10B}-Instruct-1.58bit: arch `llama`, GQA with
//!   256-wide heads, rope theta 1000042, a 131072-token `falcon3` vocabulary, F16 embedding and
//!   separate F16 head. The widths, depths and the F16 head reproduce the published I2_S file sizes
//!   (1.36, 2.22 and 3.28 GB for 1B, 3B and 7B: spec §7) to within 1%.
//! - `llama3-8b`: HF1BitLLM's Llama3-8B-1.58-100B-tokens: arch `llama`, Llama-3-8B's config, the
//!   Llama-3 vocabulary with `llama-bpe`, separate head (spec §3.3).
//!
//! - `bitnet-embedding-0.6b`: Microsoft's BitNet-embedding-0.6B as its converter writes it
//!   (utils/convert-bitnet-embedding-to-gguf.py and docs/bitnet-embeddings-i2s-guide.md, microsoft/BitNet
//!   16da220): arch `qwen3`, 28 layers of width 1024, 16 query and 8 KV heads 128 wide (`key_length`),
//!   FFN 3072, a norm before every projection (`*_norm_in`) and per-head q/k norms, all F16, an F16
//!   embedding of 151,936 rows and no head, last-token pooling, the `qwen2` pre-tokenizer.
//! - `bitnet-embedding-270m`: BitNet-embedding-270M from the same converter and guide: arch `gemma3`,
//!   18 layers of width 640, 4 query heads and 1 KV head 256 wide, FFN 2048, the same norms plus
//!   Gemma's post-attention and post-FFN ones, a 262,144-row embedding, Gemma's SentencePiece
//!   vocabulary; like the converter, it writes no sliding-window key.
//!
//! Real vocabularies can't be had here, so the tokenizer comes from the repo's look-alikes
//! (tests/fixtures/*-vocab.gguf), padded with unused tokens to the real size. The Falcon3 and
//! Llama-3 shapes carry their official chat templates (tests/fixtures/templates/).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use bitnet_web::gguf::{Array, GgufWriter, TensorType, Value};
use bitnet_web::quant::{I2sLayout, i2_s, tq2_0};
use clap::{Args, ValueEnum};

use crate::files::{self, CliError};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Variant {
    /// I2_S weights: the official files' type (arch `bitnet-b1.58` for 2b4t).
    I2s,
    /// TQ2_0 weights: loadable by upstream llama.cpp (and wllama) too (arch `bitnet` for 2b4t).
    Tq2,
    /// F16 projections and none of BitNet's extra norms: the full-precision model of the same shape, as
    /// Microsoft's embedding converter writes the teacher (`--outtype f16`), for comparing against
    /// llama.cpp's F16 kernels (wllama). bitnet-web itself refuses it: its projections are not ternary.
    F16,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum ShapeName {
    #[value(name = "2b4t")]
    B2b4t,
    Large,
    #[value(name = "3b")]
    B3b,
    #[value(name = "falcon3-1b")]
    Falcon3_1b,
    #[value(name = "falcon3-3b")]
    Falcon3_3b,
    #[value(name = "falcon3-7b")]
    Falcon3_7b,
    #[value(name = "falcon3-10b")]
    Falcon3_10b,
    #[value(name = "falcon-e-3b")]
    FalconE3b,
    #[value(name = "llama3-8b")]
    Llama3_8b,
    #[value(name = "bitnet-embedding-0.6b")]
    Embedding0_6b,
    #[value(name = "bitnet-embedding-270m")]
    Embedding270m,
}

#[derive(Args)]
pub struct SynthArgs {
    out: PathBuf,
    /// Which model's shape to write.
    #[arg(long, value_enum, default_value = "2b4t")]
    shape: ShapeName,
    #[arg(long, value_enum, default_value = "i2s")]
    variant: Variant,
    /// A GGUF holding the tokenizer to copy (default: the repo's vocabulary for the shape's tokenizer).
    #[arg(long)]
    vocab: Option<PathBuf>,
    /// Fewer layers than the model has, for quick tests (shapes are otherwise unchanged).
    #[arg(long)]
    layers: Option<usize>,
    /// Write the header and tensor table only, and leave the weights as zeros (a sparse file of the
    /// full size): what a loader checks before the first weight byte, in a moment.
    #[arg(long)]
    header_only: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One model's shape.
struct Shape {
    /// `general.name`.
    name: &'static str,
    arch: &'static str,
    d: u64,
    ff: u64,
    layers: usize,
    heads: u64,
    kv_heads: u64,
    vocab: u64,
    vocab_file: &'static str,
    /// `tokenizer.ggml.pre` to set (None: keep the vocabulary file's).
    pre: Option<&'static str>,
    /// The official chat template to store as `tokenizer.chat_template` (None: keep the vocabulary
    /// file's, if any; 2B4T's is its `BITNETAssistant` placeholder, and the 1bitLLM models have none).
    template: Option<&'static str>,
    ctx: u32,
    rope_theta: f32,
    eps: f32,
    /// A separate `output.weight`.
    untied: bool,
    /// An embedding model as Microsoft's converter writes one: heads `head_dim` wide, F16 norms
    /// before every projection and over each q/k head, last-token pooling, no head.
    embedding: Option<u64>,
}

impl ShapeName {
    fn shape(self) -> Shape {
        let falcon3 = |name, d, ff, layers, heads, ctx| Shape {
            name, arch: "llama", d, ff, layers, heads, kv_heads: 4, vocab: 131072,
            vocab_file: "tests/fixtures/falcon3-vocab.gguf", pre: None,
            template: Some("tests/fixtures/templates/falcon3.jinja"), ctx, rope_theta: 1000042.0, eps: 1e-6, untied: true, embedding: None,
        };
        let bitnet = |name, d, ff, layers, heads| Shape {
            name, arch: "bitnet", d, ff, layers, heads, kv_heads: heads, vocab: 32002,
            vocab_file: "tests/fixtures/spm-vocab.gguf", pre: None, template: None, ctx: 2048, rope_theta: 10000.0, eps: 1e-5, untied: false, embedding: None,
        };
        match self {
            ShapeName::B2b4t => Shape {
                name: "bitnet2b-synthetic", arch: "bitnet-b1.58", d: 2560, ff: 6912, layers: 30, heads: 20, kv_heads: 5,
                vocab: 128256, vocab_file: "tests/fixtures/llama3-vocab.gguf", pre: None, template: None, ctx: 4096,
                rope_theta: 500000.0, eps: 1e-5, untied: false, embedding: None,
            },
            ShapeName::Large => bitnet("bitnet_b1_58-large-synthetic", 1536, 4096, 24, 16),
            ShapeName::B3b => bitnet("bitnet_b1_58-3B-synthetic", 3200, 8640, 26, 32),
            ShapeName::Falcon3_1b => falcon3("Falcon3-1B-1.58bit-synthetic", 2048, 8192, 18, 8, 4096),
            ShapeName::Falcon3_3b => falcon3("Falcon3-3B-1.58bit-synthetic", 3072, 9216, 22, 12, 8192),
            ShapeName::Falcon3_7b => falcon3("Falcon3-7B-1.58bit-synthetic", 3072, 23040, 28, 12, 32768),
            ShapeName::Falcon3_10b => falcon3("Falcon3-10B-1.58bit-synthetic", 3072, 23040, 40, 12, 32768),
            // Falcon-E-3B: width 2048, FFN 13312, 32 layers, 16 heads / 2 KV (head 128), as two outside sources
            // give it (dotLLM's CUDA I2_S test names 2048×13312 "the real Down-projection shape" of
            // Falcon-E-3B-Instruct; an MLX experiment's notes give 32 layers, GQA 16:2, SwiGLU 13312), a
            // 32768-token vocabulary and no sub-norms (TII's Falcon-Edge blog post), and a separate head:
            // with one, the I2_S file is 998.8 MB, the blog's "999MB" footprint (tied it would be 864.6).
            // Not from a published config (none was readable here), so only the default context (2048),
            // RoPE base and epsilon stand in. The vocabulary is a tiny byte-level BPE trained here, labelled
            // `falcon_e` as Microsoft's converter labels Falcon-E's; Falcon-E's own template is not stored.
            ShapeName::FalconE3b => Shape {
                name: "Falcon-E-3B-Instruct-synthetic", arch: "llama", d: 2048, ff: 13312, layers: 32, heads: 16, kv_heads: 2,
                vocab: 32768, vocab_file: "tests/fixtures/converters/ms_2b4t_ckpt.i2_s.gguf", pre: Some("falcon_e"),
                template: None, ctx: 2048, rope_theta: 10000.0, eps: 1e-5, untied: true, embedding: None,
            },
            ShapeName::Llama3_8b => Shape {
                name: "Llama3-8B-1.58-synthetic", arch: "llama", d: 4096, ff: 14336, layers: 32, heads: 32, kv_heads: 8,
                vocab: 128256, vocab_file: "tests/fixtures/llama3-vocab.gguf", pre: Some("llama-bpe"),
                template: Some("tests/fixtures/templates/llama3.jinja"), ctx: 8192,
                rope_theta: 500000.0, eps: 1e-5, untied: true, embedding: None,
            },
            ShapeName::Embedding0_6b => Shape {
                name: "bitnet-embedding-0.6b-synthetic", arch: "qwen3", d: 1024, ff: 3072, layers: 28, heads: 16, kv_heads: 8,
                vocab: 151936, vocab_file: "tests/fixtures/embedding/qwen3_emb.i2_s.gguf", pre: Some("qwen2"), template: None,
                ctx: 32768, rope_theta: 1000000.0, eps: 1e-6, untied: false, embedding: Some(128),
            },
            ShapeName::Embedding270m => Shape {
                name: "bitnet-embedding-270m-synthetic", arch: "gemma3", d: 640, ff: 2048, layers: 18, heads: 4, kv_heads: 1,
                vocab: 262144, vocab_file: "tests/fixtures/embedding/gemma3_emb.i2_s.gguf", pre: None, template: None,
                ctx: 32768, rope_theta: 10000.0, eps: 1e-6, untied: false, embedding: Some(256),
            },
        }
    }
}

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

    /// Small F16 values, as embeddings have.
    fn f16s(&mut self, n: u64) -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                let x = ((self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
                half::f16::from_f32(x).to_le_bytes()
            })
            .collect()
    }
}

/// What a tensor holds, made when it is written.
#[derive(Clone, Copy)]
enum Fill {
    Ones,
    Random,
}

/// The vocabulary file's tokenizer keys, padded with unused tokens to `n` tokens.
fn tokenizer_keys(vocab: &bitnet_web::gguf::Gguf, n: u64, pre: Option<&str>) -> Result<Vec<(String, Value)>, CliError> {
    let mut keys: Vec<(String, Value)> =
        vocab.metadata.iter().filter(|(k, _)| k.starts_with("tokenizer.")).map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in keys.iter_mut() {
        match (k.as_str(), v) {
            ("tokenizer.ggml.tokens", Value::Array(Array::String(t))) => {
                if t.len() as u64 > n {
                    return Err(CliError::Usage(format!("the vocabulary has {} tokens, more than the shape's {n}", t.len())));
                }
                let have = t.len();
                t.extend((have as u64..n).map(|i| format!("<|unused_{i}|>")));
            }
            ("tokenizer.ggml.token_type", Value::Array(Array::I32(t))) => t.resize(n as usize, 5),
            ("tokenizer.ggml.scores", Value::Array(Array::F32(s))) => s.resize(n as usize, -1e9),
            ("tokenizer.ggml.pre", Value::String(p)) if pre.is_some() => *p = pre.unwrap_or_default().into(),
            _ => {}
        }
    }
    if let Some(p) = pre.filter(|_| !keys.iter().any(|(k, _)| k == "tokenizer.ggml.pre")) {
        keys.push(("tokenizer.ggml.pre".into(), Value::String(p.into())));
    }
    Ok(keys)
}

pub fn run(a: SynthArgs) -> Result<(), CliError> {
    let s = a.shape.shape();
    let layers = a.layers.unwrap_or(s.layers);
    let vocab_path = a.vocab.clone().unwrap_or_else(|| PathBuf::from(s.vocab_file));
    let vocab = files::header(&vocab_path)?;
    let have = vocab.get("tokenizer.ggml.tokens").and_then(Value::as_array).map_or(0, |t| t.len()) as u64;
    if have == 0 {
        return Err(CliError::Usage(format!("{} holds no tokenizer.ggml.tokens", vocab_path.display())));
    }
    // 2B4T's TQ2_0 conversion is an upstream `bitnet` file (ReLU² named explicitly).
    let arch = if a.shape == ShapeName::B2b4t && a.variant == Variant::Tq2 { "bitnet" } else { s.arch };
    let (file_type, ty) = match a.variant {
        Variant::I2s => (40u32, TensorType::I2_S),
        Variant::Tq2 => (37u32, TensorType::TQ2_0),
        Variant::F16 => (1u32, TensorType::F16),
    };
    let head_dim = s.embedding.unwrap_or(s.d / s.heads);
    let q_dim = s.heads * head_dim;
    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.kv("general.architecture", Value::String(arch.into()));
    w.kv("general.name", Value::String(s.name.into()));
    w.kv(key("vocab_size"), Value::U32(s.vocab as u32));
    w.kv(key("context_length"), Value::U32(s.ctx));
    w.kv(key("embedding_length"), Value::U32(s.d as u32));
    w.kv(key("block_count"), Value::U32(layers as u32));
    w.kv(key("feed_forward_length"), Value::U32(s.ff as u32));
    w.kv(key("rope.dimension_count"), Value::U32(head_dim as u32));
    w.kv(key("attention.head_count"), Value::U32(s.heads as u32));
    w.kv(key("attention.head_count_kv"), Value::U32(s.kv_heads as u32));
    w.kv(key("attention.layer_norm_rms_epsilon"), Value::F32(s.eps));
    w.kv(key("rope.freq_base"), Value::F32(s.rope_theta));
    if s.embedding.is_some() {
        w.kv(key("attention.key_length"), Value::U32(head_dim as u32));
        w.kv(key("attention.value_length"), Value::U32(head_dim as u32));
        w.kv(key("pooling_type"), Value::U32(3));
    }
    if arch == "bitnet" && a.shape == ShapeName::B2b4t {
        w.kv(key("hidden_activation"), Value::String("relu2".into()));
    }
    w.kv("general.file_type", Value::U32(file_type));
    let mut keys = tokenizer_keys(&vocab, s.vocab, s.pre)?;
    if let Some(path) = s.template {
        let t = std::fs::read_to_string(path).map_err(|e| CliError::Io(path.into(), e))?;
        keys.retain(|(k, _)| k != "tokenizer.chat_template");
        keys.push(("tokenizer.chat_template".into(), Value::String(t)));
    }
    for (k, v) in keys {
        w.kv(k, v);
    }
    w.kv("general.quantization_version", Value::U32(2));
    if ty == TensorType::I2_S {
        // The packing, said: a reader need not probe the weights for it (`model::i2s_layout`).
        w.kv(bitnet_web::model::i2s_layout::BLOCK_KEY, Value::U32(128));
    }

    // Microsoft's embedding converter writes its norms as F16.
    let norm_ty = if s.embedding.is_some() { TensorType::F16 } else { TensorType::F32 };
    let mut table: Vec<(String, TensorType, Vec<u64>, Fill)> = vec![
        ("token_embd.weight".into(), TensorType::F16, vec![s.d, s.vocab], Fill::Random),
        ("output_norm.weight".into(), norm_ty, vec![s.d], Fill::Ones),
    ];
    if s.untied {
        table.push(("output.weight".into(), TensorType::F16, vec![s.d, s.vocab], Fill::Random));
    }
    let kv = s.kv_heads * head_dim;
    let sub_norms = arch != "llama";
    for l in 0..layers {
        let b = |n: &str| format!("blk.{l}.{n}.weight");
        if s.embedding.is_some() {
            let bitnet = a.variant != Variant::F16;
            for (name, n) in [
                ("attn_norm", s.d), ("ffn_norm", s.d), ("attn_q_norm", head_dim), ("attn_k_norm", head_dim),
                ("attn_q_norm_in", s.d), ("attn_k_norm_in", s.d), ("attn_v_norm_in", s.d), ("attn_output_norm_in", q_dim),
                ("ffn_gate_norm_in", s.d), ("ffn_up_norm_in", s.d), ("ffn_down_norm_in", s.ff),
                ("post_attention_norm", s.d), ("post_ffw_norm", s.d),
            ] {
                if name.starts_with("post_") && arch != "gemma3" {
                    continue;
                }
                if bitnet || !name.ends_with("_norm_in") {
                    table.push((b(name), norm_ty, vec![n], Fill::Ones));
                }
            }
        }
        for (name, n) in [("attn_norm", s.d), ("attn_sub_norm", s.d), ("ffn_norm", s.d), ("ffn_sub_norm", s.ff)] {
            if s.embedding.is_none() && (sub_norms || !name.ends_with("sub_norm")) {
                table.push((b(name), TensorType::F32, vec![n], Fill::Ones));
            }
        }
        for (name, cols, rows) in [
            ("attn_q", s.d, q_dim),
            ("attn_k", s.d, kv),
            ("attn_v", s.d, kv),
            ("attn_output", q_dim, s.d),
            ("ffn_gate", s.d, s.ff),
            ("ffn_up", s.d, s.ff),
            ("ffn_down", s.ff, s.d),
        ] {
            table.push((b(name), ty, vec![cols, rows], Fill::Random));
        }
    }
    // The official files list tensors in name order (blk.0, blk.1, blk.10, ...).
    table.sort_by(|x, y| x.0.cmp(&y.0));
    for (name, ty, shape, _) in &table {
        w.declare(name.clone(), *ty, shape);
    }

    let io = |e| CliError::Io(a.out.clone(), e);
    let mut f = BufWriter::new(File::create(&a.out).map_err(io)?);
    w.write_header(&mut f).map_err(io)?;
    if a.header_only {
        let data: u64 = table
            .iter()
            .map(|(_, ty, shape, _)| ty.byte_size(shape.iter().product()).unwrap_or(0).next_multiple_of(w.alignment()))
            .sum();
        let file = f.into_inner().map_err(|e| io(e.into_error()))?;
        let end = file.metadata().map_err(io)?.len() + data;
        file.set_len(end).map_err(io)?;
        f = BufWriter::new(file);
    } else {
        let mut rng = Rng(a.seed.max(1));
        for (_, ty, shape, fill) in &table {
            let n: u64 = shape.iter().product();
            let data = match (fill, ty) {
                (Fill::Ones, TensorType::F16) => (0..n).flat_map(|_| half::f16::ONE.to_le_bytes()).collect(),
                (Fill::Ones, _) => (0..n).flat_map(|_| 1f32.to_le_bytes()).collect(),
                (Fill::Random, TensorType::F16) => rng.f16s(n),
                (Fill::Random, TensorType::I2_S) => i2_s::encode(&rng.ternary(n as usize), shape[0] as usize, 0.02, I2sLayout::Block128),
                (Fill::Random, _) => {
                    let t = rng.ternary(n as usize);
                    tq2_0::encode(&t, &vec![half::f16::from_f32(0.02); t.len() / 256])
                }
            };
            f.write_all(&data).map_err(io)?;
            let padding = (data.len() as u64).next_multiple_of(w.alignment()) - data.len() as u64;
            f.write_all(&vec![0u8; padding as usize]).map_err(io)?;
        }
    }
    f.flush().map_err(io)?;
    drop(f);
    let size = std::fs::metadata(&a.out).map_err(io)?.len();
    let what = if a.header_only { ", header only" } else { "" };
    eprintln!(
        "wrote {} ({:.2} GB{what}, {:?} shape, arch {arch}, {layers} layers, {ty} weights)",
        a.out.display(),
        size as f64 / 1e9,
        a.shape
    );
    Ok(())
}
