//! `bitnet-web convert`: a HF checkpoint (config.json, *.safetensors, the tokenizer) to a GGUF file the
//! engine and bitnet.cpp read, for the family's models that have no official GGUF (1bitLLM's
//! bitnet_b1_58-large and -3B, Llama3-8B-1.58) and for anyone's fine-tune.
//!
//! Why in Rust: bitnet.cpp's `setup_env.py --hf-repo` does this with Python, torch and a C++ build; here
//! it is one binary with no runtime. The reference is Microsoft's converter
//! (`utils/convert-hf-to-gguf-bitnet.py`, microsoft/BitNet 16da220): the same tensors, byte for byte (each
//! ternary scale to within one ulp, see [`absmean`]), on the checkpoints in tests/fixtures/converters/hf (tests/suite/convert.rs), where it is right; where it
//! cannot say (the activation), we write what the checkpoint says:
//! - **Models** (`architectures[0]`): 1bitLLM's `BitnetForCausalLM` and 2B4T's `BitNetForCausalLM` (sub-norms)
//!   as arch `bitnet-b1.58` for I2_S and `bitnet` for TQ2_0, with `{arch}.hidden_activation` from
//!   `hidden_act`, which neither converter writes (`model::evidence` says why that matters); and
//!   `LlamaForCausalLM` with a `bitnet` quantization_config (Falcon3-1.58bit, Falcon-E, Llama3-8B-1.58) as
//!   `llama`, its q/k rows permuted for llama.cpp's RoPE as its converter permutes them.
//! - **Weights**: float projections are quantized as HF's `WeightQuant` and both converters do (absmean:
//!   `s = 1/max(mean|W|, 1e-5)`, `round(W·s)` clamped, ties to even as torch rounds); packed ones
//!   (`uint8` with `weight_scale`, transformers' `pack_weights`) are unpacked and keep their scale, as
//!   transformers' `BitLinear` applies it (`W = T / weight_scale`; `autobitlinear`: `T · weight_scale`).
//!   Norms are F32; the embedding and an untied head are F16 from F32/F16 and BF16 from BF16 (lossless).
//! - **Memory**: the header is written from the safetensors headers alone, then one tensor at a time is
//!   read, converted and written: the peak is about the largest tensor, widened to f32, plus its output
//!   (Report::peak_tensor_bytes).

pub mod safetensors;
pub mod vocab;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use half::{bf16, f16};
use thiserror::Error;

use crate::gguf::{GgufWriter, TensorType, Value};
use crate::quant::{i2_s, tq2_0, I2sLayout};
use safetensors::{Dtype, TensorRef};

#[derive(Debug, Error)]
pub enum ConvertError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutType {
    /// bitnet.cpp's format (x86 layout, 128-weight blocks over the flat index), one f32 scale a matrix.
    I2S,
    /// llama.cpp's, one f16 scale per 256 weights.
    Tq2_0,
}

#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    pub out_type: Option<OutType>,
    /// llama.cpp's name for a BPE vocabulary's pre-tokenizer, when its split pattern is not one we know.
    pub pre: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub arch: String,
    pub activation: String,
    pub tensors: usize,
    pub bytes: u64,
    /// The most memory one tensor's conversion held: its f32 values and its encoded bytes.
    pub peak_tensor_bytes: u64,
}

/// The checkpoint's family, from config.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// 1bitLLM's BitnetForCausalLM and 2B4T's BitNetForCausalLM: sub-norms, NEOX RoPE.
    BitNet,
    /// LlamaForCausalLM with a bitnet quantization_config: no sub-norms, q/k permuted.
    Llama,
}

/// How a ternary projection's stored values become weights.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ScaleRule {
    /// transformers' BitLinear: `W = T / weight_scale`.
    Divide,
    /// transformers' AutoBitLinear (`linear_class: autobitlinear`): `W = T · weight_scale`.
    Multiply,
}

struct Plan {
    name: String,
    ty: TensorType,
    /// GGUF order: columns first.
    shape: Vec<u64>,
    source: TensorRef,
    scale: Option<TensorRef>,
    /// Rows permuted for llama.cpp's RoPE: the number of heads.
    permute_heads: Option<usize>,
}

