//! Prompt in, tokens out: tokenization, prefill with KV reuse across turns, sampling, stop
//! conditions and statistics, over one loaded model.
//!
//! Generation is step-wise (`begin`, then `step` per token) so that a host can stop between tokens
//! (the browser worker handles an abort message there); `generate` runs the whole loop.
//!
//! The forward pass runs on the CPU or on a GPU (`Compute`). A GPU's logits come back
//! asynchronously in a browser, so `begin_async` and `step_async` are the engine's core; `begin` and
//! `step` run them to completion where nothing has to wait (the CPU anywhere, a GPU natively).

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::chat::tools::{self, Syntax, ToolError, Tools};
use crate::chat::{ChatError, ChatFormat, Message};
use crate::constraint::{Constraint, ConstraintError, ResponseFormat, Vocabulary};
use crate::gguf::Gguf;
use crate::kernels::KernelKind;
use crate::gpu::{Gpu, GpuError};
use crate::model::{BackendKind, Compute, Config, ForwardOptions, GpuModel, KvPrecision, LoadOptions, Model, ModelError, ModelLoader, Want};
use crate::sampler::{Sampler, SamplerParams};
use crate::tokenizer::{PreTokenizerKind, TextStream, Tokenizer, TokenizerError};

mod benchmark;
mod layout_probe;

pub use benchmark::BenchRun;
pub use layout_probe::LayoutDecision;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {tokens} tokens but the context holds {max}; shorten the conversation")]
    PromptTooLong { tokens: usize, max: usize },
    #[error("the prompt has {bytes} bytes of text, more than the context's {max} tokens can hold; shorten it")]
    PromptTooManyBytes { bytes: usize, max: usize },
    #[error("the model computed {what} logits: its weights or norms are corrupt (NaN or infinite values)")]
    NonFiniteLogits { what: &'static str },
    /// The GPU failed, and its weights were only on it: the model must be loaded again for the
    /// CPU (`Engine::replace_model`); the generation then goes on where it stopped.
    #[error("the GPU failed ({0}) and the model's weights were only on it; load the model again to go on on the CPU")]
    GpuLost(String),
}

/// One input's embedding (`Engine::embed`).
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// L2-normalised, `n_embd` values.
    pub vector: Vec<f32>,
    /// The tokens the input took (after any truncation).
    pub tokens: usize,
}

