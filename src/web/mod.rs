//! The wasm-bindgen face: what JavaScript sees. Only glue lives here; the work is done elsewhere.
//!
//! - `GgufInspector`: reads a header from a byte stream (the inspector page).
//! - `ModelLoader`: builds a model from a byte stream as it downloads, checking the header first.
//! - `Engine`: step-wise generation, so the worker can handle messages (abort) between tokens.
//! - `runThread` / `buildThreadPool` (threaded build): rayon's threads as Web Workers.
//!
//! Errors thrown to JavaScript carry a `name` the npm package turns into typed errors.

mod alloc;
mod errors;
mod file_rows;
#[cfg(feature = "kernel-bench")]
mod kernel_bench;
#[cfg(target_feature = "atomics")]
mod threads;

#[cfg(feature = "kernel-bench")]
pub use kernel_bench::bench_kernels;
#[cfg(target_feature = "atomics")]
pub use threads::{build_thread_pool, run_thread, thread_init};

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::chat::Message;
use crate::chat::tools::{self, CallDelta, CallReader, ToolError, Tools};
use crate::constraint::ResponseFormat;
use crate::engine::{self, EngineOptions, GenerateParams, Generation, Prompt};
use crate::gguf::{GgufError, GgufStream, Limits, inspect};
use crate::model::{EmbeddingPrecision, HeadPrecision, KvPrecision, LoadOptions};
use crate::quant::I2sLayout;
use crate::sampler::SamplerParams;

use errors::{js_error, to_js};

/// The kernel an engine of this build runs on this CPU (`KernelKind::best`): "relaxed-simd" or
/// "relaxed-simd-i32" (the relaxed dot's two forms), or "simd128".
#[wasm_bindgen(js_name = kernelName)]
pub fn kernel_name() -> String {
    crate::kernels::KernelKind::best().name().to_string()
}

/// Threads the kernels run on (1 in the single-thread builds).
#[wasm_bindgen(js_name = kernelThreads)]
pub fn kernel_threads() -> usize {
    crate::kernels::threads()
}

/// Reads a GGUF header from a byte stream (e.g. a `fetch` body) and describes it, without keeping
/// the tensor data. Feed chunks as they arrive; `feed` returns true once the header is complete.
#[wasm_bindgen]
pub struct GgufInspector {
    stream: GgufStream,
}

