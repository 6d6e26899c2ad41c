//! The subcommands.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use bitnet_web::chat::Message;
use bitnet_web::constraint::ResponseFormat;
use bitnet_web::engine::{EngineOptions, GenerateParams, Prompt};
use bitnet_web::gguf::inspect;
use bitnet_web::model::EmbeddingPrecision;
use bitnet_web::model::{Activation, Config, HeadPrecision, KvPrecision, LoadOptions};
use bitnet_web::quant::{self, DecodeOptions, I2sLayout};
use bitnet_web::sampler::SamplerParams;
use bitnet_web::tokenizer::{PreTokenizerKind, Tokenizer};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::files::{self, CliError};
use crate::synth;

#[derive(Parser)]
#[command(name = "bitnet-web", version, about = "BitNet b1.58 GGUF tools: inspect, tokenize, logits, generate, synth")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Layout {
    #[value(name = "128")]
    B128,
    #[value(name = "64")]
    B64,
    /// x86 builds without ACT_PARALLEL: four rows a byte.
    #[value(name = "1x4")]
    Rows4,
}

impl From<Layout> for I2sLayout {
    fn from(l: Layout) -> Self {
        match l {
            Layout::B128 => I2sLayout::Block128,
            Layout::B64 => I2sLayout::Block64,
            Layout::Rows4 => I2sLayout::Rows4,
        }
    }
}

/// The FFN activation, where the file's clues decide wrong (see `inspect`).
#[derive(Clone, Copy, ValueEnum)]
enum Act {
    /// relu(gate)² · up: Microsoft's 2B4T.
    Relu2,
    /// silu(gate) · up: 1bitLLM's models, the ternary Llamas.
    Silu,
}

#[derive(Clone, Copy, ValueEnum)]
enum Pre {
    Llama3,
    /// llama.cpp's default chain (what bitnet.cpp uses for the official file)
    Default,
    Gpt2,
}

/// Options shared by every command that loads a model.
#[derive(Args)]
struct ModelArgs {
    /// I2_S layout: 128 (x86 builds, the official file), 64 (ARM builds since 2025-11) or 1x4 (x86
    /// builds without ACT_PARALLEL); by default what the file says, else 128 when the weights read
    /// well so, else tried every way.
    #[arg(long, value_enum)]
    i2s_layout: Option<Layout>,
    /// Pre-tokenizer (default: what the file says; Llama-3 when it says nothing).
    #[arg(long, value_enum)]
    pre: Option<Pre>,
    /// Keep the KV cache in f16 (half the memory).
    #[arg(long)]
    kv_f16: bool,
    /// Context length in tokens (default: the model's, at most 4096).
    #[arg(long, default_value_t = 0)]
    ctx: usize,
    /// LM head: `shortlist` (a 4-bit copy picks the rows the stored head scores exactly; `auto`'s
    /// choice when the head is the token embedding), `int8` (a copy with one scale per row; `auto`'s
    /// choice for a separate head), or `stored` (exactly as in the file). Default: `auto` to
    /// generate, `stored` for `logits`, whose point is exact numbers.
    #[arg(long, value_enum)]
    head: Option<Head>,
    /// Threads for the matrix products (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where the forward pass runs: `auto` (a hardware GPU when there is one and the model fits it,
    /// else the CPU, saying why), `gpu` (wgpu: Vulkan, Metal or D3D; an error without one) or `cpu`.
    #[arg(long, value_enum, default_value = "auto")]
    device: crate::device::Device,
    /// Quantize the token embedding and a separate head to int8 rows while they stream in (what
    /// makes 7-10B models fit wasm32; approximate, see tests/suite/head_accuracy.rs).
    #[arg(long)]
    int8_embeddings: bool,
    /// Hold the token embedding in memory. By default an F16/F32 embedding is left in the file and
    /// its rows read when needed (exact, the same logits; 626 MiB less for 2B4T), unless the head
    /// is the embedding as stored, which reads every row per token.
    #[arg(long)]
    embedding_in_memory: bool,
    /// Refuse a model that needs more than this many MiB (weights, heads, the KV cache at the
    /// context, the largest tensor in transit, the tokenizer and scratch), as a browser tab does with 3584 (wasm32's 4 GiB
    /// less room for the allocator); int8 embeddings are then chosen when they make it fit.
    #[arg(long)]
    memory_limit: Option<u64>,
    /// The FFN activation. By default it is decided from the file's clues (its arch, a
    /// `hidden_activation` key, its vocabulary), which `inspect` prints with the reason.
    #[arg(long, value_enum)]
    activation: Option<Act>,
    /// A TL1/TL2 file's tiling, for shapes bitnet.cpp's presets do not cover: the
    /// `include/kernel_config.ini` of the bitnet.cpp build that converted it.
    #[arg(long, value_name = "INI", value_parser = read_kernel_config)]
    kernel_config: Option<bitnet_web::quant::tl::KernelConfig>,
}

