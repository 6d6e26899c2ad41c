// bitnet-web: run BitNet b1.58 (ternary) GGUF models in the browser, behind an OpenAI-style API.
//
//   import { createEngine } from "bitnet-web";
//   const engine = await createEngine({ model: url, onProgress: (p) => console.log(p.loaded, p.total) });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true }))
//     out += chunk.choices[0].delta.content ?? "";
//
// The engine runs in a Web Worker that createEngine starts; this module only sends it messages.
import {
  AbortError,
  BitnetError,
  EngineCrashedError,
  EngineUnloadedError,
  UnsupportedFieldError,
  fromWire,
} from "./errors.js";
import { PROTOCOL_VERSION } from "./protocol.js";
import { memoryBudget } from "./budget.js";
import { blobWorker } from "./spawn.js";
import * as store from "./store.js";
import { engines } from "./tabs.js";
import { chatRequest, plainMessages, textRequest } from "./request.js";
import { answerReserve, dropToFit } from "./fit.js";
import { abortedText, joinText, textChunks } from "./completions.js";
import { embeddingRequest, embeddingResponse } from "./embeddings.js";

export * from "./errors.js";
export { downloadModel } from "./keep.js";
export { catalog } from "./catalog.js";
export { IGNORED_FIELDS } from "./request.js";
export { createFetch } from "./fetch.js";

/** Starts the engine's worker: the literal `new URL` bundlers follow, or a blob for a CDN. */
function startWorker(workerUrl) {
  if (workerUrl) {
    const url = new URL(String(workerUrl), globalThis.location?.href);
    try {
      return new Worker(url, { type: "module", name: "bitnet-web" });
    } catch (e) {
      if (e?.name !== "SecurityError") throw e;
      return blobWorker(url, "bitnet-web");
    }
  }
  try {
    return new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "bitnet-web" });
  } catch (e) {
    if (e?.name !== "SecurityError") throw e;
    return blobWorker("./worker.js", "bitnet-web");
  }
}

/** Request/response plumbing over the worker's protocol (protocol.js). */
class Connection {
  #nextId = 1;
  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.closed = null; // the error every later request gets
    this.ready = new Promise((resolve, reject) => {
      this.onReady = resolve;
      this.onStartFailure = reject;
    });
    /** Called once if the worker crashes (see `close`). */
    this.onCrash = null;
    worker.addEventListener("error", (e) => {
      e.preventDefault?.();
      const why = e.message || "error";
      this.close(new EngineCrashedError(this.onReady
        ? `The bitnet-web worker failed to start: ${why}`
        : `The bitnet-web worker stopped (${why}); the engine restarts it with the model loaded again, so retry the request.`));
    });
    worker.addEventListener("messageerror", () => this.close(new EngineCrashedError("The bitnet-web worker sent a message that could not be read; the engine restarts it, so retry the request.")));
    worker.addEventListener("message", (ev) => this.dispatch(ev.data));
  }

  dispatch(msg) {
    if (msg.type === "ready") {
      if (msg.version !== PROTOCOL_VERSION) {
        this.onStartFailure(new BitnetError(`The bitnet-web worker speaks protocol ${msg.version}, this page ${PROTOCOL_VERSION}: two versions of the package are mixed (a stale cache?). Reload the page.`));
      } else {
        this.onReady?.();
      }
      this.onReady = null;
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === "error") {
      this.pending.delete(msg.id);
      const e = fromWire(msg.error);
      p.reject(e);
      // The worker's engine trapped: nothing more can run there.
      if (e instanceof EngineCrashedError || e.crashed) this.close(e);
    } else if (msg.type === "result" || msg.type === "loaded" || msg.type === "done") {
      this.pending.delete(msg.id);
      p.onEvent?.(msg);
      p.resolve(msg);
    } else {
      p.onEvent?.(msg);
    }
  }

  /** Sends a request; `onEvent` sees progress/token messages; resolves with the final message. */
  request(type, body = {}, onEvent, transfer = []) {
    const id = this.#nextId++;
    const promise = new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      this.pending.set(id, { resolve, reject, onEvent });
      this.worker.postMessage({ type, id, ...body }, transfer);
    });
    return { id, promise };
  }

  /** The value of a request answered with `result`. */
  async call(type, body) {
    return (await this.request(type, body).promise).value;
  }

  abort(target) {
    if (!this.closed) this.worker.postMessage({ type: "abort", target });
  }

  /**
   * Ends the connection: every pending request rejects with `pendingError`, later ones with
   * `laterError`. A crash (EngineCrashedError) also calls `onCrash`, which restarts the engine.
   */
  close(pendingError, laterError = pendingError) {
    if (this.closed) return;
    this.closed = laterError;
    this.worker.terminate();
    if (pendingError instanceof EngineCrashedError || pendingError?.crashed) queueMicrotask(() => this.onCrash?.(pendingError));
    // Closed before it was ready (a load aborted early): the wait for it ends too.
    if (this.onReady) {
      this.onStartFailure(pendingError);
      this.onReady = null;
    }
    for (const p of this.pending.values()) p.reject(pendingError);
    this.pending.clear();
  }
}