#[wasm_bindgen]
impl GgufInspector {
    /// `file_len`, when known (Content-Length, `File.size`), lets bad offsets fail before the download ends.
    #[wasm_bindgen(constructor)]
    pub fn new(file_len: Option<f64>) -> GgufInspector {
        GgufInspector { stream: GgufStream::new(Limits::default(), file_len.map(|l| l as u64)) }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<bool, JsValue> {
        self.stream.feed(chunk, |_| Ok::<(), GgufError>(())).map_err(to_js)?;
        Ok(self.stream.header().is_some())
    }

    /// The header as JSON (see `bitnet-web inspect --json`), once complete.
    #[wasm_bindgen(js_name = headerJson)]
    pub fn header_json(&self) -> Option<String> {
        self.stream.header().map(|g| inspect::to_json(g).to_string())
    }

    /// The header as the CLI's text table, once complete.
    #[wasm_bindgen(js_name = headerText)]
    pub fn header_text(&self) -> Option<String> {
        self.stream.header().map(inspect::to_text)
    }

    /// What loading this model with `options` (`createEngine`'s) would take, itemized, once the
    /// header is complete; every check a load makes at the header runs too, so a model that could
    /// not load throws the same typed error here. A model over `memoryLimit` is not an error: the
    /// answer says `fits: false`, with the refusal a load would give.
    #[wasm_bindgen(js_name = estimateMemory)]
    pub fn estimate_memory(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let g = self.stream.header().ok_or_else(|| js_error("Error", "the header has not arrived yet"))?;
        let config = load_config(options)?;
        let opts = engine_options(&config)?;
        let limited = opts.loader_options();
        let unlimited = LoadOptions { memory_limit: None, ..limited };
        let (model_config, mut estimate) = crate::model::check_header(g, &unlimited).map_err(to_js)?;
        engine::check_header(g, &model_config, &opts).map_err(to_js)?;
        let refusal = match crate::model::check_header(g, &limited) {
            Ok((_, e)) => {
                estimate = e;
                None
            }
            Err(e @ crate::model::ModelError::OutOfMemory { .. }) => Some(e.to_string()),
            Err(e) => return Err(to_js(e)),
        };
        let summary = MemorySummary {
            total: estimate.total() as f64,
            weights: estimate.weights as f64,
            largest_tensor: estimate.largest_tensor as f64,
            kv_cache: estimate.kv_cache as f64,
            runtime: estimate.runtime as f64,
            int8_embeddings: estimate.int8_embeddings,
            embedding_in_file: estimate.embedding_in_file,
            context_length: model_config.context_length(opts.max_context),
            limit: limited.memory_limit.map(|l| l as f64),
            fits: refusal.is_none(),
            refusal,
            model: ModelIdentity::of(&model_config),
        };
        serde_wasm_bindgen::to_value(&summary).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// Ends the stream; throws if the file was truncated.
    pub fn finish(self) -> Result<String, JsValue> {
        let g = self.stream.finish().map_err(to_js)?;
        Ok(inspect::to_json(&g).to_string())
    }
}

/// Options for loading, from JavaScript (all optional).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LoadConfig {
    file_length: Option<f64>,
    /// 128 (the official file), 64 (bitnet.cpp ARM builds since 2025-11) or "1x4" (its x86 builds
    /// without ACT_PARALLEL); unset: what the file says, else probed at load (`engine::LayoutDecision`).
    i2s_layout: Option<serde_json::Value>,
    /// The worker's, not the page's: what the layout probe decided for this kept copy when it was first
    /// loaded (the store keeps it with the copy), in `i2sLayout`'s values; read so, without probing again.
    i2s_layout_found: Option<serde_json::Value>,
    /// Refuse models that need more memory than this, before downloading them.
    memory_limit: Option<f64>,
    /// "relu2" or "silu": the FFN activation, over what the file's clues decide (`model::evidence`).
    activation: Option<String>,
    /// Context length in tokens (default: the model's, at most 4096).
    context_length: Option<usize>,
    /// "f32" (default) or "f16".
    kv_cache: Option<String>,
    /// The LM head: "auto" (default), "shortlist", "int8" or "stored"; see `HeadPrecision`.
    lm_head: Option<String>,
    /// The embedding and a separate head: "auto" (default), "stored" or "int8"; see `EmbeddingPrecision`.
    embeddings: Option<String>,
    /// Kernel threads, for an estimate made before the engine starts (default: this build's).
    threads: Option<usize>,
    /// The weights go to WebGPU as they load (then `useGpu` before the first chunk): the memory
    /// budget counts host memory only.
    on_gpu: bool,
    /// For an estimate: the kept copy will be there to read the embedding's rows from (`rowsFrom`).
    rows_in_file: bool,
    /// A TL1/TL2 file's tiling: the text of the `kernel_config.ini` it was converted with, for shapes
    /// bitnet.cpp's presets do not cover (`quant::tl`).
    tl_kernel_config: Option<String>,
}

/// The page's options object (undefined or null: every default).
fn load_config(options: JsValue) -> Result<LoadConfig, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(LoadConfig::default());
    }
    serde_wasm_bindgen::from_value(options).map_err(|e| js_error("TypeError", &e.to_string()))
}

/// The engine's options from the page's (`createEngine` and `estimateMemory` take the same).
fn engine_options(config: &LoadConfig) -> Result<EngineOptions, JsValue> {
    let layout = |name: &str, v: &Option<serde_json::Value>| match v {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(128) => Ok(Some(I2sLayout::Block128)),
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(64) => Ok(Some(I2sLayout::Block64)),
        Some(serde_json::Value::String(s)) if s == "1x4" => Ok(Some(I2sLayout::Rows4)),
        Some(v) => Err(js_error("TypeError", &format!("{name} must be 128, 64 or \"1x4\", not {v}"))),
    };
    let i2s_layout = layout("i2sLayout", &config.i2s_layout)?;
    let i2s_layout_found = layout("i2sLayoutFound", &config.i2s_layout_found)?;
    let head = match config.lm_head.as_deref() {
        None | Some("auto") => HeadPrecision::Auto,
        Some("int8") => HeadPrecision::Int8,
        Some("stored") | Some("f16") => HeadPrecision::Stored,
        Some("shortlist") => HeadPrecision::Shortlist,
        Some(other) => {
            return Err(js_error("TypeError", &format!("lmHead must be \"auto\", \"shortlist\", \"int8\" or \"stored\", not {other:?}")));
        }
    };
    let activation = match config.activation.as_deref() {
        None => None,
        // The option chooses between the BitNet family's two; Gemma's GELU comes from its file alone.
        Some(name) => match crate::model::Activation::parse(name) {
            Some(a @ (crate::model::Activation::Relu2 | crate::model::Activation::Silu)) => Some(a),
            _ => return Err(js_error("TypeError", &format!("activation must be \"relu2\" or \"silu\", not {name:?}"))),
        },
    };
    let embeddings = match config.embeddings.as_deref() {
        None | Some("auto") => EmbeddingPrecision::Auto,
        Some("stored") => EmbeddingPrecision::Stored,
        Some("int8") => EmbeddingPrecision::Int8,
        Some(other) => {
            return Err(js_error("TypeError", &format!("embeddings must be \"auto\", \"stored\" or \"int8\", not {other:?}")));
        }
    };
    let tl_kernels = match config.tl_kernel_config.as_deref() {
        None => Default::default(),
        Some(text) => crate::quant::tl::KernelConfig::parse(text).map_err(|e| js_error("TypeError", &format!("tlKernelConfig: {e}")))?,
    };
    Ok(EngineOptions {
        load: LoadOptions {
            i2s_layout,
            i2s_layout_found,
            tl_kernels,
            memory_limit: config.memory_limit.map(|m| m as u64),
            head,
            embeddings,
            threads: config.threads.unwrap_or(0),
            on_gpu: config.on_gpu,
            rows_in_file: config.rows_in_file,
            activation,
            ..LoadOptions::default()
        },
        kv_precision: if config.kv_cache.as_deref() == Some("f16") { KvPrecision::F16 } else { KvPrecision::F32 },
        max_context: config.context_length.unwrap_or(0),
        ..EngineOptions::default()
    })
}

