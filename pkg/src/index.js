// bitnet-web: run BitNet b1.58 (ternary) GGUF models in the browser, behind an OpenAI-style API.
//
//   import { createEngine } from "bitnet-web";
//   const engine = await createEngine({ model: url, onProgress: (p) => console.log(p.loaded, p.total) });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true }))
//     out += chunk.choices[0].delta.content ?? "";
//
// The engine runs in a Web Worker that createEngine starts; this module only sends it messages.
import { AbortError, fromWire } from "./errors.js";
import * as store from "./store.js";

export * from "./errors.js";

let nextId = 1;

/** Request/response plumbing over the worker's protocol (protocol.js). */
class Connection {
  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.ready = new Promise((resolve, reject) => {
      worker.addEventListener("error", (e) => reject(new Error(`The bitnet-web worker failed to start: ${e.message || "error"}`)), { once: true });
      this.onReady = resolve;
    });
    worker.onmessage = (ev) => this.dispatch(ev.data);
  }

  dispatch(msg) {
    if (msg.type === "ready") return this.onReady();
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === "error") {
      this.pending.delete(msg.id);
      p.reject(fromWire(msg.error));
    } else if (msg.type === "result" || msg.type === "loaded" || msg.type === "done") {
      this.pending.delete(msg.id);
      p.resolve(msg);
      p.onEvent?.(msg);
    } else {
      p.onEvent?.(msg);
    }
  }

  /** Sends a request; `onEvent` sees progress/token messages; resolves with the final message. */
  request(type, body = {}, onEvent, transfer = []) {
    const id = nextId++;
    return {
      id,
      promise: new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject, onEvent });
        this.worker.postMessage({ type, id, ...body }, transfer);
      }),
    };
  }

  abort(target) {
    this.worker.postMessage({ type: "abort", target });
  }
}