/** The engines this page made (their workers' ids), left out of `otherTabsEngines`. */
const ownEngines = new Set();

const completionId = () => `chatcmpl-${Math.random().toString(36).slice(2)}`;

function usageOf(s = {}) {
  return {
    prompt_tokens: s.prompt_tokens ?? 0,
    completion_tokens: s.generated_tokens ?? 0,
    total_tokens: (s.prompt_tokens ?? 0) + (s.generated_tokens ?? 0),
    /** Prompt tokens per second (the prompt's new tokens; reused ones are not run again). */
    prefill_tok_s: s.prefill_tok_s ?? null,
    /** Generated tokens per second, after the first. */
    decode_tok_s: s.decode_tok_s ?? null,
  };
}

const finishReason = (r) => (r === "context_full" ? "length" : r);

/** A tool call's id, as OpenAI's look (`call_` and 24 letters and digits). */
const callId = () => `call_${Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[b % 62]).join("")}`;

/**
 * Turns worker token messages into an async iterator of OpenAI chat.completion.chunk objects.
 * Aborting (signal, `return()`, unload) ends it with an AbortError.
 */
function chunkStream(conn, request, { signal, includeUsage, model, dropped, onDone }) {
  const queue = [];
  let wake = null;
  let finished = false;
  let failure = null;
  const base = { id: completionId(), object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model };
  const push = (item) => {
    queue.push(item);
    wake?.();
  };
  let iterator = null;
  const ids = []; // each tool call's id, by index
  const { id, promise } = conn.request("chat", { request }, (msg) => {
    if (msg.type === "token") {
      const logprobs = msg.logprobs ? { content: [msg.logprobs] } : null;
      // A call streams as OpenAI streams it: its index, id, type and name first, then pieces of
      // its arguments' JSON.
      const calls = (msg.tool_calls ?? []).map((d) => {
        if (d.name == null) return { index: d.index, function: { arguments: d.arguments } };
        ids[d.index] = callId();
        return { index: d.index, id: ids[d.index], type: "function", function: { name: d.name, arguments: d.arguments } };
      });
      const delta = calls.length ? (msg.text ? { content: msg.text, tool_calls: calls } : { tool_calls: calls }) : { content: msg.text };
      push({ ...base, choices: [{ index: 0, delta, logprobs, finish_reason: null }] });
    } else if (msg.type === "done") {
      iterator.finish = msg;
      onDone(msg);
      if (msg.finish_reason === "abort") {
        failure = new AbortError("The request was aborted.");
        return;
      }
      // An answer that is a complete call ends with "tool_calls"; one cut short by max_tokens, "length".
      const reason = ids.length && msg.finish_reason === "stop" ? "tool_calls" : finishReason(msg.finish_reason);
      push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: reason }] });
      if (includeUsage) push({ ...base, choices: [], usage: usageOf(msg.stats) });
    }
  });
  promise.then(
    () => { finished = true; wake?.(); },
    (e) => { failure = e; finished = true; wake?.(); },
  );
  const onAbort = () => conn.abort(id);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const first = { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] };
  // With `truncation: "auto"`: how many old messages were left out to fit.
  if (dropped != null) first.dropped_messages = dropped;
  push(first);
  const cleanUp = () => signal?.removeEventListener("abort", onAbort);
  iterator = {
    /** The worker's `done` message, once it came: { finish_reason, text, stats }. */
    finish: null,
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      for (;;) {
        if (queue.length) return { value: queue.shift(), done: false };
        if (failure) {
          cleanUp();
          const e = failure;
          failure = null;
          finished = true;
          throw e;
        }
        if (finished) {
          cleanUp();
          return { value: undefined, done: true };
        }
        await new Promise((r) => (wake = r));
        wake = null;
      }
    },
    async return() {
      if (!finished) conn.abort(id);
      finished = true;
      cleanUp();
      return { value: undefined, done: true };
    },
  };
  return iterator;
}