/// `estimateMemory`'s answer, in bytes (see `model::MemoryEstimate`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemorySummary {
    total: f64,
    weights: f64,
    largest_tensor: f64,
    kv_cache: f64,
    runtime: f64,
    int8_embeddings: bool,
    embedding_in_file: bool,
    context_length: usize,
    limit: Option<f64>,
    fits: bool,
    refusal: Option<String>,
    model: ModelIdentity,
}

/// What the page learns from the header, before the weights arrive.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeaderSummary {
    architecture: String,
    name: Option<String>,
    n_vocab: usize,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    n_head_kv: usize,
    n_ctx_train: usize,
    tensor_bytes: f64,
    file_length: f64,
    /// The header's memory estimate in bytes (weights and heads, the largest tensor in transit,
    /// the KV cache at the context), and whether the embeddings become int8 to fit.
    memory_estimate: f64,
    int8_embeddings: bool,
    /// The token embedding is read from the file a row at a time (`rowsFrom`), not held.
    embedding_in_file: bool,
    model: ModelIdentity,
}

/// What the runtime makes of the file (`model::evidence`): "relu2" or "silu", the family the clues
/// point to, why, and the clues that disagree (the worker posts each as a warning).
#[derive(Serialize)]
struct ModelIdentity {
    activation: &'static str,
    family: &'static str,
    reason: String,
    conflicts: Vec<String>,
}

impl ModelIdentity {
    fn of(c: &crate::model::Config) -> ModelIdentity {
        ModelIdentity {
            activation: c.activation.name(),
            family: c.decision.family,
            reason: c.decision.reason.clone(),
            conflicts: c.decision.conflicts.clone(),
        }
    }
}

/// `{ embedding: Float32Array, tokens }`, its first `dimensions` values normalised again when asked.
fn embedding_json(e: &engine::Embedding, dimensions: Option<usize>) -> Result<JsValue, JsValue> {
    let vector = match dimensions {
        None => e.vector.clone(),
        Some(d) => e.shortened(d).ok_or_else(|| js_error("RangeError", &format!("dimensions must be 1 to {}", e.vector.len())))?,
    };
    let out = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&out, &k.into(), v).map(|_| ());
    set("embedding", &js_sys::Float32Array::from(&vector[..]).into())?;
    set("tokens", &JsValue::from(e.tokens as u32))?;
    Ok(out.into())
}

/// An engine's I2_S decision for JavaScript: `{ layout: 128 | 64 | "1x4", reason, warning?, probed }` or undefined.
fn layout_json(d: Option<&engine::LayoutDecision>) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct Decision<'a> {
        /// 128, 64 or "1x4", as the `i2sLayout` option takes it.
        layout: serde_json::Value,
        reason: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        warning: Option<&'a str>,
        /// The weights decided it on the test sentence: the worker keeps it with a kept copy.
        probed: bool,
    }
    let layout = |l: I2sLayout| match l {
        I2sLayout::Rows4 => serde_json::Value::from("1x4"),
        l => serde_json::Value::from(l.block_size()),
    };
    let d = d.map(|d| Decision { layout: layout(d.layout), reason: &d.reason, warning: d.warning.as_deref(), probed: d.probed });
    serde_wasm_bindgen::to_value(&d).map_err(|e| js_error("Error", &e.to_string()))
}

/// Gives the rows `ModelLoader.rowsFrom()` promised their file (see there); false when that model is
/// gone (the handle is then closed). The model closes the handle when it is freed.
#[wasm_bindgen(js_name = bindRows)]
pub fn bind_rows(id: u32, handle: web_sys::FileSystemSyncAccessHandle) -> bool {
    file_rows::bind(id, handle)
}

/// Builds a model from the file's bytes as they arrive.
#[wasm_bindgen]
pub struct ModelLoader {
    loader: crate::model::ModelLoader,
    /// What the page asked for, as the engine takes it (the loader got its part).
    opts: EngineOptions,
    /// The engine's header checks (the tokenizer) have passed.
    checked: bool,
}