pub fn convert(dir: &Path, out: &Path, opts: &ConvertOptions) -> Result<Report, ConvertError> {
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).map_err(|e| ConvertError::Checkpoint(format!("{}/config.json: {e}", dir.display())))?,
    )
    .map_err(|e| ConvertError::Checkpoint(format!("config.json: {e}")))?;
    let get = |k: &str| config.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
    let need = |k: &str| get(k).ok_or_else(|| ConvertError::Checkpoint(format!("config.json has no {k}")));
    let architecture = config.get("architectures").and_then(|a| a.get(0)).and_then(|a| a.as_str()).unwrap_or("");
    let qc = config.get("quantization_config");
    let family = match architecture {
        "BitnetForCausalLM" | "BitNetForCausalLM" => Family::BitNet,
        "LlamaForCausalLM" if qc.and_then(|q| q.get("quant_method")).and_then(|m| m.as_str()) == Some("bitnet") => Family::Llama,
        other => {
            return Err(ConvertError::Unsupported(format!(
                "architecture {other:?} (BitnetForCausalLM, BitNetForCausalLM and LlamaForCausalLM with a bitnet quantization_config are)"
            )))
        }
    };
    if qc.and_then(|q| q.get("use_rms_norm")).and_then(|v| v.as_bool()) == Some(true) {
        return Err(ConvertError::Unsupported("quantization_config.use_rms_norm: a norm inside every linear layer".into()));
    }
    if let Some(rs) = config.get("rope_scaling").filter(|v| !v.is_null()) {
        // Llama 3.1's and YaRN's scalings change the rotary angles; writing the file without them would run
        // it wrong without a word.
        return Err(ConvertError::Unsupported(format!("rope_scaling {rs}")));
    }
    let rule = if qc.and_then(|q| q.get("linear_class")).and_then(|v| v.as_str()) == Some("autobitlinear") { ScaleRule::Multiply } else { ScaleRule::Divide };
    let act = config.get("hidden_act").and_then(|a| a.as_str()).unwrap_or("silu");
    let activation = crate::model::Activation::parse(act)
        .ok_or_else(|| ConvertError::Unsupported(format!("hidden_act {act:?}")))?
        .name()
        .to_string();
    let out_type = opts.out_type.unwrap_or(OutType::I2S);
    let arch = match (family, out_type) {
        (Family::Llama, _) => "llama",
        (Family::BitNet, OutType::I2S) => "bitnet-b1.58",
        (Family::BitNet, OutType::Tq2_0) => "bitnet",
    };
    let (n_embd, n_head, n_layer, n_vocab) = (need("hidden_size")?, need("num_attention_heads")?, need("num_hidden_layers")?, need("vocab_size")?);
    let n_head_kv = get("num_key_value_heads").unwrap_or(n_head);
    let head_dim = get("head_dim").unwrap_or(n_embd / n_head.max(1));
    let theta = config
        .get("rope_theta")
        .or_else(|| config.get("rope_parameters").and_then(|r| r.get("rope_theta")))
        .and_then(|v| v.as_f64())
        .unwrap_or(10000.0);

    let plans = plan(dir, &config, family, out_type, (n_head, n_head_kv, n_layer), arch)?;

    // Metadata, as Microsoft's converter orders it, then ours.
    let mut w = GgufWriter::new();
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    w.kv("general.architecture", Value::String(arch.into()));
    w.kv("general.name", Value::String(name));
    let a = |k: &str| format!("{arch}.{k}");
    w.kv(a("block_count"), Value::U32(n_layer as u32));
    if let Some(ctx) = get("max_position_embeddings") {
        w.kv(a("context_length"), Value::U32(ctx as u32));
    }
    w.kv(a("embedding_length"), Value::U32(n_embd as u32));
    w.kv(a("feed_forward_length"), Value::U32(need("intermediate_size")? as u32));
    w.kv(a("attention.head_count"), Value::U32(n_head as u32));
    w.kv(a("attention.head_count_kv"), Value::U32(n_head_kv as u32));
    w.kv(a("rope.freq_base"), Value::F32(theta as f32));
    let eps = config.get("rms_norm_eps").and_then(|v| v.as_f64()).unwrap_or(1e-6);
    w.kv(a("attention.layer_norm_rms_epsilon"), Value::F32(eps as f32));
    w.kv("general.file_type", Value::U32(if out_type == OutType::I2S { 40 } else { 37 }));
    w.kv(a("vocab_size"), Value::U32(n_vocab as u32));
    w.kv(a("rope.dimension_count"), Value::U32(head_dim as u32));
    w.kv(a("hidden_activation"), Value::String(activation.clone()));
    for (k, v) in vocab::metadata(dir, n_vocab, &config, opts.pre.as_deref())? {
        w.kv(k, v);
    }
    for p in &plans {
        w.declare(p.name.clone(), p.ty, &p.shape);
    }

    // A tensor found bad while writing (a packed code 3, a bad scale) leaves no half-written file behind.
    let written = write_file(&w, &plans, rule, out);
    if written.is_err() {
        let _ = std::fs::remove_file(out);
    }
    let (bytes, peak) = written?;
    Ok(Report { arch: arch.into(), activation, tensors: plans.len(), bytes, peak_tensor_bytes: peak })
}