fn read_kernel_config(path: &str) -> Result<bitnet_web::quant::tl::KernelConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    bitnet_web::quant::tl::KernelConfig::parse(&text).map_err(|e| format!("{path}: {e}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum Head {
    Auto,
    Int8,
    Shortlist,
    Stored,
}

impl ModelArgs {
    /// Loads `file` on `--device`, with `default_head` unless --head names one (on the GPU, the
    /// stored head, which it reads exactly at GPU speed).
    fn engine(&self, file: &Path, default_head: Head) -> Result<bitnet_web::engine::Engine, CliError> {
        let mut engine = crate::device::engine(file, self.device, |gpu| self.options(if gpu { Head::Stored } else { default_head }))?;
        engine.settle_i2s_layout();
        for c in &engine.config().decision.conflicts {
            eprintln!("warning: {c}; running {} ({})", engine.config().activation.name(), engine.config().decision.reason);
        }
        if let Some(w) = engine.i2s_layout().and_then(|d| d.warning.as_ref()) {
            eprintln!("warning: {w}");
        }
        Ok(engine)
    }

    fn activation(&self) -> Option<Activation> {
        self.activation.map(|a| match a {
            Act::Relu2 => Activation::Relu2,
            Act::Silu => Activation::Silu,
        })
    }

    /// The engine's options, with `default_head` unless --head names one.
    fn options(&self, default_head: Head) -> EngineOptions {
        if let Some(n) = self.threads {
            // Fails only if the pool already exists, which nothing else creates in the CLI.
            let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
        }
        let head = match self.head.unwrap_or(default_head) {
            Head::Auto => HeadPrecision::Auto,
            Head::Int8 => HeadPrecision::Int8,
            Head::Shortlist => HeadPrecision::Shortlist,
            Head::Stored => HeadPrecision::Stored,
        };
        EngineOptions {
            load: LoadOptions {
                i2s_layout: self.i2s_layout.map(Into::into),
                tl_kernels: self.kernel_config.unwrap_or_default(),
                head,
                embeddings: if self.int8_embeddings { EmbeddingPrecision::Int8 } else { EmbeddingPrecision::Auto },
                memory_limit: self.memory_limit.map(|m| m << 20),
                rows_in_file: !self.embedding_in_memory,
                activation: self.activation(),
                ..LoadOptions::default()
            },
            kv_precision: if self.kv_f16 { KvPrecision::F16 } else { KvPrecision::F32 },
            max_context: self.ctx,
            pre_tokenizer: self.pre.map(|p| match p {
                Pre::Llama3 => PreTokenizerKind::Llama3,
                Pre::Default => PreTokenizerKind::LlamaCppDefault,
                Pre::Gpt2 => PreTokenizerKind::Gpt2,
            }),
            kernel: None,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print the metadata and the tensor table (name, type, shape, offset, bytes).
    Inspect {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Run every check a loader makes on the header (architecture, tensor table, shapes, types,
        /// tokenizer, the memory budget given by --memory-limit) and print the memory estimate at
        /// --ctx with the KV precision asked for, without reading a weight.
        #[arg(long, visible_alias = "check")]
        memory: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Write one tensor decoded to little-endian f32.
    Dump {
        file: PathBuf,
        tensor: String,
        out: PathBuf,
        #[arg(long, value_enum, default_value = "128")]
        i2s_layout: Layout,
    },
    /// Print the token ids of TEXT (with BOS when the model adds one).
    Tokenize {
        file: PathBuf,
        text: String,
        #[arg(long)]
        json: bool,
        /// Treat special-token text such as <|eot_id|> as plain text.
        #[arg(long)]
        no_special: bool,
        /// Do not prepend BOS.
        #[arg(long)]
        no_bos: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Write f32 logits for every position of the token sequence, little-endian, row-major.
    Logits {
        file: PathBuf,
        /// Comma-separated token ids.
        #[arg(long, value_delimiter = ',', required = true)]
        tokens: Vec<u32>,
        out: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Embed each --input with an embedding model (BitNet-embedding) and print them as JSON, in
    /// OpenAI's `embeddings.create` shape: `data[i].embedding`, `usage.prompt_tokens`.
    Embed {
        file: PathBuf,
        /// A text to embed; repeat it for several (each is its own sequence).
        #[arg(long = "input", required = true)]
        inputs: Vec<String>,
        /// Keep only the first N dimensions, normalised again (for models trained for it).
        #[arg(long)]
        dimensions: Option<usize>,
        /// Cut an input longer than the context to its first tokens instead of refusing it.
        #[arg(long)]
        truncate: bool,
        /// Run each input in a forward call of its own, as the GPU does, instead of packing as many
        /// as the context holds into one (to measure what packing gains; the vectors are the same).
        #[arg(long)]
        one_at_a_time: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Generate text, streamed to stdout; statistics go to stderr.
    Generate(GenerateArgs),
    /// Perplexity of a text, as llama.cpp's tool computes it (windows of --ctx tokens, the second
    /// half of each scored, the stored head); prints `perplexity: X` last.
    Perplexity {
        file: PathBuf,
        /// The text to score (special-token text in it is parsed).
        #[arg(long, group = "input", required = true)]
        text: Option<String>,
        /// A file holding the text to score.
        #[arg(long, group = "input")]
        text_file: Option<PathBuf>,
        /// A file of token ids (decimal, separated by blanks or commas), scored as they are.
        #[arg(long, group = "input")]
        tokens_file: Option<PathBuf>,
        /// Which positions of each window are scored: the second half (llama.cpp's way: each scored
        /// token has half a window of context), or all but the first (a training loop's validation loss).
        #[arg(long, value_enum, default_value = "second-half")]
        score: crate::perplexity::Score,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Write a model with random ternary weights and the exact tensor names, shapes and metadata of
    /// one model of the family (`--shape`).
    Synth(synth::SynthArgs),
    /// Convert a HF checkpoint (config.json, *.safetensors, tokenizer.model or tokenizer.json) to GGUF:
    /// 1bitLLM's and 2B4T's BitNet, and Llama-shaped ternary models (Falcon3-1.58bit, Falcon-E,
    /// Llama3-8B-1.58). One tensor in memory at a time.
    Convert {
        /// The checkpoint's folder.
        dir: PathBuf,
        /// The GGUF file to write.
        #[arg(short, long)]
        out: PathBuf,
        /// The ternary format: bitnet.cpp's I2_S, or llama.cpp's TQ2_0.
        #[arg(long = "type", value_enum, default_value = "i2_s")]
        out_type: OutTypeArg,
        /// llama.cpp's name for a BPE vocabulary's pre-tokenizer (llama-bpe, falcon3, falcon_e, …), when
        /// its split pattern is not Llama 3's, which is recognised.
        #[arg(long)]
        pre: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutTypeArg {
    #[value(name = "i2_s")]
    I2s,
    #[value(name = "tq2_0")]
    Tq2_0,
}

#[derive(Args)]
struct GenerateArgs {
    file: PathBuf,
    /// Raw prompt text (BOS added when the model wants it).
    #[arg(long, conflicts_with = "chat")]
    prompt: Option<String>,
    /// A user message, rendered with the model's chat format.
    #[arg(long)]
    chat: Option<String>,
    /// A system message for --chat.
    #[arg(long)]
    system: Option<String>,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Generate exactly --max-tokens tokens, past end-of-turn tokens (for benchmarks).
    #[arg(long)]
    ignore_eos: bool,
    /// 0 means greedy.
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.9)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    #[arg(long, default_value_t = 1.1)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Stop before this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Answer with a JSON object (structured output).
    #[arg(long, conflicts_with = "json_schema")]
    json: bool,
    /// Answer with JSON matching the JSON schema in this file (structured output).
    #[arg(long)]
    json_schema: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Inspect { file, json, memory, model } => {
            let g = files::header(&file)?;
            if memory {
                let opts = model.options(Head::Auto);
                let (config, estimate) = bitnet_web::model::check_header(&g, &opts.loader_options())?;
                bitnet_web::engine::check_header(&g, &config, &opts)?;
                let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
                print!("{}", decision_text(&config));
                println!(
                    "header check: ok ({} · {} layers · width {} · FFN {} · {} heads / {} KV · vocab {} · context {})",
                    config.arch_name, config.n_layer, config.n_embd, config.n_ff, config.n_head, config.n_head_kv,
                    config.n_vocab, config.n_ctx_train
                );
                let ctx = config.context_length(opts.max_context);
                println!(
                    "memory estimate: {:.1} MiB ({:.1} MiB of converted weights and heads{} + {:.1} MiB for the largest tensor in transit + {:.1} MiB of KV cache at {ctx} tokens, {:?} + {:.1} MiB for the tokenizer, scratch and {} thread stack{})",
                    mib(estimate.total()),
                    mib(estimate.weights),
                    match (estimate.int8_embeddings, estimate.embedding_in_file) {
                        (_, true) => ", the token embedding left in the file",
                        (true, false) => ", embeddings int8",
                        (false, false) => "",
                    },
                    mib(estimate.largest_tensor),
                    mib(estimate.kv_cache),
                    opts.kv_precision,
                    mib(estimate.runtime),
                    bitnet_web::kernels::threads(),
                    if bitnet_web::kernels::threads() == 1 { "" } else { "s" }
                );
                return Ok(());
            }
            // What the runtime makes of the file, where it is a model it runs.
            let decided = Config::decide(&g, model.activation()).ok();
            if json {
                let mut j = inspect::to_json(&g);
                if let (Some(c), Some(obj)) = (&decided, j.as_object_mut()) {
                    obj.insert("model".into(), decision_json(c));
                }
                println!("{}", serde_json::to_string_pretty(&j).expect("json"));
            } else {
                print!("{}", inspect::to_text(&g));
                if let Some(c) = &decided {
                    print!("{}", decision_text(c));
                }
                print!("{}", tiling_text(&g, &model.kernel_config.unwrap_or_default()));
            }
            Ok(())
        }
        Command::Dump { file, tensor, out, i2s_layout } => dump(&file, &tensor, &out, i2s_layout.into()),
        Command::Tokenize { file, text, json, no_special, no_bos, model } => {
            // Only the header is needed: this works on tokenizer-only files too.
            let tok = Tokenizer::from_gguf(&files::header(&file)?, model.options(Head::Auto).pre_tokenizer)?;
            let ids = if no_bos { tok.encode(&text, !no_special) } else { tok.encode_prompt(&text, !no_special) };
            if json {
                println!("{}", serde_json::to_string(&ids).expect("json"));
            } else {
                println!("{}", ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
            }
            Ok(())
        }
        Command::Logits { file, tokens, out, model } => {
            let mut engine = model.engine(&file, Head::Stored)?;
            let logits = engine.evaluate(&tokens)?;
            write_f32(&out, &logits)?;
            eprintln!("wrote {} x {} logits to {}", tokens.len(), engine.config().n_vocab, out.display());
            Ok(())
        }
        Command::Embed { file, inputs, dimensions, truncate, one_at_a_time, model } => {
            let mut engine = model.engine(&file, Head::Auto)?;
            let texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let started = std::time::Instant::now();
            let embeddings = match one_at_a_time {
                true => texts.iter().map(|t| engine.embed(t, truncate)).collect::<Result<Vec<_>, _>>()?,
                false => engine.embed_many(&texts, truncate)?,
            };
            let seconds = started.elapsed().as_secs_f64();
            let mut data = Vec::new();
            let mut tokens = 0;
            for (index, e) in embeddings.into_iter().enumerate() {
                let vector = match dimensions {
                    None => e.vector,
                    Some(d) => e.shortened(d).ok_or_else(|| CliError::Usage(format!("--dimensions must be 1 to {}", engine.config().n_embd)))?,
                };
                tokens += e.tokens;
                data.push(serde_json::json!({ "object": "embedding", "index": index, "embedding": vector }));
            }
            let model_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let out = serde_json::json!({
                "object": "list",
                "data": data,
                "model": model_name,
                "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
            });
            println!("{out}");
            eprintln!("embedded {} inputs ({tokens} tokens) in {seconds:.3} s: {:.2} embeddings/s", inputs.len(), inputs.len() as f64 / seconds);
            Ok(())
        }
        Command::Generate(args) => generate(args),
        Command::Perplexity { file, text, text_file, tokens_file, score, model } => {
            let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| CliError::Io(p.clone(), e));
            let mut engine = model.engine(&file, Head::Stored)?;
            let tokens = match (text, text_file, tokens_file) {
                (Some(t), ..) => engine.tokenizer.encode(&t, true),
                (_, Some(p), _) => engine.tokenizer.encode(&read(&p)?, true),
                (.., Some(p)) => crate::perplexity::parse_ids(&read(&p)?, engine.config().n_vocab)?,
                _ => unreachable!("clap requires one"),
            };
            let ctx = if model.ctx == 0 { engine.config().n_ctx_train.min(512) } else { model.ctx };
            let (ppl, scored) = crate::perplexity::perplexity(&mut engine, &tokens, ctx, score)?;
            eprintln!("{scored} tokens scored in windows of {ctx}");
            println!("perplexity: {ppl:.4}");
            Ok(())
        }
        Command::Synth(args) => synth::run(args),
        Command::Convert { dir, out, out_type, pre } => {
            use bitnet_web::convert::{self, ConvertOptions, OutType};
            let out_type = Some(match out_type {
                OutTypeArg::I2s => OutType::I2S,
                OutTypeArg::Tq2_0 => OutType::Tq2_0,
            });
            let r = convert::convert(&dir, &out, &ConvertOptions { out_type, pre })?;
            eprintln!(
                "{}: arch {}, activation {}, {} tensors, {} bytes of tensor data; peak {:.1} MiB for one tensor",
                out.display(), r.arch, r.activation, r.tensors, r.bytes, r.peak_tensor_bytes as f64 / (1 << 20) as f64
            );
            Ok(())
        }
    }
}

/// The model the header describes, as the runtime decided it (`model::evidence`).
fn decision_text(c: &Config) -> String {
    let d = &c.decision;
    let mut out = format!(
        "\nmodel: {} · arch '{}' · activation {} · {}\n  why: {}\n",
        d.family,
        c.arch_name,
        c.activation.name(),
        if c.sub_norms { "sub-norms" } else { "no sub-norms" },
        d.reason
    );
    for conflict in &d.conflicts {
        out += &format!("  warning: {conflict}\n");
    }
    out
}

/// How each matrix shape of a TL1/TL2 file is untiled, and from where (empty for other files): the
/// file records no tiling (`quant::tl`).
fn tiling_text(g: &bitnet_web::gguf::Gguf, given: &bitnet_web::quant::tl::KernelConfig) -> String {
    use bitnet_web::gguf::TensorType;
    use bitnet_web::quant::tl;
    let mut shapes: Vec<(TensorType, usize, usize)> = Vec::new();
    for t in g.tensors.iter().filter(|t| matches!(t.ty, TensorType::TL1 | TensorType::TL2) && t.shape.len() == 2) {
        let shape = (t.ty, t.shape[1] as usize, t.shape[0] as usize);
        if !shapes.contains(&shape) {
            shapes.push(shape);
        }
    }
    let mut out = String::new();
    for (ty, rows, cols) in shapes {
        let line = match (given.find(rows, cols), tl::preset_of(ty, rows, cols)) {
            (Some(t), _) => format!("BM {} · BK {} · bm {}, from the given kernel config", t.tile_rows, t.tile_cols, t.block_rows),
            (None, Some((m, t))) => format!("BM {} · BK {} · bm {}, bitnet.cpp's preset for {m}", t.tile_rows, t.tile_cols, t.block_rows),
            (None, None) => "unknown: no preset covers it; give the kernel_config.ini it was converted with (--kernel-config)".into(),
        };
        out += &format!("{}  {ty} {rows}×{cols}: {line}\n", if out.is_empty() { "\ntiling:\n" } else { "" });
    }
    out
}

fn decision_json(c: &Config) -> serde_json::Value {
    let d = &c.decision;
    serde_json::json!({
        "family": d.family,
        "activation": c.activation.name(),
        "subNorms": c.sub_norms,
        "reason": d.reason,
        "conflicts": d.conflicts,
    })
}

fn write_f32(path: &Path, values: &[f32]) -> Result<(), CliError> {
    let io = |e| CliError::Io(path.to_owned(), e);
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    for v in values {
        w.write_all(&v.to_le_bytes()).map_err(io)?;
    }
    w.flush().map_err(io)
}

fn dump(path: &Path, name: &str, out: &Path, layout: I2sLayout) -> Result<(), CliError> {
    let g = files::header(path)?;
    let (index, info) = g
        .tensor(name)
        .ok_or_else(|| CliError::Usage(format!("no tensor named '{name}' (run `bitnet-web inspect FILE` to list them)")))?;
    let bytes = files::tensor_bytes(path, index, info.n_bytes)?;
    let values = quant::decode(info.ty, &bytes, info.n_elements, DecodeOptions { i2s_layout: layout, row_len: info.shape.first().copied().unwrap_or(0) as usize })?;
    write_f32(out, &values)?;
    eprintln!("wrote {} f32 values of {name} ({} {:?}) to {}", info.n_elements, info.ty, info.shape, out.display());
    Ok(())
}

fn generate(a: GenerateArgs) -> Result<(), CliError> {
    let prompt = match (&a.prompt, &a.chat) {
        (Some(p), None) => Prompt::Text(p.clone()),
        (None, Some(c)) => {
            let mut messages = Vec::new();
            if let Some(s) = &a.system {
                messages.push(Message::new("system", s));
            }
            messages.push(Message::new("user", c));
            Prompt::Chat(messages)
        }
        _ => return Err(CliError::Usage("give --prompt TEXT or --chat TEXT".into())),
    };
    let t0 = std::time::Instant::now();
    let mut engine = a.model.engine(&a.file, Head::Auto)?;
    let load_s = t0.elapsed().as_secs_f64();
    let params = GenerateParams {
        max_tokens: a.max_tokens,
        ignore_eos: a.ignore_eos,
        sampler: SamplerParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            repetition_penalty: a.repeat_penalty,
            seed: a.seed,
            ..SamplerParams::default()
        },
        stop: a.stop.clone(),
        logprobs: None,
        response_format: match (&a.json_schema, a.json) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
                let schema = serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", path.display())))?;
                ResponseFormat::JsonSchema(schema)
            }
            (None, true) => ResponseFormat::JsonObject,
            (None, false) => ResponseFormat::Text,
        },
        tool_calls: None,
    };
    let mut out = std::io::stdout().lock();
    let done = engine.generate(&prompt, params, |piece| {
        let _ = out.write_all(piece.text.as_bytes());
        let _ = out.flush();
        ControlFlow::Continue(())
    })?;
    let _ = writeln!(out);
    let s = &done.stats;
    eprintln!(
        "\n[{} prompt tokens: prefill {:.1} tok/s | {} generated: decode {:.2} tok/s | finish: {:?} | load {:.1} s | \
         model+cache {:.0} MB | peak RSS {} | {}{}]",
        s.prompt_tokens,
        s.prefill_tok_s,
        s.generated_tokens,
        s.decode_tok_s,
        done.finish_reason,
        load_s,
        s.memory_bytes as f64 / 1e6,
        files::peak_rss().map_or("n/a".into(), |b| format!("{:.0} MB", b as f64 / 1e6)),
        match &s.adapter {
            Some(a) => format!("gpu: {a}"),
            None => format!("kernel {}, {} thread{}", s.kernel, s.threads, if s.threads == 1 { "" } else { "s" }),
        },
        if s.constraint_ms > 0.0 {
            format!(" | structured output {:.3} ms/token", s.constraint_ms / s.generated_tokens.max(1) as f64)
        } else {
            String::new()
        },
    );
    Ok(())
}