#[wasm_bindgen]
impl ModelLoader {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<ModelLoader, JsValue> {
        let config = load_config(options)?;
        let opts = engine_options(&config)?;
        let loader = crate::model::ModelLoader::new(opts.loader_options(), config.file_length.map(|l| l as u64));
        Ok(ModelLoader { loader, opts, checked: false })
    }

    /// Opens a WebGPU adapter and sends the weights to it as they load (the loader was made with
    /// `onGpu: true`; call before the first chunk). Throws a `WebGpuUnavailableError` without an
    /// adapter, or when the only one is a software renderer and `allowSoftware` is false.
    /// Resolves to `{ adapter, software }`.
    #[wasm_bindgen(js_name = useGpu)]
    pub async fn use_gpu(&mut self, allow_software: bool) -> Result<JsValue, JsValue> {
        let unavailable = |why: String| js_error("WebGpuUnavailableError", &why);
        if !self.opts.load.on_gpu {
            return Err(js_error("TypeError", "useGpu needs a loader made with onGpu: true"));
        }
        let choice = if allow_software { crate::gpu::DeviceChoice::Gpu } else { crate::gpu::DeviceChoice::Auto };
        let gpu = crate::gpu::choose(choice).await.map_err(|e| unavailable(e.to_string()))?.map_err(unavailable)?;
        let info = GpuInfo { adapter: gpu.adapter.clone(), software: gpu.software };
        self.loader.use_gpu(gpu);
        serde_wasm_bindgen::to_value(&info).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// Leaves an F16/F32 token embedding in the model's copy kept offline and reads its rows when
    /// needed (exact; 626 MiB less for 2B4T), unless the head is the embedding as stored. The copy
    /// is given once it is complete, with `bindRows(id, handle)` (a read-only
    /// `FileSystemSyncAccessHandle`), before the first generation. Call before the first chunk; the
    /// engine must run in this thread (a dedicated worker). Returns that id.
    #[wasm_bindgen(js_name = rowsFrom)]
    pub fn rows_from(&mut self) -> u32 {
        let store = file_rows::KeptFile::pending();
        let id = store.id;
        self.loader.rows_from(std::sync::Arc::new(store));
        id
    }

    /// Feeds the next chunk. Throws a typed error as soon as the file proves unusable: everything
    /// the header can tell (shapes, types, memory, the tokenizer) is checked when it arrives.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        // The header may say this GPU cannot run the model (its limits, a `WebGpuUnavailableError`):
        // "auto" then loads for the CPU.
        self.loader.feed(chunk).map_err(to_js)?;
        if !self.checked {
            if let (Some(g), Some(c)) = (self.loader.header(), self.loader.config()) {
                engine::check_header(g, c, &self.opts).map_err(to_js)?;
                self.checked = true;
            }
        }
        Ok(())
    }

    /// A summary of the model once its header has arrived and passed the checks, else `undefined`.
    pub fn header(&self) -> Result<JsValue, JsValue> {
        let (Some(g), Some(c), Some(e)) = (self.loader.header(), self.loader.config(), self.loader.estimate()) else {
            return Ok(JsValue::UNDEFINED);
        };
        let summary = HeaderSummary {
            architecture: c.arch_name.clone(),
            name: g.get_str("general.name").map(str::to_string),
            n_vocab: c.n_vocab,
            n_embd: c.n_embd,
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            n_ctx_train: c.n_ctx_train,
            tensor_bytes: g.tensor_bytes() as f64,
            file_length: g.required_file_len() as f64,
            memory_estimate: e.total() as f64,
            int8_embeddings: e.int8_embeddings,
            embedding_in_file: e.embedding_in_file,
            model: ModelIdentity::of(c),
        };
        serde_wasm_bindgen::to_value(&summary).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// Ends the download and builds the engine; throws if the file was truncated or incomplete.
    /// On the GPU path the engine runs on WebGPU (a device error surfaces here as a
    /// `WebGpuUnavailableError`).
    pub fn finish(self) -> Result<Engine, JsValue> {
        if self.opts.load.on_gpu {
            let max_len = self.loader.config().map_or(0, |c| c.context_length(self.opts.max_context));
            let (gpu, gguf) = self.loader.finish_on_gpu(max_len).map_err(to_js)?;
            let engine = engine::Engine::on_gpu(gpu, &gguf, self.opts).map_err(to_js)?;
            return Ok(Engine { engine, generation: None, calls: CallReader::default() });
        }
        let (model, gguf) = self.loader.finish().map_err(to_js)?;
        let engine = engine::Engine::new(model, &gguf, self.opts).map_err(to_js)?;
        Ok(Engine { engine, generation: None, calls: CallReader::default() })
    }

    /// Ends a load of the same file for the CPU into `engine`, whose GPU was lost with the weights
    /// on it (`GpuLostError`): its generation then goes on.
    #[wasm_bindgen(js_name = finishInto)]
    pub fn finish_into(self, engine: &mut Engine) -> Result<(), JsValue> {
        let (model, _) = self.loader.finish().map_err(to_js)?;
        engine.engine.replace_model(model).map_err(to_js)
    }
}

/// A generation request, OpenAI-style (snake_case, as `chat.completions.create` takes it). Fields
/// this runtime does not know are refused, not ignored: the npm package names them in an
/// `UnsupportedFieldError` before they get here, and this is the second line.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Request {
    messages: Option<Vec<Message>>,
    prompt: Option<String>,
    max_tokens: Option<usize>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<usize>,
    min_p: Option<f32>,
    repetition_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    presence_penalty: Option<f32>,
    /// Token id (as a string, as OpenAI's JSON has it) → bias in [-100, 100].
    logit_bias: Option<std::collections::BTreeMap<String, f32>>,
    seed: Option<f64>,
    stop: Option<StopField>,
    logprobs: bool,
    top_logprobs: Option<usize>,
    /// OpenAI's structured output: `{ type: "json_object" }` or `{ type: "json_schema", json_schema }`.
    response_format: Option<serde_json::Value>,
    /// Generate `max_tokens` tokens even past end-of-turn tokens (benchmarks, tests).
    ignore_eos: bool,
    /// OpenAI's tools: `[{ type: "function", function: { name, description?, parameters? } }]`.
    tools: Option<serde_json::Value>,
    /// `"auto"`, `"none"`, `"required"` or `{ type: "function", function: { name } }`.
    tool_choice: Option<serde_json::Value>,
    parallel_tool_calls: Option<bool>,
}

