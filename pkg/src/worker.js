// The Web Worker that hosts the engine: the page never runs model code. It speaks the protocol in
// protocol.js, runs requests one at a time in arrival order, and yields to its event loop between
// tokens so that an "abort" message is seen at once.
import { download } from "./download.js";
import { AbortError, DownloadError, toWire } from "./errors.js";
import * as store from "./store.js";

// A tiny module using a relaxed-SIMD instruction: valid only where relaxed SIMD is supported.
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253,
  128, 2, 11,
]);
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
/** wasm32 addresses 4 GiB; keep room for the KV cache, scratch buffers and the allocator. */
const MEMORY_LIMIT = 4 * 2 ** 30 - 512 * 2 ** 20;

let wasm = null; // { mod, memory, build, threads }
let engine = null;
const aborted = new Set();
let queue = Promise.resolve();

/** Threads to use for `threads: "auto" | n`: every core, up to 8 (memory bandwidth saturates). */
function threadCount(threads) {
  if (threads === "auto" || threads == null) return Math.min(self.navigator?.hardwareConcurrency || 1, 8);
  return Math.max(1, Math.floor(Number(threads)) || 1);
}

/**
 * Picks and starts the best build this browser can run: the threaded relaxed-SIMD build when more
 * than one thread is wanted and the page is cross-origin isolated (SharedArrayBuffer exists), else
 * the single-thread relaxed-SIMD build, else SIMD128. A threaded build that fails to start (no
 * worker, out of memory) falls back to the single-thread one, with the reason kept for stats.
 */
async function initWasm(threads) {
  if (wasm) return wasm;
  const relaxed = WebAssembly.validate(RELAXED_PROBE);
  const build = relaxed ? "relaxed" : WebAssembly.validate(SIMD_PROBE) ? "simd" : null;
  if (!build) throw new Error("This browser lacks WebAssembly SIMD, which bitnet-web needs (Chrome 91+, Firefox 89+, Safari 16.4+).");
  const n = threadCount(threads);
  let fallback = null;
  if (n > 1 && relaxed && self.crossOriginIsolated === true) {
    try {
      const mod = await import("./wasm-threads/bitnet_web.js");
      const exports = await mod.default();
      // A pool whose workers cannot start (a missing script offline) would never resolve.
      await Promise.race([
        mod.initThreadPool(n),
        new Promise((_, reject) => setTimeout(() => reject(new Error("the thread pool did not start within 20 s")), 20000)),
      ]);
      wasm = { mod, memory: exports.memory, build: "relaxed", threads: mod.kernelThreads() };
      return wasm;
    } catch (e) {
      fallback = `the threaded build failed to start (${e?.message || e}); running on one thread`;
    }
  } else if (n > 1) {
    fallback = self.crossOriginIsolated === true
      ? "this browser lacks relaxed SIMD, which the threaded build uses; running on one thread"
      : "the page is not cross-origin isolated (serve it with COOP/COEP headers), so it runs on one thread";
  }
  const mod = await import(build === "relaxed" ? "./wasm-relaxed/bitnet_web.js" : "./wasm-simd/bitnet_web.js");
  const exports = await mod.default();
  wasm = { mod, memory: exports.memory, build, threads: 1, fallback };
  return wasm;
}

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

/** Lets queued messages (abort) run: a MessageChannel hop is not throttled like setTimeout. */
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const yieldToEvents = () => new Promise((r) => { waiting.push(r); channel.port2.postMessage(0); });

function backendInfo() {
  return {
    backend: "cpu",
    kernel: wasm.build === "relaxed" ? "relaxed-simd" : "simd128",
    threads: wasm.threads,
    threadsNote: wasm.fallback ?? null,
    crossOriginIsolated: self.crossOriginIsolated === true,
    wasmMemoryBytes: wasm.memory.buffer.byteLength,
  };
}

