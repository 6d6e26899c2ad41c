// Types for bitnet-web's JavaScript API (the implementation is dist/index.js).

export interface Progress {
  /** "download" (from a URL), "cache" (from offline storage), "file" (a local file),
   *  "header" (the model's header passed its checks), "warning" (e.g. could not keep it offline),
   *  "kept" (`downloadModel`: the model is kept), "ready" (the weights are in place and the engine
   *  answers: the last event before `createEngine` resolves). */
  phase: "download" | "cache" | "file" | "header" | "warning" | "kept" | "ready";
  loaded?: number;
  total?: number;
  /** Bytes per second, when downloading. */
  rate?: number | null;
  /** Seconds left, when the size is known. */
  eta?: number | null;
  header?: ModelHeader;
  message?: string;
}

export interface ModelHeader {
  architecture: string;
  name: string | null;
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nCtxTrain: number;
  tensorBytes: number;
  fileLength: number;
  /** Bytes the model will take (weights and heads, the largest tensor in transit, the KV cache at the context, the tokenizer and scratch). */
  memoryEstimate: number;
  /** Whether the embedding and a separate head become int8 rows as they stream in (`embeddings`). */
  int8Embeddings: boolean;
  /** Whether the token embedding is left in the copy kept offline and read a row at a time (see `cache`). */
  embeddingInFile: boolean;
  /** What runs, decided from the file's clues (see `activation`). */
  model: ModelIdentity;
}

/**
 * Which model a file holds, decided from every clue its header gives: a `hidden_activation` key, the arch
 * (`llama`: SiLU), and under the two BitNet labels the vocabulary (converters write `bitnet-b1.58` and
 * `bitnet` for 1bitLLM models and 2B4T alike; SentencePiece is 1bitLLM's, byte-level BPE is 2B4T's).
 */
/** A published GGUF file of the BitNet family (`catalog`). */
export interface CatalogEntry {
  id: string;
  name: string;
  publisher: string;
  /** The publisher's file, as its page names it. */
  url: string;
  /** Bytes, as the publisher's file listing gives them (rounded there); null where none was read. */
  size: number | null;
  /** Hex SHA-256 where the publisher gives one (none does today): pass it to `createEngine`'s `sha256`. */
  sha256: string | null;
  description: string;
  /** Where the URL and size come from. */
  source: string;
}

/**
 * The family's published GGUF files this runtime loads: 2B4T, Falcon3-1B/3B/7B-Instruct-1.58bit and
 * Falcon-E-3B-Instruct. Whether one fits this device is a question for its header: `estimateMemory(entry.url)`
 * reads only that (a few MB) and answers `fits`, with the reason and what would fit when it does not.
 */
export const catalog: readonly CatalogEntry[];

export interface ModelIdentity {
  activation: "relu2" | "silu";
  /** The family the clues point to, in words. */
  family: string;
  /** Why, in a sentence a person can check against the file. */
  reason: string;
  /** Clues that point elsewhere (each is also a "warning" progress event); empty when all agree. */
  conflicts: string[];
}