/**
 * A loaded model in its own worker. Made by `createEngine`.
 *
 * A crash in the worker (a wasm trap, or the browser killing it) rejects what was pending with an
 * EngineCrashedError; the engine then starts a new worker and loads the model again (from the
 * offline cache when it was downloaded; a File is read again), and later calls wait for that and
 * work. Only a model given as an ArrayBuffer, which was handed over to the first worker, cannot be
 * loaded again: later calls then reject with the EngineCrashedError.
 */
export class Engine {
  #conn;
  #lastStats = null;
  #restart;
  #recovering = null;
  #dead = null;
  #unloaded = false;
  #persisted = null;

  /** @internal use createEngine() */
  constructor(conn, loaded, modelName, restart) {
    this.#conn = conn;
    this.#restart = restart;
    /** The model's header summary: architecture, sizes, training context. */
    this.header = loaded.header;
    /**
     * Where it runs: { backend ("webgpu" | "cpu"), adapter, backendNote (why not WebGPU, or why it
     * moved off it), kernel, threads, threadsNote, crossOriginIsolated, wasmMemoryBytes }.
     */
    this.info = loaded.info;
    /** The context window in tokens (prompt plus answer). */
    this.contextLength = loaded.contextLength;
    this.model = modelName;
    /** How many times the engine restarted after a crash. */
    this.restarts = 0;
    ownEngines.add(loaded.engineId);
    /** Whether the model is kept offline (downloaded and kept, or loaded from the kept copy). */
    this.kept = !!loaded.kept;
    // A model kept: ask once that the browser keep the store through storage pressure.
    if (this.kept) store.persist().then((p) => { this.#persisted = p; });
    this.chat = { completions: { create: (req) => this.#create(req) } };
    /** OpenAI's text completions: a raw prompt, no chat template (`prompt`, `echo`, legacy logprobs). */
    this.completions = { create: (req) => this.#complete(req) };
    /**
     * OpenAI's embeddings, for an embedding model (BitNet-embedding): `input` a string or an array
     * of strings, `encoding_format` "float" or "base64", `dimensions`, `truncation: "auto"`.
     */
    this.embeddings = { create: (req) => this.#embed(req) };
    this.#watch(conn);
  }

  #watch(conn) {
    conn.onCrash = (crash) => {
      if (this.#unloaded) return;
      if (!this.#restart) {
        this.#dead = crash;
        return;
      }
      this.#recovering = this.#restart().then(
        ({ conn: fresh, loaded }) => {
          this.#recovering = null;
          if (this.#unloaded) return fresh.close(new EngineUnloadedError("This engine was unloaded."));
          this.#conn = fresh;
          this.info = loaded.info;
          ownEngines.add(loaded.engineId);
          this.restarts += 1;
          this.#watch(fresh);
        },
        (e) => {
          this.#recovering = null;
          this.#dead = new EngineCrashedError(`The engine crashed, and loading the model again failed: ${e?.message ?? e}. Create a new engine.`);
        },
      );
    };
  }

  /**
   * The connection to use now, or (after a crash) a promise of the replacement once it has loaded.
   * Synchronous when nothing is recovering, so that a request made before `unload()` is sent
   * before it.
   */
  #live() {
    const now = () => {
      if (this.#dead) throw this.#dead;
      return this.#conn;
    };
    return this.#recovering ? this.#recovering.then(now) : now();
  }

  /**
   * Runs a checked request (`chatRequest`/`textRequest`) and returns its chat chunk stream. With
   * `truncation: "auto"`, old turns are dropped first so that the prompt and the answer fit, and
   * the first chunk says how many (`dropped_messages`).
   */
  async #stream(request, req) {
    let dropped = null;
    if (req.truncation === "auto") {
      const reserve = answerReserve(this.contextLength, request.max_tokens ?? 256);
      const conn = await this.#live();
      const count = (messages) => conn.call("countTokens", { request: { messages, tools: request.tools, tool_choice: request.tool_choice } });
      dropped = await dropToFit(request.messages, this.contextLength, reserve, count);
      const head = request.messages.findIndex((m) => m.role !== "system");
      request = { ...request, messages: [...request.messages.slice(0, head), ...request.messages.slice(head + dropped)] };
    }
    const live = this.#live();
    const stream = chunkStream(live instanceof Promise ? await live : live, request, {
      signal: req.signal,
      model: this.model,
      dropped,
      includeUsage: !!req.stream_options?.include_usage,
      onDone: (msg) => {
        this.#lastStats = msg.stats;
        // A lost GPU moves the engine to the CPU mid-answer: `info` follows.
        const s = msg.stats;
        if (s?.backend && s.backend !== this.info.backend) {
          this.info = { ...this.info, backend: s.backend, adapter: s.adapter ?? null, backendNote: s.fallback ?? null };
        }
      },
    });
    return stream;
  }

  async #create(req) {
    const request = chatRequest(req);
    const it = await this.#stream(request, req);
    if (req.stream) return it;
    let content = "";
    const logprobs = [];
    const calls = [];
    let finish = null;
    let dropped = null;
    try {
      for await (const chunk of it) {
        dropped ??= chunk.dropped_messages;
        const choice = chunk.choices[0];
        content += choice?.delta.content ?? "";
        for (const d of choice?.delta.tool_calls ?? []) {
          if (d.id) calls[d.index] = { id: d.id, type: "function", function: { name: d.function.name, arguments: "" } };
          calls[d.index].function.arguments += d.function.arguments;
        }
        finish = choice?.finish_reason ?? finish;
        if (choice?.logprobs) logprobs.push(...choice.logprobs.content);
      }
    } catch (e) {
      // A non-streamed call that is aborted answers with what it had.
      if (!(e instanceof AbortError && it.finish?.finish_reason === "abort")) throw e;
      content = it.finish.text;
      finish = "abort";
    }
    return {
      id: completionId(),
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: this.model,
      choices: [{
        index: 0,
        message: calls.length ? { role: "assistant", content: content || null, tool_calls: calls } : { role: "assistant", content },
        logprobs: request.logprobs ? { content: logprobs } : null,
        finish_reason: finishReason(finish),
      }],
      usage: usageOf(it.finish?.stats),
      ...(dropped != null ? { dropped_messages: dropped } : {}),
    };
  }

  async #complete(req) {
    const request = textRequest(req);
    const it = await this.#stream(request, req);
    const opts = { prompt: request.prompt, echo: !!req.echo, wantLogprobs: req.logprobs != null, model: this.model };
    const text = textChunks(it, opts);
    if (req.stream) return text;
    const chunks = [];
    try {
      for await (const chunk of text) chunks.push(chunk);
    } catch (e) {
      if (!(e instanceof AbortError && it.finish?.finish_reason === "abort")) throw e;
      // A whole answer aborted answers with what it had, as chat completions do.
      return abortedText(this.model, (req.echo ? request.prompt : "") + it.finish.text, usageOf(it.finish.stats));
    }
    return joinText(chunks.filter((c) => c.choices.length), usageOf(it.finish?.stats));
  }

  async #embed(req) {
    const request = embeddingRequest(req);
    const signal = req.signal;
    if (signal?.aborted) throw new AbortError("The embeddings request was aborted.");
    const conn = await this.#live();
    const { input, truncate, dimensions } = request;
    const { id, promise } = conn.request("embed", { request: { input, truncate, dimensions } });
    const onAbort = () => conn.abort(id);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const { value } = await promise;
      return embeddingResponse(value, { encodingFormat: request.encodingFormat, model: this.model });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Token ids of `text` (no BOS). With `special: true`, special-token text becomes those tokens. */
  async tokenize(text, { special = false } = {}) {
    if (typeof text !== "string") throw new TypeError("tokenize needs a string");
    return (await this.#live()).call("tokenize", { text, special });
  }

  /** The text of token ids (special tokens as their text). */
  async detokenize(ids) {
    const list = Array.from(ids ?? [], Number);
    if (list.some((t) => !Number.isInteger(t) || t < 0)) throw new TypeError("detokenize needs non-negative integer token ids");
    return (await this.#live()).call("detokenize", { ids: list });
  }

  /** Tokens the messages (and tools) take as a prompt: chat template, BOS and the assistant's header included. */
  async countTokens(messages, { tools } = {}) {
    if (!Array.isArray(messages)) throw new TypeError("countTokens needs an array of messages");
    return (await this.#live()).call("countTokens", { request: { messages: plainMessages(messages), tools } });
  }

  /** The latest statistics: prefill and decode tok/s, memory, backend, threads. */
  stats() {
    const s = this.#lastStats || {};
    return {
      prefill_tok_s: s.prefill_tok_s ?? null,
      decode_tok_s: s.decode_tok_s ?? null,
      prompt_tokens: s.prompt_tokens ?? 0,
      completion_tokens: s.generated_tokens ?? 0,
      reused_tokens: s.reused_tokens ?? 0,
      constraint_ms: s.constraint_ms ?? 0,
      memory_bytes: s.wasmMemoryBytes ?? s.memory_bytes ?? null,
      model_bytes: s.memory_bytes ?? null,
      backend: s.backend ?? this.info.backend,
      adapter: s.backend ? s.adapter ?? null : this.info.adapter ?? null,
      kernel: this.info.kernel,
      threads: this.info.threads,
      lm_head: s.head ?? null,
      /** Whether the browser keeps the offline store through storage pressure (null: not asked, or no answer yet). */
      persisted: this.#persisted,
    };
  }

  /**
   * Benchmarks this device on the model loaded, so that a user knows what it does before a long
   * chat: at each thread count from 1 to the engine's, prefill of `promptTokens` tokens, `genTokens`
   * greedy decode steps, the rate at which the model's weights stream from memory (`read_gb_s`),
   * and the decode speed that rate allows (`bound_tok_s`: read rate ÷ `decode_bytes`, the bytes a
   * decoded token reads). The conversation kept in the KV cache is forgotten. `onProgress({ threads,
   * of, run })` follows each run; `signal` stops between runs (AbortError). Returns a plain object,
   * ready for `JSON.stringify`.
   */
  async benchmark({ promptTokens = 64, genTokens = 16, onProgress, signal } = {}) {
    for (const [name, v] of [["promptTokens", promptTokens], ["genTokens", genTokens]]) {
      if (!Number.isInteger(v) || v < 1 || v > 4096) throw new RangeError(`${name} must be an integer from 1 to 4096, not ${v}`);
    }
    const of = this.info.threads ?? 1;
    const runs = [];
    for (let threads = 1; threads <= of; threads++) {
      if (signal?.aborted) throw new AbortError("The benchmark was aborted.");
      const run = await (await this.#live()).call("benchmark", { threads, promptTokens, genTokens });
      runs.push(run);
      onProgress?.({ threads, of, run });
    }
    const nav = globalThis.navigator ?? {};
    return {
      date: new Date().toISOString(),
      model: this.model,
      header: this.header,
      device: {
        userAgent: nav.userAgent ?? null,
        hardwareConcurrency: nav.hardwareConcurrency ?? null,
        deviceMemoryGB: nav.deviceMemory ?? null,
        crossOriginIsolated: !!globalThis.crossOriginIsolated,
      },
      engine: { backend: this.info.backend, adapter: this.info.adapter ?? null, kernel: this.info.kernel, threads: of, threadsNote: this.info.threadsNote ?? null },
      promptTokens,
      genTokens,
      runs,
    };
  }

  /** Fresh statistics straight from the worker. */
  async refreshStats() {
    const value = await (await this.#live()).call("stats");
    if (value) this.#lastStats = value;
    return this.stats();
  }

  /** Forgets the conversation kept in the KV cache. */
  async resetConversation() {
    await (await this.#live()).call("reset");
  }

  /**
   * Stops the worker and frees the model's memory. Requests still running or queued reject with
   * an AbortError; later calls with an EngineUnloadedError.
   */
  async unload() {
    this.#unloaded = true;
    this.#conn.close(
      new AbortError("The engine was unloaded while this request was pending."),
      new EngineUnloadedError("This engine was unloaded; create a new one with createEngine()."),
    );
  }
}

/** What the worker is given for `model`: { source, name }. */
function sourceOf(model, sha256, caller) {
  if (typeof model === "string" || model instanceof URL) {
    // Relative URLs are relative to the page, not to the worker's script.
    return { source: { url: new URL(String(model), globalThis.location?.href).href, sha256 }, name: String(model).split("/").pop() };
  }
  if (typeof Blob !== "undefined" && model instanceof Blob) return { source: { file: model, sha256 }, name: model.name || "local.gguf" };
  if (model instanceof ArrayBuffer) return { source: { bytes: model, sha256 }, name: "model.gguf" };
  throw new TypeError(`${caller} needs \`model\`: a URL, a File/Blob or an ArrayBuffer`);
}

/**
 * The memory loading `model` with these options would take, from its header alone: a URL's
 * download stops once the header is in (a model kept offline is read from storage). See index.d.ts.
 */
export async function estimateMemory(model, { contextLength, kvCache, lmHead, embeddings, memoryLimit, i2sLayout, activation, tlKernelConfig, threads, cache, workerUrl, signal } = {}) {
  const { source } = sourceOf(model, undefined, "estimateMemory");
  if (memoryLimit !== undefined && !(Number.isFinite(memoryLimit) && memoryLimit > 0)) {
    throw new RangeError("memoryLimit must be a positive number of bytes");
  }
  if (signal?.aborted) throw new AbortError("The estimate was aborted.");
  const conn = new Connection(startWorker(workerUrl));
  const onAbort = () => conn.close(new AbortError("The estimate was aborted."));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await conn.ready;
    // Bytes are copied, not transferred: the caller keeps its buffer.
    // The default budget is decided here: only a window sees the screen and touch points (budget.js).
    return await conn.call("estimate", { source, options: { contextLength, kvCache, lmHead, embeddings, memoryLimit: memoryLimit ?? memoryBudget(), i2sLayout, activation, tlKernelConfig, threads, cache } });
  } finally {
    signal?.removeEventListener("abort", onAbort);
    conn.close(new EngineUnloadedError("The estimate is over."));
  }
}

/**
 * Starts a worker and loads a model into it. See index.d.ts for the options.
 */
export async function createEngine({ model, device = "auto", threads = "auto", onProgress, cache = true, sha256, i2sLayout, activation, tlKernelConfig, contextLength, kvCache, lmHead, embeddings, memoryLimit, stallTimeout, workerUrl, signal } = {}) {
  if (!["auto", "cpu", "webgpu"].includes(device)) {
    throw new RangeError(`device must be "auto", "webgpu" or "cpu", not ${JSON.stringify(device)}`);
  }
  const { source, name } = sourceOf(model, sha256, "createEngine");
  if (![true, false, "if-room"].includes(cache)) throw new RangeError(`cache must be true, false or "if-room", not ${JSON.stringify(cache)}`);
  if (signal?.aborted) throw new AbortError("The load was aborted.");
  if (stallTimeout !== undefined && !(Number.isFinite(stallTimeout) && stallTimeout > 0)) {
    throw new RangeError("stallTimeout must be a positive number of milliseconds");
  }
  if (memoryLimit !== undefined && !(Number.isFinite(memoryLimit) && memoryLimit > 0)) {
    throw new RangeError("memoryLimit must be a positive number of bytes");
  }
  // The default budget is decided here: only a window sees the screen and touch points (budget.js).
  const options = { cache, i2sLayout, activation, tlKernelConfig, contextLength, kvCache, lmHead, embeddings, memoryLimit: memoryLimit ?? memoryBudget(), threads, stallTimeout, device };
  const start = (abortSignal) => startEngine(source, options, workerUrl, onProgress, abortSignal);
  const { conn, loaded } = await start(signal);
  // Bytes were handed to the first worker: only a URL or a File can be loaded again after a crash.
  return new Engine(conn, loaded, name, source.bytes ? null : () => start(undefined));
}

/** A new worker with the model loaded: { conn, loaded }. */
async function startEngine(source, options, workerUrl, onProgress, signal) {
  const conn = new Connection(startWorker(workerUrl));
  // Aborting stops the worker, and with it the download; a partly written cache entry is removed
  // by the next worker's start (store.removeOrphans).
  const onAbort = () => conn.close(new AbortError("The load was aborted."));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await conn.ready;
    const onEvent = (msg) => {
      if (msg.type === "progress") onProgress?.(msg);
      else if (msg.type === "header") onProgress?.({ phase: "header", header: msg.header });
      else if (msg.type === "warning") onProgress?.({ phase: "warning", message: msg.message });
    };
    // Bytes move to the worker (transferred, not copied); a File is passed by reference.
    const transfer = source.bytes ? [source.bytes] : [];
    const loaded = await conn.request("load", { source, options }, onEvent, transfer).promise;
    // The weights are in place and the worker answers: the last phase before the engine is handed over.
    onProgress?.({ phase: "ready" });
    return { conn, loaded };
  } catch (e) {
    conn.close(e);
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

const absolute = (url) => new URL(String(url), globalThis.location?.href).href;

/** Models kept for offline use: [{ url, size, sha256, savedAt, i2sLayout? }] (`CachedModel` in index.d.ts). */
export const listCachedModels = store.listModels;
/** Whether `url`'s model is kept offline, complete (a load then needs no network). */
export const hasModel = async (url) => !!(await store.keptEntry(absolute(url)));
/**
 * Removes a model kept for offline use. A copy another tab is reading or writing is unlisted at
 * once and removed when that tab lets go of it.
 */
export const deleteCachedModel = (url) => store.deleteModel(absolute(url));
/** Removes every model kept for offline use: { removed, inUse } files (see deleteCachedModel). */
export const clearCachedModels = () => store.clearModels();
/**
 * Where and how models are kept here: { where: "opfs" | "cache" | null, usage, quota (bytes, the
 * browser's estimate for this site), persisted (true, false, or null where unknown), models }.
 */
export const storageInfo = () => store.info();
/**
 * The models other tabs (and other pages) of this origin hold in memory: [{ model, bytes }], where
 * `model` is the URL (or file name) and `bytes` the WebAssembly memory of that tab's engine. Each tab
 * runs its own engine, so loading a model another tab holds takes as much memory again.
 */
export async function otherTabsEngines() {
  return (await engines(ownEngines)).map(({ model, bytes }) => ({ model, bytes }));
}