impl Embedding {
    /// The first `dims` values, normalised again: what OpenAI's `dimensions` asks of a model trained
    /// to front-load its vector (Matryoshka). `None` unless `1 <= dims <= len`.
    pub fn shortened(&self, dims: usize) -> Option<Vec<f32>> {
        let head = self.vector.get(..dims).filter(|_| dims > 0)?;
        let norm = head.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        Some(head.iter().map(|&x| if norm > 0.0 { (x as f64 / norm) as f32 } else { 0.0 }).collect())
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct EngineOptions {
    pub load: LoadOptions,
    pub kv_precision: KvPrecision,
    /// Context length in tokens (0: the model's training context, at most 4096).
    pub max_context: usize,
    /// Overrides the tokenizer's pre-tokenizer (e.g. llama.cpp's default chain, for bitnet.cpp parity).
    pub pre_tokenizer: Option<PreTokenizerKind>,
    /// Overrides the kernel (default: the best this build has).
    pub kernel: Option<KernelKind>,
}

impl EngineOptions {
    /// The loader's options, with the context and KV precision the engine will use (the KV cache
    /// is part of the loader's memory budget).
    pub fn loader_options(&self) -> LoadOptions {
        LoadOptions { context: self.max_context, kv: self.kv_precision, ..self.load }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateParams {
    pub max_tokens: usize,
    /// Keep going past end-of-generation tokens (benchmarks that need an exact token count).
    pub ignore_eos: bool,
    #[serde(flatten)]
    pub sampler: SamplerParams,
    /// Generation stops before any of these strings, which are not returned.
    pub stop: Vec<String>,
    /// Report each token's log-probability with this many most likely alternatives (None: off).
    pub logprobs: Option<usize>,
    /// Structured output: the answer must be JSON (an object, or matching a schema).
    #[serde(skip)]
    pub response_format: ResponseFormat,
    /// Tool calls: the grammar a call follows (`Tools::grammar`), and whether the answer must be
    /// one (`required`, a named tool) or may be (`auto`: its first token decides).
    #[serde(skip)]
    pub tool_calls: Option<ToolCalls>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolCalls {
    pub grammar: String,
    pub required: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            ignore_eos: false,
            sampler: SamplerParams::default(),
            stop: Vec::new(),
            logprobs: None,
            response_format: ResponseFormat::Text,
            tool_calls: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// Raw text, BOS prepended if the model wants it; special-token text is parsed.
    Text(String),
    /// A conversation, rendered with the model's chat format.
    Chat(Vec<Message>),
    /// A conversation with the request's tools: rendered by the model's template where it takes
    /// tools as we know how (`ChatFormat::tool_syntax`), else with our tool prompt.
    ChatWithTools(Vec<Message>, Box<Tools>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The caller stopped it.
    Abort,
    /// The context is full.
    ContextFull,
}

/// One generated token and the text it completes (possibly empty: a character cut between tokens,
/// or text held back because it might begin a stop string).
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub token: u32,
    pub text: String,
    /// The token's log-probability and the best alternatives, when asked for.
    pub logprob: Option<TokenLogprob>,
}

/// Log-probabilities under the model's own distribution (softmax of the logits at temperature 1,
/// before logit bias and penalties), as OpenAI's `logprobs` reports them. With the shortlist LM
/// head the rows outside the shortlist are 4-bit estimates; `lmHead: "stored"` makes them exact.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    pub logprob: f32,
    /// The `n` most likely tokens and their log-probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprob {
    fn of(logits: &[f32], token: u32, n: usize) -> TokenLogprob {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + logits.iter().map(|&l| f64::from(l - max).exp()).sum::<f64>().ln() as f32;
        let mut top: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
        for (i, &l) in logits.iter().enumerate() {
            if top.len() < n || top.last().is_some_and(|&(_, w)| l > w) {
                let at = top.partition_point(|&(_, w)| w >= l);
                top.insert(at, (i as u32, l));
                top.truncate(n);
            }
        }
        let lp = |l: f32| l - lse;
        TokenLogprob {
            logprob: lp(logits[token as usize]),
            top: top.into_iter().map(|(t, l)| (t, lp(l))).collect(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the previous turn.
    pub reused_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    /// Weights plus KV cache.
    pub memory_bytes: usize,
    pub kernel: &'static str,
    pub threads: usize,
    /// The LM head that ran: "int8", "f16" or "f32".
    pub head: &'static str,
    /// Time spent computing structured-output masks (0 for free text).
    pub constraint_ms: f64,
    /// Where the forward pass runs: "cpu" or "webgpu" (wgpu natively: "gpu").
    pub backend: &'static str,
    /// The GPU adapter, on the GPU backend.
    pub adapter: Option<String>,
    /// Why the engine runs on the CPU after all, when a GPU was asked for or lost.
    pub fallback: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub stats: Stats,
}

/// An ongoing generation; see [`Engine::begin`].
pub struct Generation {
    sampler: Sampler,
    constraint: Option<Constraint>,
    /// `tool_choice: "auto"`: the call grammar, taken up if the first token starts a call.
    pending: Option<Constraint>,
    /// The answer is a tool call (its text is the call's syntax, not content).
    calling: bool,
    params: GenerateParams,
    logits: Vec<f32>,
    tokens: Vec<u32>,
    stream: TextStream,
    /// Text not yet handed out because it could be the start of a stop string.
    held: String,
    text: String,
    finish: Option<FinishReason>,
    decode_ms: f64,
}

impl Generation {
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Whether the answer is a tool call: from the start (`required`, a named tool), or since its
    /// first token started one (`auto`).
    pub fn calling(&self) -> bool {
        self.calling
    }

    /// Stops the generation (the caller's stop button).
    pub fn abort(&mut self) {
        self.finish.get_or_insert(FinishReason::Abort);
    }

    /// Moves finished text out of `held`, stopping at a stop string. Returns the text to emit.
    fn release(&mut self, flush: bool) -> String {
        let stops = &self.params.stop;
        if let Some(at) = stops.iter().filter(|s| !s.is_empty()).filter_map(|s| self.held.find(s.as_str())).min() {
            let out = self.held[..at].to_string();
            self.held.clear();
            self.finish = Some(FinishReason::Stop);
            return out;
        }
        // Keep back the longest tail that could still grow into a stop string.
        let keep = if flush {
            0
        } else {
            stops
                .iter()
                .flat_map(|s| (1..s.len()).filter(|&n| s.is_char_boundary(n)).map(move |n| &s[..n]))
                .filter(|prefix| self.held.ends_with(prefix))
                .map(str::len)
                .max()
                .unwrap_or(0)
        };
        let out = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        out
    }
}

/// Decides from the header what the engine needs beyond the model's own shapes (which the model
/// loader checks): that a tokenizer can be built for it, of one token per embedding row. The
/// browser runs it as soon as the header has arrived, so the download stops there.
pub fn check_header(g: &Gguf, config: &Config, opts: &EngineOptions) -> Result<(), EngineError> {
    Tokenizer::check_header(g, config.n_vocab, opts.pre_tokenizer)?;
    ChatFormat::check_header(g)?;
    Ok(())
}

/// Milliseconds from an arbitrary origin (std's `Instant` panics on wasm32-unknown-unknown).
fn now_ms() -> f64 {
    // `performance.now()`, in a page or a worker: `Date.now()` has whole milliseconds only, which
    // rounds a structured-output mask (tens of microseconds) to nothing.
    #[cfg(target_arch = "wasm32")]
    {
        instant::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
    }
}

/// Runs a future that never waits (the CPU backend, or a GPU natively, whose readback completes
/// within the call) to its end.
fn now<T>(f: impl Future<Output = Result<T, EngineError>>) -> Result<T, EngineError> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => Err(ModelError::Gpu(GpuError::Unavailable("the WebGPU backend answers asynchronously: call begin_async/step_async".into())).into()),
    }
}

pub struct Engine {
    pub tokenizer: Tokenizer,
    pub chat: ChatFormat,
    /// Where the forward pass runs, with the weights and the KV cache.
    compute: Compute,
    /// The tokens whose keys and values the cache holds, in order.
    cached: Vec<u32>,
    kernel: KernelKind,
    stats: Stats,
    /// The vocabulary for structured output, built on the first request that needs it.
    vocabulary: Option<Vocabulary>,
    /// After the GPU was lost with the weights on it: every token whose keys and values must be
    /// computed again once the model is back (`replace_model`).
    lost: Option<Vec<u32>>,
    /// The I2_S packing the projections are read with, and why (`None`: the file has no I2_S).
    i2s_layout: Option<LayoutDecision>,
    /// That packing is assumed until `settle_i2s_layout` tries the weights.
    layout_unsettled: bool,
    /// Whether every I2_S matrix has its rows in fours, so that the probe may try the 1×4 reading.
    rows_in_fours: bool,
}

impl Engine {
    /// Loads a whole GGUF file held in memory.
    pub fn load(bytes: &[u8], opts: EngineOptions) -> Result<Engine, EngineError> {
        let mut loader = ModelLoader::new(opts.loader_options(), Some(bytes.len() as u64));
        loader.feed(bytes)?;
        let (model, gguf) = loader.finish()?;
        let mut engine = Engine::new(model, &gguf, opts)?;
        engine.settle_i2s_layout();
        Ok(engine)
    }

    /// Builds an engine from a loaded model and its header (for the tokenizer and chat format).
    pub fn new(model: Model, gguf: &Gguf, opts: EngineOptions) -> Result<Engine, EngineError> {
        Engine::with_compute(Compute::cpu(model, opts.kv_precision, opts.max_context), gguf, opts)
    }

    /// An engine on the GPU that holds the model's weights (the GPU path's loader put them there:
    /// `ModelLoader::finish_on_gpu`).
    pub fn on_gpu(model: GpuModel, gguf: &Gguf, opts: EngineOptions) -> Result<Engine, EngineError> {
        let adapter = model.gpu.adapter.clone();
        let mut engine = Engine::with_compute(Compute::gpu(model, opts.kv_precision), gguf, opts)?;
        engine.stats.adapter = Some(adapter);
        Ok(engine)
    }

    fn with_compute(compute: Compute, gguf: &Gguf, opts: EngineOptions) -> Result<Engine, EngineError> {
        let n_vocab = compute.config().n_vocab;
        let tokenizer = Tokenizer::from_gguf(gguf, opts.pre_tokenizer)?;
        if tokenizer.n_vocab() != n_vocab {
            return Err(TokenizerError::Corrupt(format!("{} tokens in the vocabulary, but the model has {n_vocab} embeddings", tokenizer.n_vocab())).into());
        }
        let text = |id: Option<u32>| id.map(|t| String::from_utf8_lossy(tokenizer.token_bytes(t)).into_owned()).unwrap_or_default();
        ChatFormat::check_header(gguf)?;
        let chat = ChatFormat::for_model(gguf, &text(tokenizer.bos), &text(tokenizer.eos));
        let kernel = opts.kernel.unwrap_or_else(KernelKind::best);
        let stats = Stats { kernel: kernel.name(), threads: crate::kernels::threads(), backend: compute.kind().name(), ..Stats::default() };
        let mut engine = Engine { tokenizer, chat, compute, cached: Vec::new(), kernel, stats, vocabulary: None, lost: None, i2s_layout: None, layout_unsettled: false, rows_in_fours: false };
        (engine.i2s_layout, engine.layout_unsettled) = layout_probe::at_load(&engine, gguf, opts.load.i2s_layout, opts.load.i2s_layout_found)?;
        engine.rows_in_fours = crate::model::i2s_layout::rows_in_fours(gguf);
        Ok(engine)
    }

    /// The I2_S packing the projections are read with, and why; `None` for a file without I2_S.
    pub fn i2s_layout(&self) -> Option<&LayoutDecision> {
        self.i2s_layout.as_ref()
    }

    /// Where neither the caller nor the file said how its I2_S weights are packed, tries them on a test
    /// sentence (`engine::layout_probe`) and keeps the reading that wins; at most once, and a no-op
    /// otherwise. Call it once every weight can be read: after a kept copy that holds the embedding's
    /// rows is bound (`ModelLoader::rows_from`). `Engine::load` calls it.
    pub fn settle_i2s_layout(&mut self) -> Option<&LayoutDecision> {
        if std::mem::take(&mut self.layout_unsettled) {
            // The CPU's forward pass answers at once; WebGPU's does natively, not in a browser (then
            // `settle_i2s_layout_async`).
            let decided = now(async { Ok(layout_probe::probe(self).await) });
            self.i2s_layout = Some(decided.unwrap_or_else(|e| layout_probe::assumed(format!("the weights could not be tried here ({e})"))));
        }
        self.i2s_layout.as_ref()
    }

    /// `settle_i2s_layout` for an engine whose forward pass may answer asynchronously (WebGPU).
    pub async fn settle_i2s_layout_async(&mut self) -> Option<&LayoutDecision> {
        if std::mem::take(&mut self.layout_unsettled) {
            self.i2s_layout = Some(layout_probe::probe(self).await);
        }
        self.i2s_layout.as_ref()
    }

    /// The model's configuration.
    pub fn config(&self) -> &Config {
        self.compute.config()
    }

    /// The model in host memory, when the CPU runs it (evaluation tools read its weights).
    pub fn model(&self) -> Option<&Model> {
        self.compute.model()
    }

    /// Where the forward pass runs.
    pub fn backend(&self) -> BackendKind {
        self.compute.kind()
    }

    /// Puts a model loaded again in place of one whose GPU was lost (same file, loaded for the
    /// CPU): the conversation's keys and values are computed on the next step, which goes on
    /// with the same generation.
    pub fn replace_model(&mut self, model: Model) -> Result<(), EngineError> {
        self.compute.replace(model)?;
        self.cached.clear();
        Ok(())
    }

    /// Moves the forward pass to the CPU, saying why (`stats().fallback`). The conversation's
    /// keys and values are computed again on the next call.
    pub fn use_cpu(&mut self, why: Option<String>) {
        self.compute.to_cpu();
        self.cached.clear();
        self.stats = Stats { backend: self.compute.kind().name(), adapter: None, fallback: why, ..self.stats.clone() };
    }

    /// The logits of every position of `tokens`, run from an empty cache (evaluation: the CLI's
    /// `logits` and `perplexity`). The conversation cache is forgotten.
    pub fn evaluate(&mut self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        now(self.evaluate_async(tokens))
    }

    /// `evaluate` for an engine whose forward pass may answer asynchronously (WebGPU).
    pub async fn evaluate_async(&mut self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        self.reset();
        self.weights_here()?;
        let opts = ForwardOptions { kernel: self.kernel };
        let logits = self.compute.forward(tokens, Want::All, opts).await.map_err(EngineError::from);
        self.reset();
        logits
    }

    /// An embedding model's vector for `input`, run as its own sequence from an empty cache (the
    /// conversation cache is forgotten), with the number of tokens it took. The text is tokenized
    /// as a text prompt is: the vocabulary's BOS and EOS where it asks (BitNet-embedding pools the
    /// EOS it appends). An input longer than the context is `PromptTooLong`, unless `truncate`:
    /// then its first tokens run, still ending with that EOS.
    pub fn embed(&mut self, input: &str, truncate: bool) -> Result<Embedding, EngineError> {
        Ok(now(self.embed_many_async(&[input], truncate))?.pop().expect("one input, one embedding"))
    }

    /// `embed` for several inputs, each its own sequence: on the CPU they go through the kernels
    /// packed together, as many as the context holds at a time (`Compute::embed_batch`).
    pub fn embed_many(&mut self, inputs: &[&str], truncate: bool) -> Result<Vec<Embedding>, EngineError> {
        now(self.embed_many_async(inputs, truncate))
    }

    /// `embed_many`, for a backend that may have to wait (WebGPU). If the GPU fails, the engine
    /// moves to the CPU as `forward` does, and this is `GpuLost` until the model is loaded again.
    pub async fn embed_many_async(&mut self, inputs: &[&str], truncate: bool) -> Result<Vec<Embedding>, EngineError> {
        if self.config().pooling.is_none() {
            return Err(ModelError::WrongKind("this is a language model, not an embedding model: load an embedding model (BitNet-embedding) for embeddings".into()).into());
        }
        self.weights_here()?;
        let tokens = inputs.iter().map(|input| self.embedding_tokens(input, truncate)).collect::<Result<Vec<_>, _>>()?;
        self.reset();
        let lists: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
        match self.compute.embed_batch(&lists, ForwardOptions { kernel: self.kernel }).await {
            Ok(vectors) => Ok(vectors.into_iter().zip(&tokens).map(|(vector, t)| Embedding { vector, tokens: t.len() }).collect()),
            Err(ModelError::Gpu(why)) => {
                self.use_cpu(Some(format!("{why}; running on the CPU from here on")));
                Err(EngineError::GpuLost(why.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The tokens `embed` runs for `input`: refused or cut as it says.
    fn embedding_tokens(&self, input: &str, truncate: bool) -> Result<Vec<u32>, EngineError> {
        let max = self.max_context();
        // Bounded work for any input: past `max × max_token_bytes` bytes the text cannot fit, so
        // it is refused, or (truncating) only that much of it is tokenized.
        let limit = max.saturating_mul(self.tokenizer.max_token_bytes());
        let text = match (input.len() > limit, truncate) {
            (true, false) => return Err(EngineError::PromptTooManyBytes { bytes: input.len(), max }),
            (true, true) => &input[..(0..=limit).rev().find(|&i| input.is_char_boundary(i)).unwrap_or(0)],
            (false, _) => input,
        };
        let mut tokens = self.encode_prompt(&Prompt::Text(text.to_string()))?;
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if tokens.len() > max {
            if !truncate {
                return Err(EngineError::PromptTooLong { tokens: tokens.len(), max });
            }
            let end = match (self.tokenizer.add_eos, self.tokenizer.eos) {
                (true, Some(eos)) => Some(eos),
                _ => None,
            };
            tokens.truncate(max - usize::from(end.is_some()));
            tokens.extend(end);
        }
        Ok(tokens)
    }

    /// The GPU the engine runs on, if it does.
    pub fn gpu(&self) -> Option<&Gpu> {
        self.compute.gpu_device()
    }

    pub fn stats(&self) -> Stats {
        Stats { memory_bytes: self.compute.memory_bytes(), head: self.compute.head_name(), ..self.stats.clone() }
    }

    pub fn max_context(&self) -> usize {
        self.compute.max_len()
    }

    /// An error unless the model can run: after a GPU that held the weights was lost, until
    /// `replace_model`.
    fn weights_here(&self) -> Result<(), EngineError> {
        match self.compute.is_lost() {
            true => Err(EngineError::GpuLost(self.stats.fallback.clone().unwrap_or_default())),
            false => Ok(()),
        }
    }

    /// Positions the KV cache holds.
    fn cache_len(&self) -> usize {
        self.compute.len()
    }

    fn truncate_cache(&mut self, n: usize) {
        self.compute.truncate(n);
        self.cached.truncate(n);
    }

    /// Forgets the cached conversation.
    pub fn reset(&mut self) {
        self.truncate_cache(0);
    }

    /// The prompt's tokens as they would run, without the context check (for counting). BOS
    /// leads when the tokenizer asks for it, once: a prompt that already starts with it (a chat
    /// template that writes `{{ bos_token }}`, as Llama 3's does and 2B4T's does not) gets no
    /// second one, which HF and llama.cpp both warn about.
    pub fn encode_prompt(&self, prompt: &Prompt) -> Result<Vec<u32>, EngineError> {
        let ids = match prompt {
            Prompt::Text(t) => {
                let mut ids = self.tokenizer.encode(t, true);
                // llama.cpp and HF end a text with EOS when the vocabulary asks (a chat prompt ends
                // with the assistant's cue instead).
                if let (true, Some(eos)) = (self.tokenizer.add_eos, self.tokenizer.eos) {
                    ids.push(eos);
                }
                ids
            }
            // Message text is text: only the format's markup yields special tokens.
            Prompt::Chat(messages) if messages.iter().any(|m| self.tokenizer.contains_special_text(&m.content)) => {
                self.tokenizer.encode_segments(&self.chat.segments(messages, true)?)
            }
            Prompt::Chat(messages) => self.tokenizer.encode(&self.chat.render(messages, true)?, true),
            Prompt::ChatWithTools(messages, tools) => {
                tools::check_turns(messages)?;
                if self.chat.tool_syntax() == Syntax::Tagged {
                    return self.encode_prompt(&Prompt::Chat(tools::tagged_messages(messages, tools)));
                }
                self.check_tool_markup(messages, tools)?;
                let raw = Some(&tools.raw);
                if messages.iter().any(|m| self.tokenizer.contains_special_text(&m.content)) {
                    self.tokenizer.encode_segments(&self.chat.segments_with(messages, raw, true)?)
                } else {
                    self.tokenizer.encode(&self.chat.render_with(messages, raw, true)?, true)
                }
            }
        };
        Ok(match (self.tokenizer.add_bos, self.tokenizer.bos) {
            (true, Some(bos)) if ids.first() != Some(&bos) => std::iter::once(bos).chain(ids).collect(),
            _ => ids,
        })
    }

    /// The tools and the calls made are the template's markup, so special-token text in them
    /// would become control tokens: refused (in message text it stays text).
    fn check_tool_markup(&self, messages: &[Message], tools: &Tools) -> Result<(), EngineError> {
        let calls = messages.iter().filter_map(|m| m.tool_calls.as_ref());
        if std::iter::once(&tools.raw).chain(calls).any(|v| self.tokenizer.contains_special_text(&v.to_string())) {
            return Err(ToolError::BadMessage(
                "`tools` or a message's `tool_calls` contain special-token text, which the chat template would turn into control tokens; remove it".into(),
            )
            .into());
        }
        Ok(())
    }

    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>, EngineError> {
        // Bounded work for any input: no token covers more than `max_token_bytes` bytes, so a text
        // past `context × max_token_bytes` cannot fit, and it is refused before it is tokenized
        // (tokenizing costs about 120 bytes of memory per byte of text).
        let bytes = match prompt {
            Prompt::Text(t) => t.len(),
            Prompt::Chat(messages) => messages.iter().map(|m| m.content.len()).sum(),
            Prompt::ChatWithTools(messages, tools) => {
                let calls: usize = messages.iter().filter_map(|m| m.tool_calls.as_ref()).map(|c| c.to_string().len()).sum();
                messages.iter().map(|m| m.content.len()).sum::<usize>() + calls + tools.raw.to_string().len()
            }
        };
        let max = self.max_context();
        if bytes > max.saturating_mul(self.tokenizer.max_token_bytes()) {
            return Err(EngineError::PromptTooManyBytes { bytes, max });
        }
        let tokens = self.encode_prompt(prompt)?;
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if tokens.len() >= self.max_context() {
            return Err(EngineError::PromptTooLong { tokens: tokens.len(), max: self.max_context() });
        }
        Ok(tokens)
    }

    /// Runs the prompt (reusing whatever prefix the cache already holds) and returns a generation
    /// ready for `step`.
    pub fn begin(&mut self, prompt: &Prompt, params: GenerateParams) -> Result<Generation, EngineError> {
        now(self.begin_async(prompt, params))
    }

    /// `begin`, for a backend that may have to wait (WebGPU).
    pub async fn begin_async(&mut self, prompt: &Prompt, params: GenerateParams) -> Result<Generation, EngineError> {
        if self.config().pooling.is_some() {
            return Err(ModelError::WrongKind("this is an embedding model: it makes embeddings (embeddings.create), not text; load a chat model to chat".into()).into());
        }
        let tokens = self.prompt_tokens(prompt)?;
        // A new prompt runs whole: what a lost GPU left to compute again is no longer needed.
        self.lost = None;
        // A schema or a tool call grammar that cannot be enforced fails before the prompt runs.
        let calls = params.tool_calls.as_ref().map(|c| (ResponseFormat::Lark(c.grammar.clone()), c.required));
        let mut constraint = match params.response_format {
            ResponseFormat::Text => None,
            ref format => self.vocabulary()?.constraint(format)?,
        };
        let mut pending = None;
        let mut calling = false;
        if let Some((grammar, required)) = calls {
            if constraint.is_some() {
                return Err(ToolError::BadChoice("cannot be combined with `response_format` unless it is \"none\"".into()).into());
            }
            let c = self.vocabulary()?.constraint(&grammar)?;
            if required {
                (constraint, calling) = (c, true);
            } else {
                pending = c;
            }
        }
        // At least one token must run, to produce the next token's logits.
        let common = self.cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count().min(tokens.len() - 1);
        self.truncate_cache(common);
        let mut sampler = Sampler::new(params.sampler.clone());
        for &t in &tokens {
            sampler.observe(t);
        }
        let t0 = now_ms();
        let decides = (constraint.is_none() && params.logprobs.is_none()).then_some(&sampler);
        let logits = self.forward(&tokens[common..], decides).await?;
        let prefill_ms = now_ms() - t0;
        let new = tokens.len() - common;
        self.stats = Stats {
            prompt_tokens: tokens.len(),
            reused_tokens: common,
            prefill_ms,
            prefill_tok_s: new as f64 / (prefill_ms.max(1e-3) / 1000.0),
            kernel: self.kernel.name(),
            threads: crate::kernels::threads(),
            backend: self.stats.backend,
            adapter: self.stats.adapter.clone(),
            fallback: self.stats.fallback.clone(),
            ..Stats::default()
        };
        Ok(Generation {
            sampler,
            constraint,
            pending,
            calling,
            params,
            logits,
            tokens: Vec::new(),
            stream: TextStream::default(),
            held: String::new(),
            text: String::new(),
            finish: None,
            decode_ms: 0.0,
        })
    }

    /// What a request's tools ask of the generation: the grammar of a call in this model's syntax,
    /// and whether the answer must be one (`required`, a named tool); `None` when no call may be
    /// made (`tool_choice: "none"`).
    pub fn tool_calls(&self, tools: &Tools) -> Option<ToolCalls> {
        let required = matches!(tools.choice, tools::ToolChoice::Required | tools::ToolChoice::Named(_));
        tools.grammar(self.chat.tool_syntax()).map(|grammar| ToolCalls { grammar, required })
    }

    /// The vocabulary as the grammar engine walks it, built on the first constrained request.
    fn vocabulary(&mut self) -> Result<&Vocabulary, EngineError> {
        if self.vocabulary.is_none() {
            self.vocabulary = Some(Vocabulary::new(&self.tokenizer)?);
        }
        Ok(self.vocabulary.as_ref().expect("built above"))
    }

    /// Runs `tokens` after the cached ones. If the GPU fails (a lost device, a driver error), the
    /// engine moves to the CPU and says why in `stats().fallback`; the weights were only on the
    /// device, so this is `GpuLost` until the model is loaded again (`replace_model`), after which
    /// the whole sequence runs on the CPU and the conversation goes on. When `sampler` (the one
    /// that will pick from these logits) needs only the largest few, a GPU returns only those
    /// (`Want::Decisive`).
    async fn forward(&mut self, tokens: &[u32], sampler: Option<&Sampler>) -> Result<Vec<f32>, EngineError> {
        let opts = ForwardOptions { kernel: self.kernel };
        self.weights_here()?;
        // Built only if a GPU asks (penalties make it a set of the recent tokens).
        let set = std::cell::OnceCell::new();
        let lowered = |t: u32| sampler.is_some_and(|s| set.get_or_init(|| s.lowered()).contains(&t));
        let want = match sampler.and_then(Sampler::decisive) {
            Some(need) => Want::Decisive { need, lowered: &lowered },
            None => Want::Last,
        };
        match self.compute.forward(tokens, want, opts).await {
            Ok(logits) => {
                self.cached.extend_from_slice(tokens);
                self.checked(logits)
            }
            Err(ModelError::Gpu(why)) => {
                self.lost = Some(self.cached.iter().chain(tokens).copied().collect());
                self.use_cpu(Some(format!("{why}; running on the CPU from here on")));
                Err(EngineError::GpuLost(why.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn checked(&self, logits: Vec<f32>) -> Result<Vec<f32>, EngineError> {
        // A NaN would otherwise make every comparison false and the argmax token 0, in silence.
        if let Some(x) = logits.iter().find(|x| !x.is_finite()) {
            return Err(EngineError::NonFiniteLogits { what: if x.is_nan() { "NaN" } else { "infinite" } });
        }
        Ok(logits)
    }

    /// Generates one token. `None` once the generation has finished.
    pub fn step(&mut self, g: &mut Generation) -> Result<Option<Piece>, EngineError> {
        now(self.step_async(g))
    }

    /// `step`, for a backend that may have to wait (WebGPU).
    pub async fn step_async(&mut self, g: &mut Generation) -> Result<Option<Piece>, EngineError> {
        if g.finish.is_some() {
            return Ok(None);
        }
        if let Some(all) = self.lost.take() {
            // The GPU was lost after the last token was sampled: its logits come from the model
            // loaded again, over the whole sequence (GpuLost again until that has happened).
            if let Err(e) = self.weights_here() {
                self.lost = Some(all);
                return Err(e);
            }
            self.truncate_cache(0);
            let logits = self.compute.forward(&all, Want::Last, ForwardOptions { kernel: self.kernel }).await?;
            self.cached = all;
            g.logits = self.checked(logits)?;
        }
        if g.tokens.len() >= g.params.max_tokens {
            g.finish = Some(FinishReason::Length);
            return Ok(None);
        }
        let top_n = g.params.logprobs;
        let raw = top_n.map(|_| g.logits.clone());
        if let Some(c) = g.constraint.as_mut() {
            let t0 = now_ms();
            c.mask(&mut g.logits)?;
            self.stats.constraint_ms += now_ms() - t0;
        }
        // `auto`: the first token is the model's own; if the call grammar allows it, the answer is
        // a call from there on, constrained like one.
        let mut opens_call = None;
        if let Some(p) = g.pending.as_mut().filter(|_| g.tokens.is_empty()) {
            let mut masked = g.logits.clone();
            p.mask(&mut masked)?;
            opens_call = Some(masked);
        }
        let token = g.sampler.sample(&mut g.logits);
        if let Some(c) = g.constraint.as_mut() {
            c.commit(token)?;
        }
        if let (Some(masked), Some(mut p)) = (opens_call, g.pending.take()) {
            if masked[token as usize].is_finite() && !self.tokenizer.is_end_of_generation(token) {
                p.commit(token)?;
                g.constraint = Some(p);
                g.calling = true;
            }
        }
        let logprob = raw.map(|raw| TokenLogprob::of(&raw, token, top_n.unwrap_or(0)));
        g.tokens.push(token);
        self.stats.generated_tokens = g.tokens.len();
        if self.tokenizer.is_end_of_generation(token) && !g.params.ignore_eos {
            g.finish = Some(FinishReason::Stop);
            let text = g.stream.finish();
            g.held += &text;
            let out = g.release(true);
            g.text += &out;
            return Ok(Some(Piece { token, text: out, logprob }));
        }
        let bytes = if self.tokenizer.is_control(token) { &[][..] } else { self.tokenizer.token_bytes(token) };
        let new_text = g.stream.push(bytes);
        g.held += &new_text;
        // A complete structured answer ends here: nothing but end-of-turn may follow.
        if g.constraint.as_ref().is_some_and(Constraint::is_finished) {
            g.finish = Some(FinishReason::Stop);
            g.held += &g.stream.finish();
            let out = g.release(true);
            g.text += &out;
            return Ok(Some(Piece { token, text: out, logprob }));
        }
        let last = g.tokens.len() >= g.params.max_tokens;
        let mut out = g.release(last);
        if g.finish.is_none() && !last {
            if self.cache_len() + 1 > self.max_context() {
                g.finish = Some(FinishReason::ContextFull);
                g.held += &g.stream.finish();
                out += &g.release(true);
            } else {
                let t0 = now_ms();
                let decides = (g.constraint.is_none() && g.params.logprobs.is_none()).then_some(&g.sampler);
                match self.forward(&[token], decides).await {
                    Ok(logits) => g.logits = logits,
                    // This token stands; the next step computes its logits once the model is back.
                    Err(EngineError::GpuLost(_)) => {}
                    Err(e) => return Err(e),
                }
                g.decode_ms += now_ms() - t0;
            }
        }
        if last && g.finish.is_none() {
            g.held += &g.stream.finish();
            out += &g.release(true);
            g.finish = Some(FinishReason::Length);
        }
        g.text += &out;
        self.stats.decode_ms = g.decode_ms;
        // The first token comes from the prefill; each later one cost a decode step.
        let decoded = g.tokens.len().saturating_sub(1);
        self.stats.decode_tok_s = if decoded == 0 { 0.0 } else { decoded as f64 / (g.decode_ms.max(1e-3) / 1000.0) };
        Ok(Some(Piece { token, text: out, logprob }))
    }

    /// Runs a whole generation, calling `on_piece` for each token; `ControlFlow::Break` aborts.
    pub fn generate(
        &mut self,
        prompt: &Prompt,
        params: GenerateParams,
        mut on_piece: impl FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Completion, EngineError> {
        let mut g = self.begin(prompt, params)?;
        while let Some(piece) = self.step(&mut g)? {
            if on_piece(&piece).is_break() {
                g.abort();
            }
        }
        Ok(Completion {
            text: g.text.clone(),
            tokens: g.tokens.clone(),
            finish_reason: g.finish.unwrap_or(FinishReason::Stop),
            stats: self.stats(),
        })
    }
}