export interface CreateEngineOptions {
  /** A URL, a local File/Blob, or the file's bytes. */
  model: string | URL | Blob | ArrayBuffer;
  /**
   * Where the forward pass runs. "auto" (default): WebGPU on a hardware adapter that holds the model,
   * else the CPU, with the reason in `info.backendNote` (a software adapter such as SwiftShader is
   * slower than the CPU kernels, so "auto" passes it by). "webgpu": any WebGPU adapter; without one
   * the load rejects with a WebGpuUnavailableError. "cpu": the wasm SIMD kernels. If the GPU is lost
   * mid-answer, the engine moves to the CPU and the answer goes on (`info.backend` becomes "cpu").
   */
  device?: "auto" | "cpu" | "webgpu";
  /**
   * Kernel threads (default "auto": every core, up to 8). More than one needs a cross-origin isolated page
   * (COOP/COEP headers) with SharedArrayBuffer; otherwise one thread runs and `info.threadsNote` says why.
   * A browser without relaxed SIMD (Safari) runs the threaded SIMD128 build.
   */
  threads?: "auto" | number;
  /**
   * The LM head. "shortlist": a 4-bit copy built at load picks the likely tokens and the stored head
   * scores them exactly (the other logits are 4-bit estimates); "int8": a copy with one scale per row;
   * "stored": exactly as in the file (F16). "auto" (default): "shortlist" when the head is the token
   * embedding (2B4T), "int8" when the file has a separate head.
   */
  lmHead?: "auto" | "shortlist" | "int8" | "stored";
  onProgress?: (p: Progress) => void;
  /**
   * Keep a URL's model for offline use after a complete, verified download (default true).
   *
   * Where the browser has OPFS sync access handles (Chromium, Firefox), an F16/F32 token embedding
   * is then not held in memory: its rows are read from the kept copy when needed (exact, the same
   * logits; 626 MiB less for 2B4T, whose tab then peaks at 0.82× the file), unless `lmHead` is
   * "stored" on a model whose head is the embedding. With `cache: false`, a File or bytes it is held.
   *
   * Before the first byte, the size the server announces is checked against the browser's storage
   * estimate: a model that cannot be kept is refused with a `QuotaError` that names both sizes, or,
   * with `cache: "if-room"`, loaded without being kept (a "warning" progress event says why).
   * Another tab already downloading the same URL keeps the one copy; this load then downloads it
   * without keeping it (a "warning" says so). When a model is kept, the page asks the browser once to
   * keep the store through storage pressure (`navigator.storage.persist()`; see `stats().persisted`).
   */
  cache?: boolean | "if-room";
  /** Expected SHA-256 (hex) of the file; a mismatch is a DownloadError and nothing is kept. */
  sha256?: string;
  /**
   * I2_S layout: 128 (x86 builds, the official files), 64 (bitnet.cpp ARM builds since 2025-11) or "1x4"
   * (its x86 builds configured without ACT_PARALLEL). Unset (default): what the file says, else 128 when the
   * weights read well so, else whichever reading is clearly better (`info.i2sLayout` says which and why).
   */
  i2sLayout?: 128 | 64 | "1x4";
  /**
   * The FFN activation, over what the file's clues decide (`header.model` says what they decided and
   * why). Only for a file whose clues are wrong: a choice that disagrees with them is a "warning".
   */
  activation?: "relu2" | "silu";
  /**
   * For a TL1/TL2 file (bitnet.cpp's lookup-table formats) whose matrix shapes bitnet.cpp's presets do
   * not cover (those of bitnet_b1_58-large, -3B and Llama3-8B-1.58 are built in): the text of the
   * `include/kernel_config.ini` of the bitnet.cpp build that converted it. The file does not record its
   * tiling, so without it such a file is an `UnsupportedModelError` that says so.
   */
  tlKernelConfig?: string;
  /** Context length in tokens (default: the model's, at most 4096). */
  contextLength?: number;
  /** KV cache precision (default "f32"). */
  kvCache?: "f32" | "f16";
  /**
   * The token embedding and a separate LM head: "stored" keeps them as in the file; "int8" makes
   * int8 rows of them while they stream in (the F16 tensor never sits in memory; approximate: on
   * the embedded model greedy decoding keeps 99.4 % of its tokens, perplexity moves 0.4 %).
   * "auto" (default): "stored", unless "int8" is what makes the model fit `memoryLimit` (7-10B models).
   */
  embeddings?: "auto" | "stored" | "int8";
  /**
   * Bytes the model may take: weights, heads, the KV cache at `contextLength`, the largest tensor
   * in transit, the tokenizer and scratch (`estimateMemory` itemizes them); a model that needs more is
   * refused at its header, before the download, with an OutOfMemoryError that says what would make it fit. Default: half of `navigator.deviceMemory`
   * where the browser gives it; else 1 GiB on a phone or tablet (an iPhone, iPad or Android user agent,
   * iPadOS's Mac user agent on a touch screen, `userAgentData.mobile`, or a small touch screen), since
   * iOS kills a tab's process near 1.5 GB; else 3.5 GiB. At most 3.5 GiB (wasm32 addresses 4 GiB).
   */
  memoryLimit?: number;
  /**
   * Milliseconds without a byte before a download counts as stalled (default 30000): the
   * connection is dropped and resumed with a Range request, and after five such failures the load
   * rejects with a DownloadError that says so.
   */
  stallTimeout?: number;
  /** Where worker.js is served, if not next to index.js. */
  workerUrl?: string | URL;
  /** Cancels the load and the download: createEngine rejects with an AbortError. */
  signal?: AbortSignal;
}