/// The header, then each tensor padded to the alignment; the bytes of tensor data and the most memory one
/// tensor's conversion held.
fn write_file(w: &GgufWriter, plans: &[Plan], rule: ScaleRule, out: &Path) -> Result<(u64, u64), ConvertError> {
    let mut f = BufWriter::new(File::create(out)?);
    w.write_header(&mut f)?;
    let align = w.alignment();
    let (mut bytes, mut peak) = (0u64, 0u64);
    for p in plans {
        let (len, held) = write_tensor(p, rule, &mut f)?;
        peak = peak.max(held);
        let pad = len.next_multiple_of(align) - len;
        f.write_all(&vec![0u8; pad as usize])?;
        bytes += len + pad;
    }
    f.flush()?;
    Ok((bytes, peak))
}

/// Every tensor of the checkpoint, named and typed as the GGUF holds it, in the order it is written; a
/// tensor with no place in the file is an error, not dropped.
fn plan(dir: &Path, config: &serde_json::Value, family: Family, out_type: OutType, (n_head, n_head_kv, n_layer): (usize, usize, usize), arch: &str) -> Result<Vec<Plan>, ConvertError> {
    let mut st = safetensors::index(dir)?;
    let mut plans = Vec::new();
    let take = |hf: &str, st: &mut BTreeMap<String, TensorRef>| st.remove(hf);
    let float2d = |t: &TensorRef| if t.dtype == Dtype::BF16 { TensorType::BF16 } else { TensorType::F16 };
    let ternary = match out_type {
        OutType::I2S => TensorType::I2_S,
        OutType::Tq2_0 => TensorType::TQ2_0,
    };
    let emb = take("model.embed_tokens.weight", &mut st).ok_or_else(|| ConvertError::Checkpoint("no model.embed_tokens.weight".into()))?;
    plans.push(Plan { name: "token_embd.weight".into(), ty: float2d(&emb), shape: rev(&emb.shape), source: emb, scale: None, permute_heads: None });
    for i in 0..n_layer {
        let p = format!("model.layers.{i}.");
        let mut norm = |hf: &[&str], gguf: &str, required: bool, st: &mut BTreeMap<String, TensorRef>| -> Result<(), ConvertError> {
            match hf.iter().find_map(|h| take(&format!("{p}{h}"), st)) {
                Some(t) => {
                    plans.push(Plan { name: format!("blk.{i}.{gguf}"), ty: TensorType::F32, shape: rev(&t.shape), source: t, scale: None, permute_heads: None });
                    Ok(())
                }
                None if !required => Ok(()),
                None => Err(ConvertError::Checkpoint(format!("no {p}{}", hf[0]))),
            }
        };
        norm(&["input_layernorm.weight"], "attn_norm.weight", true, &mut st)?;
        norm(&["post_attention_layernorm.weight"], "ffn_norm.weight", true, &mut st)?;
        let sub = family == Family::BitNet;
        norm(&["self_attn.attn_sub_norm.weight", "self_attn.inner_attn_ln.weight"], "attn_sub_norm.weight", sub, &mut st)?;
        norm(&["mlp.ffn_sub_norm.weight", "mlp.ffn_layernorm.weight"], "ffn_sub_norm.weight", sub, &mut st)?;
        for (hf, gguf, heads) in [
            ("self_attn.q_proj", "attn_q", Some(n_head)),
            ("self_attn.k_proj", "attn_k", Some(n_head_kv)),
            ("self_attn.v_proj", "attn_v", None),
            ("self_attn.o_proj", "attn_output", None),
            ("mlp.gate_proj", "ffn_gate", None),
            ("mlp.up_proj", "ffn_up", None),
            ("mlp.down_proj", "ffn_down", None),
        ] {
            let w = take(&format!("{p}{hf}.weight"), &mut st).ok_or_else(|| ConvertError::Checkpoint(format!("no {p}{hf}.weight")))?;
            let scale = take(&format!("{p}{hf}.weight_scale"), &mut st);
            if w.shape.len() != 2 {
                return Err(ConvertError::Checkpoint(format!("{p}{hf}.weight is not a matrix: {:?}", w.shape)));
            }
            let rows = if scale.is_some() && w.dtype == Dtype::U8 { w.shape[0] * 4 } else { w.shape[0] };
            let shape = vec![w.shape[1], rows];
            if out_type == OutType::Tq2_0 && w.shape[1] % 256 != 0 {
                return Err(ConvertError::Unsupported(format!("{p}{hf}: TQ2_0 needs rows of whole 256-weight blocks, not {} (write I2_S)", w.shape[1])));
            }
            let permute_heads = if family == Family::Llama { heads } else { None };
            plans.push(Plan { name: format!("blk.{i}.{gguf}.weight"), ty: ternary, shape, source: w, scale, permute_heads });
        }
        // Older checkpoints store the rotary frequencies, which the reader recomputes.
        take(&format!("{p}self_attn.rotary_emb.inv_freq"), &mut st);
    }
    let norm = take("model.norm.weight", &mut st).ok_or_else(|| ConvertError::Checkpoint("no model.norm.weight".into()))?;
    plans.push(Plan { name: "output_norm.weight".into(), ty: TensorType::F32, shape: rev(&norm.shape), source: norm, scale: None, permute_heads: None });
    if let Some(head) = take("lm_head.weight", &mut st) {
        let tied = config.get("tie_word_embeddings").and_then(|v| v.as_bool()).unwrap_or(false);
        if !tied {
            plans.push(Plan { name: "output.weight".into(), ty: float2d(&head), shape: rev(&head.shape), source: head, scale: None, permute_heads: None });
        }
    }
    if let Some(name) = st.keys().next() {
        return Err(ConvertError::Unsupported(format!("tensor {name} has no place in a {arch} GGUF ({} unplaced)", st.len())));
    }

    Ok(plans)
}