/** Turns worker token messages into an async iterator of OpenAI chat.completion.chunk objects. */
function chunkStream(conn, request, signal, model) {
  const queue = [];
  let wake = null;
  let finished = false;
  let failure = null;
  const created = Math.floor(Date.now() / 1000);
  const base = { id: `chatcmpl-${Math.random().toString(36).slice(2)}`, object: "chat.completion.chunk", created, model };
  const push = (item) => {
    queue.push(item);
    wake?.();
  };
  const { id, promise } = conn.request("chat", { request }, (msg) => {
    if (msg.type === "token") {
      push({ ...base, choices: [{ index: 0, delta: { content: msg.text }, finish_reason: null }] });
    } else if (msg.type === "done") {
      if (msg.finish_reason === "abort") {
        failure = new AbortError("The request was aborted.");
      } else {
        const s = msg.stats || {};
        push({
          ...base,
          choices: [{ index: 0, delta: {}, finish_reason: msg.finish_reason === "context_full" ? "length" : msg.finish_reason }],
          usage: { prompt_tokens: s.prompt_tokens, completion_tokens: s.generated_tokens, total_tokens: (s.prompt_tokens || 0) + (s.generated_tokens || 0) },
        });
      }
      conn.lastStats = msg.stats;
    }
  });
  promise.then(
    () => { finished = true; wake?.(); },
    (e) => { failure = e; finished = true; wake?.(); },
  );
  const onAbort = () => conn.abort(id);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  push({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  return {
    requestId: id,
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      for (;;) {
        if (queue.length) return { value: queue.shift(), done: false };
        if (failure) {
          signal?.removeEventListener("abort", onAbort);
          const e = failure;
          failure = null;
          finished = true;
          throw e;
        }
        if (finished) {
          signal?.removeEventListener("abort", onAbort);
          return { value: undefined, done: true };
        }
        await new Promise((r) => (wake = r));
        wake = null;
      }
    },
    async return() {
      if (!finished) conn.abort(id);
      finished = true;
      return { value: undefined, done: true };
    },
  };
}

export class Engine {
  #conn;
  #worker;

  constructor(worker, conn, loaded, modelName) {
    this.#worker = worker;
    this.#conn = conn;
    /** The model's header summary: architecture, sizes, context length. */
    this.header = loaded.header;
    /** Where it runs: { backend, kernel, threads, threadsNote, crossOriginIsolated, wasmMemoryBytes }. */
    this.info = loaded.info;
    this.model = modelName;
    this.chat = { completions: { create: (req) => this.#create(req) } };
  }

  async #create({ messages, prompt, stream = false, signal, model: _model, ...params }) {
    const request = { ...params, ...(messages ? { messages } : { prompt }) };
    const it = chunkStream(this.#conn, request, signal, this.model);
    if (stream) return it;
    let content = "";
    let finish = null;
    let usage;
    for await (const chunk of it) {
      content += chunk.choices[0].delta.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    return {
      id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: this.model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finish }],
      usage,
    };
  }

  /** The latest statistics: prefill and decode tok/s, memory, backend, threads. */
  stats() {
    const s = this.#conn.lastStats || {};
    return {
      prefill_tok_s: s.prefill_tok_s ?? null,
      decode_tok_s: s.decode_tok_s ?? null,
      prompt_tokens: s.prompt_tokens ?? 0,
      completion_tokens: s.generated_tokens ?? 0,
      reused_tokens: s.reused_tokens ?? 0,
      memory_bytes: s.wasmMemoryBytes ?? s.memory_bytes ?? null,
      model_bytes: s.memory_bytes ?? null,
      backend: this.info.backend,
      kernel: this.info.kernel,
      threads: this.info.threads,
      lm_head: s.head ?? null,
    };
  }

  /** Fresh statistics straight from the worker. */
  async refreshStats() {
    const { value } = await this.#conn.request("stats").promise;
    if (value) this.#conn.lastStats = value;
    return this.stats();
  }

  /** Forgets the conversation kept in the KV cache. */
  async resetConversation() {
    await this.#conn.request("reset").promise;
  }

  /** Stops the worker and frees the model's memory. */
  async unload() {
    this.#worker.terminate();
  }
}

/**
 * Starts a worker and loads a model into it.
 * @param {object} o
 * @param {string|File|Blob|ArrayBuffer} o.model  URL, local file, or bytes
 * @param {"auto"|"cpu"|"webgpu"} [o.device]      only the CPU backend exists yet; other values fall back to it
 * @param {"auto"|number} [o.threads]  kernel threads (default: every core, up to 8); more than one needs a
 *     cross-origin isolated page (COOP/COEP headers), otherwise it runs on one thread and says why in `info.threadsNote`
 * @param {"auto"|"shortlist"|"int8"|"stored"} [o.lmHead]  the LM head (see index.d.ts): a 4-bit shortlist scored
 *     exactly, an int8 copy, or as stored (F16); "auto" (default) picks the shortlist for a tied head, else int8
 * @param {(p: {phase: string, loaded: number, total: number, rate: number|null, eta: number|null}) => void} [o.onProgress]
 * @param {boolean} [o.cache]     keep a URL's model for offline use (default true)
 * @param {string} [o.sha256]     expected SHA-256 of the file; checked before it is cached
 * @param {string|URL} [o.workerUrl] where worker.js is served from, if not next to this module
 */
export async function createEngine({ model, device = "auto", threads = "auto", onProgress, cache = true, sha256, i2sLayout, contextLength, kvCache, lmHead, workerUrl } = {}) {
  void device;
  const worker = new Worker(workerUrl ?? new URL("./worker.js", import.meta.url), { type: "module" });
  const conn = new Connection(worker);
  await conn.ready;
  let source;
  let name;
  if (typeof model === "string" || model instanceof URL) {
    // Relative URLs are relative to the page, not to the worker's script.
    source = { url: new URL(String(model), globalThis.location?.href).href, sha256 };
    name = String(model).split("/").pop();
  } else if (typeof File !== "undefined" && model instanceof Blob) {
    source = { file: model, sha256 };
    name = model.name || "local.gguf";
  } else if (model instanceof ArrayBuffer) {
    source = { bytes: model, sha256 };
    name = "model.gguf";
  } else {
    worker.terminate();
    throw new TypeError("createEngine needs `model`: a URL, a File/Blob or an ArrayBuffer");
  }
  try {
    const onEvent = (msg) => {
      if (msg.type === "progress") onProgress?.(msg);
      else if (msg.type === "header") onProgress?.({ phase: "header", header: msg.header });
      else if (msg.type === "warning") onProgress?.({ phase: "warning", message: msg.message });
    };
    // Bytes move to the worker (transferred, not copied); a File is passed by reference.
    const transfer = source.bytes ? [source.bytes] : [];
    const loaded = await conn.request("load", { source, options: { cache, i2sLayout, contextLength, kvCache, lmHead, threads } }, onEvent, transfer).promise;
    return new Engine(worker, conn, loaded, name);
  } catch (e) {
    worker.terminate();
    throw e;
  }
}

/** Models kept for offline use: [{ url, size, sha256, savedAt }]. */
export const listCachedModels = store.listModels;
/** Removes a model kept for offline use. */
export const deleteCachedModel = (url) => store.deleteModel(new URL(url, globalThis.location?.href).href);