/// OpenAI accepts one stop string or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum StopField {
    One(String),
    Many(Vec<String>),
}

/// A request's prompt: raw text, or a conversation (with its tools, checked, and its calls made
/// normalized as templates take them).
fn chat_prompt(
    messages: Option<Vec<Message>>,
    prompt: Option<String>,
    tools: Option<&serde_json::Value>,
    choice: Option<&serde_json::Value>,
    parallel: Option<bool>,
) -> Result<Prompt, JsValue> {
    let type_error = |e: ToolError| js_error("TypeError", &e.to_string());
    let Some(mut messages) = messages else {
        if tools.is_some() {
            return Err(js_error("TypeError", "`tools` needs `messages`"));
        }
        return prompt.map(Prompt::Text).ok_or_else(|| js_error("TypeError", "a request needs `messages` or `prompt`"));
    };
    for (i, m) in messages.iter_mut().enumerate() {
        if let Some(calls) = m.tool_calls.take() {
            m.tool_calls = Some(tools::normalize_calls(&calls, &format!("messages[{i}]")).map_err(type_error)?);
        }
    }
    match tools {
        None if choice.is_some() => Err(js_error("TypeError", "`tool_choice` needs `tools`")),
        None if messages.iter().any(|m| m.tool_calls.is_some() || m.role == "tool") => {
            Err(js_error("TypeError", "a conversation with tool calls needs the request's `tools`"))
        }
        None => Ok(Prompt::Chat(messages)),
        Some(t) => Ok(Prompt::ChatWithTools(messages, Box::new(Tools::from_openai(t, choice, parallel).map_err(type_error)?))),
    }
}

/// The `TypeError`/`RangeError` for a request field that is out of its range.
fn bad_field(field: &str, why: &str) -> JsValue {
    js_error("RangeError", &format!("`{field}` {why}"))
}

fn in_range(field: &str, v: Option<f32>, lo: f32, hi: f32) -> Result<Option<f32>, JsValue> {
    match v {
        Some(x) if !(x.is_finite() && (lo..=hi).contains(&x)) => Err(bad_field(field, &format!("must be between {lo} and {hi}, not {x}"))),
        _ => Ok(v),
    }
}

impl Request {
    /// The stop strings, within [`MAX_STOPS`] and [`MAX_STOP_BYTES`].
    fn stops(&self) -> Result<Vec<String>, JsValue> {
        let stops = match &self.stop {
            None => vec![],
            Some(StopField::One(s)) => vec![s.clone()],
            Some(StopField::Many(v)) => v.clone(),
        };
        if stops.len() > MAX_STOPS {
            return Err(bad_field("stop", &format!("may hold at most {MAX_STOPS} strings, not {}", stops.len())));
        }
        if let Some(s) = stops.iter().find(|s| s.len() > MAX_STOP_BYTES) {
            return Err(bad_field("stop", &format!("strings may be at most {MAX_STOP_BYTES} bytes long, not {}", s.len())));
        }
        Ok(stops)
    }