fn rev(shape: &[u64]) -> Vec<u64> {
    shape.iter().rev().copied().collect()
}

/// Float tensors stream through in chunks of this many values (4 MiB as f32).
const CHUNK: usize = 1 << 20;

/// Writes one tensor's GGUF bytes; returns their length and the most memory the conversion held.
fn write_tensor(p: &Plan, rule: ScaleRule, out: &mut impl Write) -> Result<(u64, u64), ConvertError> {
    let float = |enc: fn(f32) -> Vec<u8>, out: &mut dyn Write| -> Result<(u64, u64), ConvertError> {
        let (mut len, mut held) = (0u64, 0u64);
        p.source.for_each_f32(CHUNK, |vals| {
            let bytes: Vec<u8> = vals.iter().flat_map(|&v| enc(v)).collect();
            out.write_all(&bytes)?;
            len += bytes.len() as u64;
            held = held.max((vals.len() * 4 + bytes.len()) as u64 + p.source.dtype.size() * vals.len() as u64);
            Ok(())
        })?;
        Ok((len, held))
    };
    match p.ty {
        TensorType::F32 => float(|v| v.to_le_bytes().to_vec(), out),
        TensorType::F16 => float(|v| f16::from_f32(v).to_le_bytes().to_vec(), out),
        TensorType::BF16 => float(|v| bf16::from_f32(v).to_le_bytes().to_vec(), out),
        TensorType::I2_S | TensorType::TQ2_0 => {
            let (cols, rows) = (p.shape[0] as usize, p.shape[1] as usize);
            let (mut t, scale) = ternary(p, rule)?;
            if let Some(heads) = p.permute_heads {
                t = permute_rows(&t, rows, cols, heads);
            }
            let data = if p.ty == TensorType::I2_S { encode_i2_s(&t, cols, scale) } else { encode_tq2_0(&t, scale) };
            out.write_all(&data)?;
            // The source read whole (widened to f32 when it is float), the values, and the encoding.
            let source = p.source.len + if p.source.dtype == Dtype::U8 { 0 } else { p.source.elements() * 4 };
            Ok((data.len() as u64, source + 2 * t.len() as u64 + data.len() as u64))
        }
        other => Err(ConvertError::Unsupported(format!("writing {other:?}"))),
    }
}