/** A text part of a message's content (OpenAI's shape). Other part types (images, audio, files) are refused. */
export interface TextContentPart {
  type: "text";
  text: string;
}

export type ChatMessage =
  | {
      role: "system" | "user";
      /** The text, or text parts, which are concatenated with nothing between them. */
      content: string | TextContentPart[];
    }
  | {
      role: "assistant";
      /** null when the assistant only called tools. */
      content: string | TextContentPart[] | null;
      /** The calls it made, as a ChatCompletion's `message.tool_calls` gives them. */
      tool_calls?: ToolCall[];
    }
  | {
      /** A tool's answer to a call made before it. */
      role: "tool";
      tool_call_id: string;
      content: string | TextContentPart[];
    };

/** A tool the model may call (OpenAI's shape; `function` is the only tool type). */
export interface Tool {
  type: "function";
  function: {
    /** 1-64 letters, digits, _ or -. */
    name: string;
    description?: string;
    /** A JSON schema of the arguments (an object); none means no arguments. */
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

/** A call the model made: `arguments` is JSON text that validates against the tool's `parameters`. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A streamed piece of a call: the first for each call has `id`, `type` and the name; the others pieces of `arguments`. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

/**
 * Fields that change nothing about the answer, accepted and dropped so that code written for
 * OpenAI runs unchanged (`store` only as false; `store: true` is refused).
 */
export interface IgnoredFields {
  user?: string;
  metadata?: Record<string, string>;
  store?: false | null;
  service_tier?: string;
  prompt_cache_key?: string;
  safety_identifier?: string;
}

/** The names of the fields that are accepted and ignored (see IgnoredFields). */
export const IGNORED_FIELDS: readonly string[];

/**
 * The request `chat.completions.create` takes. Any other field is refused with an
 * UnsupportedFieldError that names it.
 *
 * Sampling defaults: temperature 0.7, top_p 0.9, top_k 40, min_p 0.05, repetition_penalty 1.1 (over
 * the last 64 tokens, prompt included), frequency_penalty 0, presence_penalty 0, max_tokens 256, a
 * random seed. `temperature: 0` is the plain argmax: no penalty applies unless the request names one.
 */
export interface ChatCompletionRequest extends IgnoredFields {
  messages?: ChatMessage[];
  /** A raw prompt instead of messages (special-token text in it is parsed). */
  prompt?: string;
  stream?: boolean;
  /**
   * With `stream: true`: `include_usage` adds a last chunk with `choices: []` and the usage;
   * `include_obfuscation` is accepted and ignored (it pads chunks against network side channels).
   */
  stream_options?: { include_usage?: boolean; include_obfuscation?: boolean };
  /** Ignored: the engine runs the model it loaded. */
  model?: string;
  /** Only 1. */
  n?: 1;
  /**
   * "auto": when the chat does not fit, drop the oldest whole turns (the leading system messages
   * stay; the prompt then starts with a user message) until the prompt leaves room for the answer:
   * `max_tokens` (default 256), at most half the context. The answer's `dropped_messages` says how
   * many went (a stream's first chunk). "disabled" (the default): a chat that does not fit is a
   * ContextFullError.
   */
  truncation?: "auto" | "disabled";
  /** Most tokens to generate (default 256). */
  max_tokens?: number;
  /** The same as max_tokens (OpenAI's newer name). */
  max_completion_tokens?: number;
  /** 0 to 2 (default 0.7); 0 is greedy. */
  temperature?: number;
  /** 0 to 1 (default 0.9; 1 is off). */
  top_p?: number;
  /** Keep the k most likely tokens (default 40; 0 is off). */
  top_k?: number;
  /** 0 to 1 (default 0.05; 0 is off). */
  min_p?: number;
  /** llama.cpp's: divides the logits of the last 64 tokens (default 1.1, or 1 at temperature 0). */
  repetition_penalty?: number;
  /** OpenAI's, -2 to 2: subtracted once per time a token was generated (default 0). */
  frequency_penalty?: number;
  /** OpenAI's, -2 to 2: subtracted once a token was generated at all (default 0). */
  presence_penalty?: number;
  /** Token id → bias from -100 to 100, added to the logit (-100 bans the token). */
  logit_bias?: Record<string | number, number>;
  /** Makes sampling repeatable (an integer). */
  seed?: number;
  /** Generation stops before any of these strings, which are not returned (at most 4, of at most 1024 bytes). */
  stop?: string | string[];
  /** Return each token's log-probability (of the model's distribution, before bias and penalties). */
  logprobs?: boolean;
  /** With logprobs: the 0-20 most likely alternatives per token. */
  top_logprobs?: number;
  /**
   * Structured output, enforced while decoding: `{ type: "json_object" }` (any JSON object) or
   * `{ type: "json_schema", json_schema: { name, schema } }` (JSON matching the schema). The answer
   * always parses unless max_tokens cuts it short (finish_reason "length").
   */
  response_format?:
    | { type: "text" }
    | { type: "json_object" }
    | { type: "json_schema"; json_schema: { name?: string; description?: string; strict?: boolean; schema: Record<string, unknown> } };
  /** Keep generating past end-of-turn tokens, up to max_tokens (benchmarks). */
  ignore_eos?: boolean;
  /**
   * Tools the model may call (at most 128). The chat template renders them where it takes tools
   * (Llama 3.1+, Falcon3), else bitnet-web's own tool prompt does (the README says which).
   */
  tools?: Tool[];
  /**
   * "auto" (default): the model's first token decides, and a call it opens is constrained to valid
   * arguments; "none": no call; "required": at least one call; a named function: that call. A call
   * always parses and validates against its tool's `parameters` unless max_tokens cuts it short.
   */
  tool_choice?: "auto" | "none" | "required" | { type: "function"; function: { name: string } };
  /** Whether an answer may hold several calls (default true; at most 8), where the format can write several. */
  parallel_tool_calls?: boolean;
  /** Aborts the request: a stream throws an AbortError; a whole answer returns the text so far with finish_reason "abort". */
  signal?: AbortSignal;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens per second (the tokens run; a prefix reused from the last turn is not run again). */
  prefill_tok_s: number | null;
  /** Generated tokens per second, after the first. */
  decode_tok_s: number | null;
}

/** "length": max_tokens reached or the context is full; "tool_calls": the answer is a complete call; "abort": stopped by a signal (whole answers only). */
export type FinishReason = "stop" | "length" | "tool_calls" | "abort";

export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs?: { token: string; logprob: number; bytes: number[] }[];
}

export interface Logprobs {
  content: TokenLogprob[];
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: "assistant"; content?: string; tool_calls?: ToolCallDelta[] };
    logprobs: Logprobs | null;
    finish_reason: FinishReason | null;
  }[];
  /** Only on the last chunk, when `stream_options.include_usage` is set. */
  usage?: Usage;
  /** With `truncation: "auto"`, on the first chunk: how many old messages were left out. */
  dropped_messages?: number;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    /** A call has `tool_calls` and `content: null`. */
    message: { role: "assistant"; content: string | null; tool_calls?: ToolCall[] };
    logprobs: Logprobs | null;
    finish_reason: FinishReason;
  }[];
  usage: Usage;
  /** With `truncation: "auto"`: how many old messages were left out to fit. */
  dropped_messages?: number;
}