    /// The generation parameters. Defaults (the README's table): temperature 0.7, top_k 40,
    /// top_p 0.9, min_p 0.05, repetition_penalty 1.1, max_tokens 256. At `temperature: 0` the
    /// token is the plain argmax: no penalty applies unless the request names one.
    fn params(&self, n_vocab: usize) -> Result<GenerateParams, JsValue> {
        let d = GenerateParams::default();
        let s = SamplerParams::default();
        let temperature = in_range("temperature", self.temperature, 0.0, 2.0)?.unwrap_or(s.temperature);
        let greedy = temperature == 0.0;
        let mut logit_bias = Vec::new();
        for (k, &v) in self.logit_bias.iter().flatten() {
            let id = k.parse::<u32>().ok().filter(|&t| (t as usize) < n_vocab);
            let Some(id) = id else { return Err(bad_field("logit_bias", &format!("has {k:?}, which is not a token id below {n_vocab}"))) };
            logit_bias.push((id, in_range("logit_bias", Some(v), -100.0, 100.0)?.unwrap_or(0.0)));
        }
        if self.top_logprobs.is_some_and(|n| n > 20) {
            return Err(bad_field("top_logprobs", "must be between 0 and 20"));
        }
        if self.top_logprobs.is_some() && !self.logprobs {
            return Err(bad_field("top_logprobs", "needs `logprobs: true`"));
        }
        let seed = match self.seed {
            None => js_sys::Math::random().to_bits(),
            Some(x) if x.is_finite() && x.fract() == 0.0 => x as i64 as u64,
            Some(x) => return Err(bad_field("seed", &format!("must be an integer, not {x}"))),
        };
        Ok(GenerateParams {
            max_tokens: self.max_tokens.unwrap_or(d.max_tokens),
            ignore_eos: self.ignore_eos,
            sampler: SamplerParams {
                temperature,
                top_p: in_range("top_p", self.top_p, 0.0, 1.0)?.unwrap_or(s.top_p),
                top_k: self.top_k.unwrap_or(s.top_k),
                min_p: in_range("min_p", self.min_p, 0.0, 1.0)?.unwrap_or(s.min_p),
                repetition_penalty: in_range("repetition_penalty", self.repetition_penalty, 0.01, 10.0)?
                    .unwrap_or(if greedy { 1.0 } else { s.repetition_penalty }),
                frequency_penalty: in_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?.unwrap_or(0.0),
                presence_penalty: in_range("presence_penalty", self.presence_penalty, -2.0, 2.0)?.unwrap_or(0.0),
                logit_bias,
                seed,
                ..s
            },
            stop: self.stops()?,
            logprobs: self.logprobs.then_some(self.top_logprobs.unwrap_or(0)),
            response_format: match &self.response_format {
                None => ResponseFormat::Text,
                Some(v) => ResponseFormat::from_openai(v).map_err(|e| js_error("TypeError", &e.to_string()))?,
            },
            tool_calls: None,
        })
    }
}

/// At most this many stop strings (OpenAI's limit), of at most this many bytes each: every token
/// checks the held-back text against each stop string's prefixes, so a stop string of 100 MB
/// would make every token scan 100 MB.
const MAX_STOPS: usize = 4;
const MAX_STOP_BYTES: usize = 1024;


/// One token's entry in OpenAI's `logprobs.content`.
#[derive(Serialize)]
struct LogprobEntry {
    token: String,
    logprob: f32,
    bytes: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<Vec<LogprobEntry>>,
}

#[derive(Serialize)]
struct StepResult {
    token: u32,
    text: String,
    finish_reason: Option<engine::FinishReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<LogprobEntry>,
    /// The tool calls this token continued: a call's name when it is complete, then pieces of its
    /// arguments (the npm package gives each call its id and OpenAI's delta shape).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<CallDelta>,
}

#[wasm_bindgen]
pub struct Engine {
    engine: engine::Engine,
    generation: Option<Generation>,
    /// The calls read from the answer, when it is one.
    calls: CallReader,
}

#[derive(Serialize)]
struct GpuInfo {
    adapter: String,
    software: bool,
}