/// The ternary values and the one scale of a projection (weights = scale · values).
fn ternary(p: &Plan, rule: ScaleRule) -> Result<(Vec<i8>, f32), ConvertError> {
    let name = &p.name;
    match (&p.scale, p.source.dtype) {
        (Some(s), Dtype::U8) => {
            // transformers' pack_weights: row r of plane i (bits 2i..2i+1) is row i·R/4 + r, stored as T + 1.
            let packed = p.source.read_bytes()?;
            let (prow, cols) = (p.source.shape[0] as usize, p.source.shape[1] as usize);
            let mut t = vec![0i8; packed.len() * 4];
            for plane in 0..4 {
                for r in 0..prow {
                    for c in 0..cols {
                        let code = (packed[r * cols + c] >> (2 * plane)) & 3;
                        if code == 3 {
                            return Err(ConvertError::Checkpoint(format!("{name}: packed code 3 is not ternary")));
                        }
                        t[(plane * prow + r) * cols + c] = code as i8 - 1;
                    }
                }
            }
            let ws = one_scale(s, name)?;
            Ok((t, if rule == ScaleRule::Divide { 1.0 / ws } else { ws }))
        }
        (Some(s), _) => {
            // Offline-quantized float ternary values (AutoBitLinear's offline mode).
            let v = p.source.read_f32()?;
            let t = v.iter().map(|&x| if x == 0.0 { Ok(0) } else if x == 1.0 { Ok(1) } else if x == -1.0 { Ok(-1) } else { Err(()) }).collect::<Result<Vec<i8>, ()>>();
            let t = t.map_err(|_| ConvertError::Checkpoint(format!("{name} has a weight_scale but values other than -1, 0, 1")))?;
            let ws = one_scale(s, name)?;
            Ok((t, if rule == ScaleRule::Divide { 1.0 / ws } else { ws }))
        }
        (None, Dtype::F32 | Dtype::F16 | Dtype::BF16) => Ok(absmean(&p.source.read_f32()?)),
        (None, d) => Err(ConvertError::Checkpoint(format!("{name} is {d:?} with no weight_scale"))),
    }
}

fn one_scale(s: &TensorRef, name: &str) -> Result<f32, ConvertError> {
    let v = s.read_f32()?;
    match v[..] {
        [x] if x.is_finite() && x != 0.0 => Ok(x),
        _ => Err(ConvertError::Unsupported(format!("{name}: weight_scale {:?} is not one finite nonzero value", &v[..v.len().min(4)]))),
    }
}

/// HF's WeightQuant, as both converters apply it before packing: `s = 1/max(mean|W|, 1e-5)` in f32,
/// `T = clamp(round(W·s))` with ties to even (torch.round), and the stored scale `f32(1/s)`. The mean is
/// summed in f64 and rounded once. torch sums in f32 in an order set by the CPU's vector width, so its
/// mean is not reproducible across machines; on the fixtures it is off from the exact one by one ulp in
/// two matrices of seven (tests/suite/convert.rs), which changed no code: a code moves only for a weight
/// within ~1e-7 of a rounding edge.
pub fn absmean(w: &[f32]) -> (Vec<i8>, f32) {
    let mean = (w.iter().map(|&x| f64::from(x.abs())).sum::<f64>() / w.len().max(1) as f64) as f32;
    let s = 1.0f32 / mean.max(1e-5);
    let t = w.iter().map(|&x| (x * s).round_ties_even().clamp(-1.0, 1.0) as i8).collect();
    (t, 1.0f32 / s)
}

/// llama.cpp's `LlamaModel.permute` for q and k: each head's rows from halves (NEOX) to pairs.
fn permute_rows(t: &[i8], rows: usize, cols: usize, heads: usize) -> Vec<i8> {
    let per = rows / heads;
    let mut out = vec![0i8; t.len()];
    for h in 0..heads {
        for j in 0..per / 2 {
            for half in 0..2 {
                let src = h * per + half * (per / 2) + j;
                let dst = h * per + j * 2 + half;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&t[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// As Microsoft's `quantize_to_i2_s`: 128-weight blocks over the flat index (rows may straddle them),
/// the last block padded with zeros and cut at `n/4` bytes, then the scale in a 32-byte tail.
fn encode_i2_s(t: &[i8], cols: usize, scale: f32) -> Vec<u8> {
    let n = t.len();
    let mut padded = t.to_vec();
    padded.resize(n.next_multiple_of(128), 0);
    let enc = i2_s::encode(&padded, cols, scale, I2sLayout::Block128);
    let mut out = enc[..n / 4].to_vec();
    out.extend_from_slice(&scale.to_le_bytes());
    out.resize(n / 4 + 32, 0);
    out
}

/// As gguf-py's TQ2_0 quantizer on the dequantized weights: each block's scale is its largest magnitude
/// (the tensor's scale, or 0 for an all-zero block).
fn encode_tq2_0(t: &[i8], scale: f32) -> Vec<u8> {
    let scales: Vec<f16> = t.chunks_exact(256).map(|b| f16::from_f32(if b.iter().any(|&v| v != 0) { scale } else { 0.0 })).collect();
    tq2_0::encode(t, &scales)
}