async function load(id, source, options = {}) {
  const { mod } = await initWasm(options.threads);
  engine?.free();
  engine = null;
  const progress = (p) => post({ type: "progress", id, ...p });
  const url = source.url ? new URL(source.url, self.location.href).href : null;
  const useCache = !!url && options.cache !== false && store.isAvailable();
  let file = source.file || (useCache ? await store.openModel(url) : null);
  const phase = source.file ? "file" : "cache";
  const total = file ? file.size : source.bytes ? source.bytes.byteLength : undefined;
  const loader = new mod.ModelLoader({
    fileLength: total,
    i2sLayout: options.i2sLayout,
    memoryLimit: options.memoryLimit ?? MEMORY_LIMIT,
    contextLength: options.contextLength,
    kvCache: options.kvCache,
    lmHead: options.lmHead,
  });
  const hasher = source.sha256 ? new mod.Sha256() : null;
  let header = null;
  const feed = (chunk) => {
    loader.feed(chunk);
    hasher?.update(chunk);
    if (!header && (header = loader.header())) post({ type: "header", id, header });
  };
  try {
    if (file || source.bytes) {
      const stream = file ? file.stream() : new Blob([source.bytes]).stream();
      const reader = stream.getReader();
      let loaded = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        feed(value);
        loaded += value.byteLength;
        progress({ phase, loaded, total, rate: null, eta: null });
      }
    } else {
      let writer = null;
      if (useCache) {
        writer = await store.beginWrite(url).catch((e) => {
          post({ type: "warning", id, message: `The model will not be kept offline: ${e.message}` });
          return null;
        });
      }
      const controller = new AbortController();
      let size;
      try {
        ({ loaded: size } = await download(url, {
          signal: controller.signal,
          onProgress: progress,
          onChunk: async (chunk) => {
            feed(chunk); // throws at once on a bad header: the download stops there
            if (writer) {
              await writer.write(chunk).catch((e) => {
                writer = null;
                const quota = e?.name === "QuotaExceededError";
                post({
                  type: "warning",
                  id,
                  message: quota
                    ? "Not enough browser storage to keep this model offline (quota exceeded); it works now but will download again next time. Free space by deleting cached models."
                    : `The model will not be kept offline: ${e.message}`,
                });
              });
            }
          },
        }));
      } catch (e) {
        controller.abort();
        await writer?.abort();
        throw e;
      }
      // Verify before anything is kept.
      const built = loader.finish();
      const digest = hasher?.hex();
      if (source.sha256 && digest !== source.sha256.toLowerCase()) {
        built.free();
        await writer?.abort();
        throw new DownloadError(`The downloaded file's SHA-256 is ${digest}, not the expected ${source.sha256}: it is corrupt or a different version. It was not kept.`);
      }
      await writer?.commit({ size, sha256: digest });
      engine = built;
      return { header, info: backendInfo() };
    }
    engine = loader.finish();
    if (hasher && hasher.hex() !== source.sha256.toLowerCase()) {
      engine.free();
      engine = null;
      throw new DownloadError("The file's SHA-256 does not match the expected value: it is corrupt or a different version.");
    }
    return { header, info: backendInfo() };
  } catch (e) {
    try { loader.free(); } catch { /* already consumed */ }
    if (file && phase === "cache") await store.deleteModel(url).catch(() => {});
    throw e;
  }
}

async function chat(id, request) {
  if (!engine) throw new Error("No model is loaded.");
  if (aborted.delete(id)) throw new AbortError("The request was aborted.");
  engine.begin(request);
  let text = "";
  let finish = null;
  for (;;) {
    await yieldToEvents();
    if (aborted.delete(id)) {
      engine.abort();
      post({ type: "done", id, finish_reason: "abort", text, stats: statsNow() });
      return;
    }
    const step = engine.step();
    if (!step) break;
    text += step.text;
    if (step.text) post({ type: "token", id, text: step.text, token: step.token });
    finish = step.finish_reason ?? finish;
  }
  post({ type: "done", id, finish_reason: finish ?? "stop", text, stats: statsNow() });
}

function statsNow() {
  if (!engine) return null;
  return { ...engine.stats(), ...backendInfo() };
}

async function handle(msg) {
  const { type, id } = msg;
  switch (type) {
    case "load": {
      const r = await load(id, msg.source, msg.options);
      post({ type: "loaded", id, ...r });
      return;
    }
    case "chat":
      return chat(id, msg.request);
    case "reset":
      engine?.reset();
      return post({ type: "result", id, value: true });
    case "stats":
      return post({ type: "result", id, value: statsNow() });
    case "cache:list":
      return post({ type: "result", id, value: await store.listModels() });
    case "cache:delete":
      await store.deleteModel(new URL(msg.url, self.location.href).href);
      return post({ type: "result", id, value: true });
    default:
      throw new Error(`Unknown request type ${type}`);
  }
}

self.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === "abort") {
    aborted.add(msg.target);
    return;
  }
  queue = queue.then(() => handle(msg)).catch((e) => post({ type: "error", id: msg.id, error: toWire(e) }));
};

store.removeOrphans().catch(() => {});
post({ type: "ready" });