#[wasm_bindgen]
impl Engine {
    /// Moves the forward pass to the CPU, with the reason `stats().fallback` reports.
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&mut self, why: Option<String>) {
        self.generation = None;
        self.engine.use_cpu(why);
    }

    /// Starts a generation: tokenizes, reuses the cached prefix, runs the prompt.
    pub fn begin(&mut self, request: JsValue) -> Result<(), JsValue> {
        let (prompt, params) = self.request(request)?;
        self.generation = Some(self.engine.begin(&prompt, params).map_err(to_js)?);
        Ok(())
    }

    /// Generates one token: `{ token, text, finish_reason }`, or `undefined` when done.
    pub fn step(&mut self) -> Result<JsValue, JsValue> {
        let Some(g) = self.generation.as_mut() else { return Ok(JsValue::UNDEFINED) };
        let piece = self.engine.step(g).map_err(to_js)?;
        self.piece(piece)
    }

    /// A request's prompt and generation parameters.
    fn request(&mut self, request: JsValue) -> Result<(Prompt, GenerateParams), JsValue> {
        let r: Request = serde_wasm_bindgen::from_value(request).map_err(|e| js_error("TypeError", &e.to_string()))?;
        let mut params = r.params(self.engine.tokenizer.n_vocab())?;
        self.calls = CallReader::default();
        let prompt = chat_prompt(r.messages, r.prompt, r.tools.as_ref(), r.tool_choice.as_ref(), r.parallel_tool_calls)?;
        if let Prompt::ChatWithTools(_, tools) = &prompt {
            params.tool_calls = self.engine.tool_calls(tools);
        }
        Ok((prompt, params))
    }

    /// A step's answer for JavaScript: `{ token, text, finish_reason, logprobs? }`, or `undefined`
    /// (and the generation dropped) when it is over.
    fn piece(&mut self, piece: Option<engine::Piece>) -> Result<JsValue, JsValue> {
        let Some(piece) = piece else {
            self.generation = None;
            return Ok(JsValue::UNDEFINED);
        };
        let entry = |t: u32, logprob: f32| {
            let bytes = self.engine.tokenizer.token_bytes(t).to_vec();
            LogprobEntry { token: String::from_utf8_lossy(&bytes).into_owned(), logprob, bytes, top_logprobs: None }
        };
        let logprobs = piece.logprob.map(|lp| LogprobEntry {
            top_logprobs: Some(lp.top.iter().map(|&(t, l)| entry(t, l)).collect()),
            ..entry(piece.token, lp.logprob)
        });
        let finish_reason = self.generation.as_ref().and_then(|g| g.finish_reason());
        // A call's text is the call's syntax, read into calls rather than handed out as content.
        let (text, tool_calls) = match self.generation.as_ref().is_some_and(Generation::calling) {
            true => (String::new(), self.calls.push(&piece.text)),
            false => (piece.text, Vec::new()),
        };
        let r = StepResult { token: piece.token, text, finish_reason, logprobs, tool_calls };
        serde_wasm_bindgen::to_value(&r).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// `begin` on WebGPU, whose answer comes back asynchronously. (The CPU engine uses `begin`:
    /// a trap there must reach the worker as a thrown error, which it turns into an
    /// `OutOfMemoryError`; in an async call it would escape the promise.)
    #[wasm_bindgen(js_name = beginAsync)]
    pub async fn begin_async(&mut self, request: JsValue) -> Result<(), JsValue> {
        let (prompt, params) = self.request(request)?;
        self.generation = Some(self.engine.begin_async(&prompt, params).await.map_err(to_js)?);
        Ok(())
    }

    /// `step` on WebGPU.
    #[wasm_bindgen(js_name = stepAsync)]
    pub async fn step_async(&mut self) -> Result<JsValue, JsValue> {
        let Some(g) = self.generation.as_mut() else { return Ok(JsValue::UNDEFINED) };
        let piece = self.engine.step_async(g).await.map_err(to_js)?;
        self.piece(piece)
    }

    /// Embeddings of an embedding model, each input its own sequence: `[{ embedding: Float32Array,
    /// tokens }]` in their order, each vector's first `dimensions` values normalised again when
    /// asked. On the CPU, short inputs go through the kernels packed together
    /// (`Compute::embed_batch`). An input longer than the context is a `ContextFullError` unless
    /// `truncate`.
    #[wasm_bindgen(js_name = embedMany)]
    pub fn embed_many(&mut self, inputs: Vec<String>, truncate: bool, dimensions: Option<usize>) -> Result<js_sys::Array, JsValue> {
        self.generation = None;
        let texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let all = self.engine.embed_many(&texts, truncate).map_err(to_js)?;
        all.iter().map(|e| embedding_json(e, dimensions)).collect()
    }

    /// `embedMany` on WebGPU. (The CPU engine uses `embedMany`, for the reason `beginAsync` gives.)
    #[wasm_bindgen(js_name = embedManyAsync)]
    pub async fn embed_many_async(&mut self, inputs: Vec<String>, truncate: bool, dimensions: Option<usize>) -> Result<js_sys::Array, JsValue> {
        self.generation = None;
        let texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let all = self.engine.embed_many_async(&texts, truncate).await.map_err(to_js)?;
        all.iter().map(|e| embedding_json(e, dimensions)).collect()
    }

    /// One run of "benchmark this device" at `threads` threads (`engine::BenchRun`: prefill of
    /// `prompt` tokens, `steps` decode steps, the weights' read rate and the decode bound). The
    /// conversation cache is forgotten.
    pub fn benchmark(&mut self, threads: usize, prompt: usize, steps: usize) -> Result<JsValue, JsValue> {
        self.generation = None;
        let r = self.engine.benchmark_now(threads, prompt, steps).map_err(to_js)?;
        serde_wasm_bindgen::to_value(&r).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// `benchmark` on WebGPU.
    #[wasm_bindgen(js_name = benchmarkAsync)]
    pub async fn benchmark_async(&mut self, threads: usize, prompt: usize, steps: usize) -> Result<JsValue, JsValue> {
        self.generation = None;
        let r = self.engine.benchmark(threads, prompt, steps).await.map_err(to_js)?;
        serde_wasm_bindgen::to_value(&r).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// Stops the current generation; the next `step` reports `finish_reason: "abort"` no more.
    pub fn abort(&mut self) {
        if let Some(g) = self.generation.as_mut() {
            g.abort();
        }
        self.generation = None;
    }

    /// Where the forward pass runs: "cpu" or "webgpu" (a GPU that failed leaves "cpu"). The worker
    /// asks this per token to know whether the engine's calls are async.
    pub fn backend(&self) -> String {
        self.engine.backend().name().to_string()
    }

    /// How the I2_S weights are read: `{ layout: 128 | 64 | "1x4", reason, warning?, probed }`, or undefined for a file
    /// without I2_S (`engine::LayoutDecision`; the worker posts the warning).
    #[wasm_bindgen(js_name = i2sLayout)]
    pub fn i2s_layout(&self) -> Result<JsValue, JsValue> {
        layout_json(self.engine.i2s_layout())
    }

    /// Tries the weights for their I2_S packing where nothing said it (`engine::layout_probe`), once
    /// every weight can be read (after `bindRows`); then as `i2sLayout`.
    #[wasm_bindgen(js_name = settleI2sLayout)]
    pub fn settle_i2s_layout(&mut self) -> Result<JsValue, JsValue> {
        layout_json(self.engine.settle_i2s_layout())
    }

    /// `settleI2sLayout` on any backend: on WebGPU the test sentence runs on the device.
    #[wasm_bindgen(js_name = settleI2sLayoutAsync)]
    pub async fn settle_i2s_layout_async(&mut self) -> Result<JsValue, JsValue> {
        layout_json(self.engine.settle_i2s_layout_async().await)
    }

    /// Why the engine runs on the CPU after all, when a GPU was asked for or lost.
    pub fn fallback(&self) -> Option<String> {
        self.engine.stats().fallback
    }

    /// `{ prompt_tokens, reused_tokens, generated_tokens, prefill_tok_s, decode_tok_s, memory_bytes, kernel, threads, ... }`
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        serde_wasm_bindgen::to_value(&self.engine.stats()).map_err(|e| js_error("Error", &e.to_string()))
    }

    /// Forgets the conversation held in the KV cache.
    pub fn reset(&mut self) {
        self.generation = None;
        self.engine.reset();
    }

    /// Token ids of `text`, without BOS. With `special`, the text of special tokens (`<|eot_id|>`)
    /// becomes their ids; without it, it is plain text.
    pub fn tokenize(&self, text: &str, special: Option<bool>) -> Vec<u32> {
        self.engine.tokenizer.encode(text, special.unwrap_or(false))
    }

    /// The text of token ids (special tokens as their text; a cut character as U+FFFD).
    pub fn detokenize(&self, ids: &[u32]) -> Result<String, JsValue> {
        let n = self.engine.tokenizer.n_vocab();
        if let Some(bad) = ids.iter().find(|&&t| t as usize >= n) {
            return Err(js_error("RangeError", &format!("token id {bad} is not below the vocabulary size {n}")));
        }
        Ok(self.engine.tokenizer.decode(ids, false))
    }

    /// Tokens a request's prompt takes (`{ messages }` rendered with the chat template, BOS
    /// included, or `{ prompt }`), whether or not it fits the context.
    #[wasm_bindgen(js_name = countTokens)]
    pub fn count_tokens(&self, request: JsValue) -> Result<usize, JsValue> {
        #[derive(Deserialize)]
        struct Counted {
            messages: Option<Vec<Message>>,
            prompt: Option<String>,
            tools: Option<serde_json::Value>,
            tool_choice: Option<serde_json::Value>,
        }
        let r: Counted = serde_wasm_bindgen::from_value(request).map_err(|e| js_error("TypeError", &e.to_string()))?;
        let prompt = chat_prompt(r.messages, r.prompt, r.tools.as_ref(), r.tool_choice.as_ref(), None)?;
        Ok(self.engine.encode_prompt(&prompt).map_err(to_js)?.len())
    }

    #[wasm_bindgen(js_name = contextLength)]
    pub fn context_length(&self) -> usize {
        self.engine.max_context()
    }
}

/// Incremental SHA-256, so a download can be verified as it streams (SubtleCrypto has no streaming
/// digest) before it is kept for offline use.
#[wasm_bindgen]
pub struct Sha256 {
    hasher: sha2::Sha256,
}

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        use sha2::Digest;
        Sha256 { hasher: sha2::Sha256::new() }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.hasher.update(chunk);
    }

    /// The digest as lowercase hex; consumes the hasher.
    pub fn hex(self) -> String {
        use sha2::Digest;
        self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}