/**
 * OpenAI's (legacy) text completion request: the raw prompt, no chat template. The sampling fields
 * and their defaults are the chat request's, except `max_tokens`, which defaults to OpenAI's 16.
 */
export interface CompletionRequest
  extends IgnoredFields,
    Pick<
      ChatCompletionRequest,
      | "stream" | "stream_options" | "model" | "n" | "temperature" | "top_p" | "top_k" | "min_p" | "repetition_penalty"
      | "frequency_penalty" | "presence_penalty" | "logit_bias" | "seed" | "stop" | "ignore_eos" | "signal"
    > {
  /** One prompt (a one-string array is accepted). Special-token text in it is parsed. */
  prompt: string | [string];
  best_of?: 1;
  /** Put the prompt before the answer's text (not with `logprobs`). */
  echo?: boolean;
  /** Only empty: the models here do not fill in the middle. */
  suffix?: "" | null;
  /** Most tokens to generate (default 16, as OpenAI's). */
  max_tokens?: number;
  /** 0-5: each token's log-probability and this many alternatives (OpenAI's legacy arrays). */
  logprobs?: number;
}

/** The legacy log-probabilities: parallel arrays, one entry per token. */
export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  /** Each token's alternatives: token text → log-probability. */
  top_logprobs: Record<string, number>[];
  /** Where each token starts in the choice's text. */
  text_offset: number[];
}

export interface TextCompletionChoice {
  text: string;
  index: number;
  logprobs: LegacyLogprobs | null;
  finish_reason: FinishReason | null;
}

export interface TextCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: (TextCompletionChoice & { finish_reason: FinishReason })[];
  usage: Usage;
}

export interface TextCompletionChunk {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  /** Empty on the usage chunk. */
  choices: TextCompletionChoice[];
  usage?: Usage;
}

export interface EngineStats {
  prefill_tok_s: number | null;
  decode_tok_s: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  reused_tokens: number;
  /** Milliseconds spent on structured-output masks in the last answer (0 for free text). */
  constraint_ms: number;
  /** The WebAssembly memory in use. */
  memory_bytes: number | null;
  /** Weights plus KV cache. */
  model_bytes: number | null;
  /** Where the last answer ran: "webgpu" or "cpu". */
  backend: "webgpu" | "cpu";
  /** The WebGPU adapter, on the WebGPU backend. */
  adapter: string | null;
  kernel: string;
  threads: number;
  /** The LM head that ran: "int8", "f16" or "f32". */
  lm_head: string | null;
  /**
   * Whether the browser keeps the offline store through storage pressure (asked once when a model
   * is kept): true, false (it may evict it), or null (not asked, or no answer yet).
   */
  persisted: boolean | null;
}

export interface EngineInfo {
  /** Where the forward pass runs (see `device`). */
  backend: "webgpu" | "cpu";
  /** The WebGPU adapter ("WebGpu swiftshader (Cpu)" and the like), on the WebGPU backend. */
  adapter: string | null;
  /** Why the engine runs on the CPU although "auto" or "webgpu" was asked for, or moved there. */
  backendNote: string | null;
  /** "relaxed-simd" or "relaxed-simd-i32" (the relaxed dot's two forms; the i32 one where it is one instruction, as on CPUs with AVX-VNNI), or "simd128". */
  kernel: string;
  threads: number;
  /** Why fewer threads run than were asked for, or null. */
  threadsNote: string | null;
  crossOriginIsolated: boolean;
  wasmMemoryBytes: number;
  /**
   * How an I2_S file's projections are read: 128 (x86 builds of bitnet.cpp, the official files), 64 (its
   * ARM builds since 2025-11) or "1x4" (its x86 builds without ACT_PARALLEL), and why: the `i2sLayout` option, the file's `quantize.i2_s.block_size`, or,
   * where neither says, a test sentence scored each way at load. `probed` is true when that sentence
   * decided it; a model kept offline (`cache`) remembers such a decision, and its next loads read it so
   * without trying the sentence again (the reason then says so). `warning` is set (and posted as a
   * warning) when the weights read badly every way. Null for a file without I2_S.
   */
  i2sLayout: { layout: 128 | 64 | "1x4"; reason: string; warning?: string; probed: boolean } | null;
}

/** `engine.embeddings.create`'s request, as OpenAI's. */
export interface EmbeddingRequest {
  /** A text, or up to 2048 texts; each is embedded as its own sequence. */
  input: string | string[];
  /** "float" (default): arrays of numbers; "base64": OpenAI's base64 of little-endian float32s. */
  encoding_format?: "float" | "base64";
  /** Keep the first N values, normalised again (for models trained for it, Matryoshka-style). */
  dimensions?: number;
  /**
   * "disabled" (default): an input longer than the context is a `ContextFullError`; "auto": it is
   * cut to its first tokens (still ending with the model's EOS, which it pools).
   */
  truncation?: "auto" | "disabled";
  /** Ignored: the engine is the model. */
  model?: string;
  /** Ignored. */
  user?: string;
  /** Aborts the request between inputs; it rejects with an AbortError. */
  signal?: AbortSignal;
}

/** `engine.embeddings.create`'s answer, as OpenAI's: L2-normalised vectors. */
export interface EmbeddingResponse<E = number[]> {
  object: "list";
  data: { object: "embedding"; index: number; embedding: E }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** A loaded model in its own Web Worker; made by `createEngine`. */
export class Engine {
  private constructor();
  readonly header: ModelHeader;
  readonly info: EngineInfo;
  /** The context window in tokens (prompt plus answer). */
  readonly contextLength: number;
  /** The model's file name. */
  readonly model: string;
  /**
   * How many times the engine restarted after a crash. A crash rejects what was pending with an
   * `EngineCrashedError`; the engine then loads the model again in a new worker (from the offline
   * cache, or the File again), and later calls wait for that. A model given as an ArrayBuffer
   * cannot be loaded again: later calls reject with the `EngineCrashedError`.
   */
  readonly restarts: number;
  /** Whether the model is kept offline: downloaded and kept now, or loaded from the kept copy. */
  readonly kept: boolean;
  readonly chat: {
    completions: {
      create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterableIterator<ChatCompletionChunk>>;
      create(req: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  /** OpenAI's text completions: the raw prompt, no chat template. */
  readonly completions: {
    create(req: CompletionRequest & { stream: true }): Promise<AsyncIterableIterator<TextCompletionChunk>>;
    create(req: CompletionRequest & { stream?: false }): Promise<TextCompletion>;
  };
  /**
   * OpenAI's embeddings, for an embedding model (BitNet-embedding); a chat model answers with a
   * `ModelKindError`, as an embedding model answers chat with one.
   */
  readonly embeddings: {
    create(req: EmbeddingRequest & { encoding_format: "base64" }): Promise<EmbeddingResponse<string>>;
    create(req: EmbeddingRequest & { encoding_format?: "float" }): Promise<EmbeddingResponse<number[]>>;
  };
  /** Token ids of `text` (no BOS); with `special: true`, special-token text becomes those tokens. */
  tokenize(text: string, options?: { special?: boolean }): Promise<number[]>;
  /** The text of token ids (special tokens as their text). */
  detokenize(ids: ArrayLike<number>): Promise<string>;
  /** Tokens the messages take as a prompt: chat template, BOS and the assistant's header included. */
  countTokens(messages: ChatMessage[], options?: { tools?: Tool[] }): Promise<number>;
  stats(): EngineStats;
  refreshStats(): Promise<EngineStats>;
  /**
   * Benchmarks this device on the model loaded: at each thread count from 1 to the engine's,
   * prefill, greedy decode, the weights' read rate and the decode bound it sets. Forgets the
   * conversation kept in the KV cache; `signal` stops between runs (AbortError).
   */
  benchmark(options?: {
    /** Prompt tokens prefilled from an empty cache (1-4096; default 64). */
    promptTokens?: number;
    /** Greedy decode steps after it (1-4096; default 16; none for an embedding model). */
    genTokens?: number;
    onProgress?: (p: { threads: number; of: number; run: BenchmarkRun }) => void;
    signal?: AbortSignal;
  }): Promise<BenchmarkReport>;
  resetConversation(): Promise<void>;
  /** Stops the worker: pending requests reject with AbortError, later calls with EngineUnloadedError. */
  unload(): Promise<void>;
}

/** One thread count's figures of `Engine.benchmark` (per second; absent where they do not apply). */
export interface BenchmarkRun {
  threads: number;
  prompt_tokens: number;
  prefill_tok_s: number;
  gen_tokens: number;
  /** Absent for an embedding model. */
  decode_tok_s?: number;
  /** GB/s at which the model's ternary weights streamed (absent when the weights are on a GPU). */
  read_gb_s?: number;
  /** Bytes a decoded token reads: the ternary weights, the LM head as kept, the norms. */
  decode_bytes?: number;
  /** read_gb_s ÷ decode_bytes: the decode speed memory allows. */
  bound_tok_s?: number;
  backend: "cpu" | "webgpu";
}

/** `Engine.benchmark`'s answer: plain data, ready for `JSON.stringify`. */
export interface BenchmarkReport {
  date: string;
  model: string;
  header: unknown;
  device: { userAgent: string | null; hardwareConcurrency: number | null; deviceMemoryGB: number | null; crossOriginIsolated: boolean };
  engine: { backend: string; adapter: string | null; kernel: string; threads: number; threadsNote: string | null };
  promptTokens: number;
  genTokens: number;
  runs: BenchmarkRun[];
}

/** What loading a model would take, in bytes: `estimateMemory`'s answer. */
export interface MemoryEstimate {
  /** weights + largestTensor + kvCache + runtime: what `memoryLimit` is compared with. */
  total: number;
  /** The weights in the form the engine keeps them, with the LM head copies the options add. */
  weights: number;
  /** The largest tensor gathered whole while it streams in (the one buffer beside the weights). */
  largestTensor: number;
  /** The KV cache with `contextLength` tokens in it, at the `kvCache` precision. */
  kvCache: number;
  /** The tokenizer, the header held while loading, scratch and a stack per kernel thread (measured: about 5× the header's bytes plus 4 MiB and 2 MiB per thread). */
  runtime: number;
  /** Whether the embedding (and a separate head) would become int8 rows (`embeddings`). */
  int8Embeddings: boolean;
  /** Whether the token embedding would be left in the copy kept offline (see `cache`). */
  embeddingInFile: boolean;
  /** The context the estimate is for (the option, or the model's at most 4096). */
  contextLength: number;
  /** The budget compared with (`memoryLimit` or the default). */
  limit: number;
  /** Whether a load with these options would pass the header's memory check. */
  fits: boolean;
  /** When it would not: the OutOfMemoryError's message, with what would make it fit. */
  refusal: string | null;
  /** What would run, decided from the file's clues (see `activation`). */
  model: ModelIdentity;
}

/**
 * What loading `model` with these options would take, from its header alone: a URL's download
 * stops once the header is in (a few MB; a model kept offline is read from storage instead). A file
 * that could not load at all rejects with the error the load would give (e.g. UnsupportedModelError).
 * In headless Chromium the engine's WebAssembly memory after a full context came within 5 % of `total`
 * on every synthetic shape tested (tests/e2e/family.test.mjs).
 */
export function estimateMemory(
  model: string | URL | Blob | ArrayBuffer,
  options?: Pick<CreateEngineOptions, "contextLength" | "kvCache" | "lmHead" | "embeddings" | "memoryLimit" | "i2sLayout" | "activation" | "tlKernelConfig" | "threads" | "cache" | "workerUrl" | "signal">,
): Promise<MemoryEstimate>;

export function createEngine(options: CreateEngineOptions): Promise<Engine>;

/**
 * A `fetch` that answers OpenAI's API from the engine, for SDKs that take a custom fetch (the
 * `openai` package, the AI SDK's `@ai-sdk/openai-compatible`): POST …/chat/completions, POST
 * …/completions, GET …/models and …/models/{id}, on any origin and prefix. Answers are OpenAI's
 * JSON, or server-sent events ending with `data: [DONE]`; errors are OpenAI's error JSON (400 for a
 * bad or unsupported field, `context_length_exceeded` for a prompt too long, 404 for another path,
 * 503 `model_loading` while a promised engine loads, 503 after it was unloaded). The request's
 * signal aborts the generation, and the fetch rejects as fetch does.
 */
export function createFetch(
  engine: Engine | Promise<Engine>,
  options?: { created?: number },
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
/** A model kept for offline use. */
export interface CachedModel {
  /** The absolute URL it was downloaded from (its key). */
  url: string;
  size: number;
  /** The SHA-256 it was checked against, or that was computed while it downloaded; null if none. */
  sha256: string | null;
  /** When it was kept (ISO 8601). */
  savedAt: string;
  /**
   * How its I2_S weights are packed, where a test sentence decided it when this copy was first loaded
   * (`EngineInfo.i2sLayout`): its next loads read it so without trying the sentence again.
   */
  i2sLayout?: 128 | 64 | "1x4";
}

/**
 * The models kept offline. The store is shared by every tab of the origin and guarded by Web Locks:
 * a model is listed only once complete and verified, and no tab's change loses another's.
 */
export function listCachedModels(): Promise<CachedModel[]>;
/** Whether `url`'s model is kept offline, complete: loading it then needs no network. */
export function hasModel(url: string | URL): Promise<boolean>;
/**
 * Keeps a model offline without loading it: no worker, no WebAssembly memory; a later
 * `createEngine({ model: url })` loads it from the copy. Resumes a dropped connection as a load does
 * (HTTP Range), refuses a model the storage cannot hold before its first byte (`QuotaError`), checks
 * `sha256` when given (a mismatch is a DownloadError, nothing kept), and asks the browser once to
 * keep the store (`persisted`: the answer where given at once, else the state now). Already kept:
 * resolves at once with no request. Another tab downloading the same URL: waits, and takes its copy.
 */
export function downloadModel(
  url: string | URL,
  options?: { signal?: AbortSignal; onProgress?: (p: Progress) => void; sha256?: string; stallTimeout?: number },
): Promise<CachedModel & { persisted: boolean | null }>;
/**
 * Removes a model kept offline. A copy another tab (or an engine here) is reading or downloading is
 * unlisted at once and removed once that tab lets go of it.
 */
export function deleteCachedModel(url: string | URL): Promise<void>;
/** Removes every model kept offline: how many files went, and how many wait for a tab to let go. */
export function clearCachedModels(): Promise<{ removed: number; inUse: number }>;
/** Where and how models are kept in this browser. */
export interface StorageInfo {
  /** "opfs" (the Origin Private File System), "cache" (Cache Storage, where OPFS is missing), or null: nothing can be kept. */
  where: "opfs" | "cache" | null;
  /** Bytes this origin uses, and may use (the browser's estimate); null where unknown. */
  usage: number | null;
  quota: number | null;
  /** Whether the browser keeps the store through storage pressure (true), may evict it (false), or null. */
  persisted: boolean | null;
  models: CachedModel[];
}
export function storageInfo(): Promise<StorageInfo>;

export class BitnetError extends Error {}
/** The browser's storage cannot hold the model being kept: `needed` and `available` bytes. */
export class QuotaError extends BitnetError {
  readonly needed: number | null;
  readonly available: number | null;
}
/** This browser cannot keep models offline here (no OPFS or Cache Storage, or no Web Locks). */
export class StorageError extends BitnetError {}
/** The file is not a valid GGUF model. */
export class GgufError extends BitnetError {}
/** A valid GGUF this runtime cannot run. */
export class UnsupportedModelError extends BitnetError {}
/**
 * The model does not fit: refused at its header (the message says what would make it fit), or an
 * allocation failed while it ran (the message gives the sizes; `crashed` is then true, and the engine
 * restarts with the model loaded again).
 */
export class OutOfMemoryError extends BitnetError {
  readonly crashed?: boolean;
}
/** The download failed. */
export class DownloadError extends BitnetError {}
/** The request or the load was aborted (signal, unload). */
export class AbortError extends BitnetError {}
/** The conversation no longer fits in the context window. */
export class ContextFullError extends BitnetError {}
/** A request field bitnet-web does not support. */
export class UnsupportedFieldError extends BitnetError {
  constructor(field: string, message?: string);
  readonly field: string;
}
/** The engine was unloaded. */
export class EngineUnloadedError extends BitnetError {}
/** The engine's worker died (a wasm trap, or the browser killed it); the engine restarts it by itself. */
export class EngineCrashedError extends BitnetError {}
/** `device: "webgpu"` was asked for, and this browser has no WebGPU adapter that can run the model. */
export class WebGpuUnavailableError extends BitnetError {}
/** The model loaded cannot do this: chat of an embedding model, or embeddings of a chat model. */
export class ModelKindError extends BitnetError {}
/** The copy kept offline, which the embedding's rows are read from (see `cache`), can no longer be read: load the model again. */
export class ModelFileError extends BitnetError {}
