// The Web Worker that hosts the engine: the page never runs model code. It speaks the protocol in
// protocol.js, runs requests one at a time in arrival order, and yields to its event loop between
// tokens so that an "abort" message is seen at once.
//
// The four wasm builds are imported statically: every bundler then emits their glue and, through
// the glue's `new URL("….wasm", import.meta.url)`, their wasm files, while only the build this
// browser runs is instantiated, so only its wasm file is downloaded.
import * as relaxedBuild from "./wasm-relaxed/bitnet_web.js";
import * as simdBuild from "./wasm-simd/bitnet_web.js";
import * as threadedBuild from "./wasm-threads/bitnet_web.js";
import * as threadedSimdBuild from "./wasm-threads-simd/bitnet_web.js";
import { WASM32_LIMIT, memoryBudget } from "./budget.js";
import { planHere } from "./builds.js";
import { reusingReader } from "./chunks.js";
import { describe, download } from "./download.js";
import { AbortError, DownloadError, EngineCrashedError, OutOfMemoryError, QuotaError, WebGpuUnavailableError, toWire } from "./errors.js";
import { simdLevel } from "./features.js";
import { IMMEDIATE, PROTOCOL_VERSION } from "./protocol.js";
import { blobWorker } from "./spawn.js";
import * as store from "./store.js";
import { announce } from "./tabs.js";

/**
 * The default memory budget (budget.js). The page sends its own (`memoryLimit` when the caller gives
 * none), since only a window sees the screen and the touch points that tell an iPad; this worker's
 * view is the fallback.
 */
const defaultMemoryLimit = () => memoryBudget(self);

let wasm = null; // { mod, memory, build, threads }
/** This engine among every tab's (tabs.js), and the lock that says what it holds. */
const ENGINE_ID = crypto.randomUUID?.() ?? String(Math.random()).slice(2);
let announced = null;
/** Copies that no index entry lists and no tab uses (a tab closed mid-download) go before a load. */
const swept = store.removeOrphans().catch(() => {});
let engine = null;
const aborted = new Set();
let queue = Promise.resolve();

/**
 * The threaded builds by SIMD level, each with its kernel threads' entry file. The literal
 * `new Worker(new URL(…))` in each is what bundlers look for; a script on another origin (a CDN)
 * starts from a blob instead.
 */
const THREADED = {
  relaxed: { mod: threadedBuild, spawn: () => new Worker(new URL("./threads.js", import.meta.url), { type: "module", name: "bitnet-web thread" }), file: "./threads.js" },
  simd: { mod: threadedSimdBuild, spawn: () => new Worker(new URL("./threads-simd.js", import.meta.url), { type: "module", name: "bitnet-web thread" }), file: "./threads-simd.js" },
};

/** One kernel thread's worker for a threaded build (a `THREADED` entry). */
function spawnThread(threaded) {
  try {
    return threaded.spawn();
  } catch (e) {
    if (e?.name !== "SecurityError") throw e;
    return blobWorker(threaded.file, "bitnet-web thread");
  }
}

/**
 * Starts `n` kernel threads on the threaded build: each worker instantiates it on the shared memory
 * and waits in `runThread`; then the pool is built. A worker that fails to load rejects at once
 * (its `error` event), so a failure never waits out a timer.
 */
async function startThreads(threaded, n) {
  const { mod } = threaded;
  const [module, memory] = mod.threadInit();
  const workers = [];
  try {
    await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const w = spawnThread(threaded);
      workers.push(w);
      w.addEventListener("error", (e) => {
        e.preventDefault?.();
        reject(new Error(`a thread's worker failed to start${e.message ? `: ${e.message}` : ""}`));
      });
      w.addEventListener("message", ({ data }) => data?.type === "bitnet-web:thread-ready" && resolve());
      w.postMessage({ type: "bitnet-web:thread", module, memory });
    })));
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  mod.buildThreadPool(n);
}

/**
 * Picks and starts the best build this browser can run (builds.js `planBuild`): a threaded build,
 * relaxed SIMD or SIMD128 by what the browser has, when more than one thread is wanted and the page
 * is cross-origin isolated with SharedArrayBuffer; else the single-thread build of the same SIMD
 * level. A threaded build that fails to start (no worker, out of memory) falls back to the
 * single-thread one at once, with the reason kept for stats.
 */
async function initWasm(threads) {
  if (wasm) return wasm;
  const build = simdLevel();
  if (!build) throw new Error("This browser lacks WebAssembly SIMD, which bitnet-web needs (Chrome 91+, Firefox 89+, Safari 16.4+).");
  const plan = planHere(build, threads, self);
  let fallback = plan.note;
  if (plan.threads > 1) {
    const threaded = THREADED[build];
    try {
      const exports = await threaded.mod.default();
      await startThreads(threaded, plan.threads);
      wasm = { mod: threaded.mod, memory: exports.memory, build, threads: threaded.mod.kernelThreads() };
      return wasm;
    } catch (e) {
      fallback = `the threaded build failed to start (${e?.message || e}); running on one thread`;
    }
  }
  const mod = build === "relaxed" ? relaxedBuild : simdBuild;
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
  const s = engine?.stats();
  return {
    backend: s?.backend ?? "cpu",
    adapter: s?.adapter ?? null,
    backendNote: s?.fallback ?? null,
    kernel: wasm.mod.kernelName(),
    threads: wasm.threads,
    threadsNote: wasm.fallback ?? null,
    crossOriginIsolated: self.crossOriginIsolated === true,
    wasmMemoryBytes: wasm.memory.buffer.byteLength,
    i2sLayout: engine?.i2sLayout() ?? null,
  };
}

/** What the engine was loaded from, to load it again for the CPU if its GPU is lost. */
let lastLoad = null;

/**
 * Loads `source` into a new engine, on `options.device` ("auto" | "webgpu" | "cpu"; see
 * `openLoader`). With `into` (an engine whose GPU was lost), loads the same file for the CPU into
 * it instead, quietly: its generation then goes on.
 */
async function load(id, source, options = {}, into = null) {
  try {
    return await loadOn(id, source, options, into);
  } catch (e) {
    // The GPU cannot run this model after all (its limits, decided at the header; out of device
    // memory, found at the end): "auto" loads it for the CPU and says why.
    if (e?.name !== "WebGpuUnavailableError" || into || (options.device ?? "auto") !== "auto") throw e;
    return loadOn(id, source, { ...options, device: "cpu" }, null, `WebGPU not used: ${e.message}`);
  }
}

/** A first download's copy for offline use failed while the embedding was being left to it. */
class KeepFailed extends Error {}

/** The warning when keeping a downloaded model fails (the model itself still loads). */
function keepFailure(e) {
  return e?.name === "QuotaExceededError"
    ? "Not enough browser storage to keep this model offline (quota exceeded); it works now but will download again next time. Free space by deleting cached models."
    : `The model will not be kept offline: ${e?.message ?? e}`;
}

/** The kept copy the engine reads its embedding's rows from: { handle, release } (store.openRows). */
let rowsReader = null;

async function loadOn(id, source, options, into, cpuNote = null) {
  const { mod } = await initWasm(options.threads);
  await swept;
  if (!into) {
    engine?.free();
    engine = null;
    rowsReader?.release();
    rowsReader = null;
  }
  const progress = into ? () => {} : (p) => post({ type: "progress", id, ...p });
  const url = source.url ? new URL(source.url, self.location.href).href : null;
  const useCache = !!url && options.cache !== false && store.isAvailable();
  const keptCopy = !source.file && useCache ? await store.openKept(url) : null;
  let file = source.file || keptCopy?.file || null;
  // What the layout probe found when this copy was first loaded (store.annotate), if anything.
  const found = keptCopy?.entry.i2sLayout;
  const phase = source.file ? "file" : "cache";
  const total = file ? file.size : source.bytes ? source.bytes.byteLength : undefined;
  const device = into ? "cpu" : options.device ?? "auto";
  const { loader, backendNote = cpuNote } = await openLoader(mod, device, {
    fileLength: total,
    i2sLayout: options.i2sLayout,
    i2sLayoutFound: found === 128 || found === 64 || found === "1x4" ? found : undefined,
    activation: options.activation,
    tlKernelConfig: options.tlKernelConfig,
    memoryLimit: Math.min(options.memoryLimit ?? defaultMemoryLimit(), WASM32_LIMIT),
    embeddings: options.embeddings,
    contextLength: options.contextLength,
    kvCache: options.kvCache,
    lmHead: options.lmHead,
  });
  lastLoad = { source, options };
  // A download to be kept reserves its file first (store.beginWrite: its lock, held until the copy
  // is published or discarded). Another tab or engine already downloading it keeps the one copy.
  let writer = null;
  if (useCache && !file && !source.bytes) {
    writer = await store.beginWrite(url).catch((e) => {
      post({ type: "warning", id, message: `The model will not be kept offline: ${e.message}` });
      return undefined;
    });
    if (writer === null && !into) {
      post({ type: "warning", id, message: "Another tab is already downloading this model to keep it offline: this tab downloads it too, without keeping a second copy." });
    }
  }
  // The token embedding is left in the copy kept offline and read a row at a time (a read-only sync
  // access handle: 64 rows in 0.16 ms), given to the engine once the copy is complete. If it cannot
  // be opened then, the model is loaded again holding the embedding.
  const keepsRows = useCache && !into && !options.holdEmbedding && (!!file || !!writer) && (await store.canReadRows());
  const rowsId = keepsRows ? loader.rowsFrom() : null;
  const rowsBound = async () => {
    if (rowsId === null || !header?.embeddingInFile) return true;
    const reader = await store.openRows(url).catch(() => null);
    if (reader && mod.bindRows(rowsId, reader.handle)) {
      rowsReader?.release();
      rowsReader = reader; // its lock keeps other tabs from removing the copy while it is read
      return true;
    }
    reader?.release();
    return false;
  };
  const holding = (changes = {}) => loadOn(id, source, { ...options, ...changes, holdEmbedding: true }, into, cpuNote);
  const hasher = source.sha256 && !into ? new mod.Sha256() : null;
  /**
   * Where neither the caller nor the file said how its I2_S weights are packed, the engine tries them on a
   * sentence (engine::layout_probe), once every weight can be read (the kept copy's rows bound); a file
   * whose weights decide nothing gets a warning that names the option. What the sentence decides is kept
   * with the copy kept offline (`savedAt` names it), whose next loads then skip the sentence.
   */
  const settle = async (e, savedAt) => {
    const decision = await e.settleI2sLayoutAsync();
    const warning = decision?.warning;
    if (warning) post({ type: "warning", id, message: `${warning[0].toUpperCase()}${warning.slice(1)}.` });
    if (decision?.probed && savedAt && !into) await store.annotate(url, savedAt, { i2sLayout: decision.layout }).catch(() => {});
  };
  let header = null;
  const feed = (chunk) => {
    loader.feed(chunk);
    hasher?.update(chunk);
    if (!header && (header = loader.header()) && !into) {
      post({ type: "header", id, header });
      // Clues in the file that disagree with what runs (its label, a key, its vocabulary, the caller's choice).
      const m = header.model;
      for (const c of m?.conflicts ?? []) post({ type: "warning", id, message: `${c}; running ${m.activation} (${m.reason}).` });
    }
  };
  /** The engine from the finished loader (or the lost one, loaded again). */
  const build = () => {
    if (into) {
      loader.finishInto(into);
      return into;
    }
    const built = loader.finish();
    if (backendNote) built.useCpu(backendNote);
    return built;
  };
  try {
    if (file || source.bytes) {
      const stream = file ? file.stream() : new Blob([source.bytes]).stream();
      const reader = reusingReader(stream);
      let loaded = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        feed(value);
        loaded += value.byteLength;
        progress({ phase, loaded, total, rate: null, eta: null });
      }
    } else {
      const controller = new AbortController();
      // The embedding was left to the copy being kept, which failed: load again, holding it.
      let keepFailed = false;
      const holdingIt = async () => {
        controller.abort();
        await writer?.abort();
        try { loader.free(); } catch { /* already consumed */ }
        return holding({ cache: false });
      };
      let size;
      try {
        ({ loaded: size } = await download(url, {
          signal: controller.signal,
          onProgress: progress,
          stallTimeout: options.stallTimeout,
          // The quota, before the first byte: a model the storage cannot hold is refused with a
          // QuotaError, or with `cache: "if-room"` loaded without being kept.
          onResponse: ({ total }) => writer && store.checkRoom(url, total),
          onChunk: async (chunk) => {
            feed(chunk); // throws at once on a bad header: the download stops there
            if (writer) {
              await writer.write(chunk).catch((e) => {
                writer = null;
                keepFailed = rowsId !== null;
                post({ type: "warning", id, message: keepFailure(e) });
              });
              if (keepFailed) throw new KeepFailed();
            }
          },
        }));
      } catch (e) {
        if (e instanceof KeepFailed || keepFailed) return await holdingIt();
        if (e instanceof QuotaError && options.cache === "if-room") {
          post({ type: "warning", id, message: `The model will not be kept offline: ${e.message}` });
          return await holdingIt();
        }
        controller.abort();
        await writer?.abort();
        throw e;
      }
      // Verify before anything is kept.
      const built = build();
      const digest = hasher?.hex();
      if (source.sha256 && digest !== source.sha256.toLowerCase()) {
        built.free();
        await writer?.abort();
        throw new DownloadError(`The downloaded file's SHA-256 is ${digest}, not the expected ${source.sha256}: it is corrupt or a different version. It was not kept.`);
      }
      // Cache Storage learns of a full quota only when the copy is committed: the model still loads.
      let published = null; // the kept copy's index entry
      try {
        published = (await writer?.commit({ size, sha256: digest })) || null;
      } catch (e) {
        post({ type: "warning", id, message: keepFailure(e) });
        if (rowsId !== null) {
          built.free();
          return await holding({ cache: false });
        }
      }
      if (!(await rowsBound())) {
        built.free();
        return await holding();
      }
      await settle(built, published?.savedAt);
      engine = built;
      return { header, info: backendInfo(), contextLength: engine.contextLength(), kept: !!published };
    }
    engine = build();
    if (!(await rowsBound())) {
      engine.free();
      engine = null;
      return await holding();
    }
    if (hasher && hasher.hex() !== source.sha256.toLowerCase()) {
      engine.free();
      engine = null;
      throw new DownloadError("The file's SHA-256 does not match the expected value: it is corrupt or a different version.");
    }
    await settle(engine, keptCopy?.entry.savedAt);
    return { header, info: backendInfo(), contextLength: engine.contextLength(), kept: !!file && !source.file };
  } catch (e) {
    try { loader.free(); } catch { /* already consumed */ }
    await writer?.abort();
    if (file && phase === "cache") await store.deleteModel(url).catch(() => {});
    throw e;
  }
}

/**
 * A loader for `device`: "cpu"; "webgpu" (any adapter, SwiftShader included; none is a
 * WebGpuUnavailableError and the load fails); or "auto" (default): a hardware adapter if there is
 * one, else the CPU, with the reason as `backendNote` (the engine's `info.backendNote`). On WebGPU the
 * weights go to the device as they arrive and never sit in wasm memory.
 */
async function openLoader(mod, device, config) {
  if (device === "cpu") return { loader: new mod.ModelLoader(config) };
  const loader = new mod.ModelLoader({ ...config, onGpu: true });
  try {
    await loader.useGpu(device === "webgpu");
    return { loader, backendNote: null };
  } catch (e) {
    loader.free();
    if (device === "webgpu") {
      throw new WebGpuUnavailableError(`WebGPU was asked for but cannot run this model: ${e.message}. Use device: "auto" or "cpu" to run on the CPU.`);
    }
    return { loader: new mod.ModelLoader(config), backendNote: `WebGPU not used: ${e.message}` };
  }
}

/**
 * Reads `source`'s header only (the download stops once it is complete) and answers what loading
 * it with `options` would take: `GgufInspector.estimateMemory` with this worker's default budget.
 */
async function estimate(source, options = {}) {
  const { mod } = await initWasm(1);
  await swept;
  const url = source.url ? new URL(source.url, self.location.href).href : null;
  const kept = url && store.isAvailable() ? await store.openModel(url).catch(() => null) : null;
  const file = source.file || kept;
  const controller = new AbortController();
  let stream;
  let total;
  if (file) [stream, total] = [file.stream(), file.size];
  else if (source.bytes) [stream, total] = [new Blob([source.bytes]).stream(), source.bytes.byteLength];
  else {
    let resp;
    try {
      resp = await fetch(url, { signal: controller.signal });
    } catch (e) {
      throw new DownloadError(`Cannot reach ${url}: ${e.message}. Check the address and your connection.`);
    }
    if (!resp.ok) throw new DownloadError(describe(resp, url));
    [stream, total] = [resp.body, Number(resp.headers.get("Content-Length")) || undefined];
  }
  const inspector = new mod.GgufInspector(total);
  const reader = reusingReader(stream);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        inspector.finish(); // throws: the file ends inside its header
        throw new DownloadError("The file ended before its header did.");
      }
      if (inspector.feed(value)) break;
    }
    // The threads a load would run on (initWasm's rule), for their stacks.
    const { threads } = planHere(simdLevel(), options.threads, self);
    // As loadOn decides: the embedding is left in the copy kept offline.
    const rowsInFile = !!url && options.cache !== false && (await store.canReadRows());
    return inspector.estimateMemory({
      ...options,
      threads,
      rowsInFile,
      memoryLimit: Math.min(options.memoryLimit ?? defaultMemoryLimit(), WASM32_LIMIT),
    });
  } finally {
    reader.cancel().catch(() => {});
    controller.abort();
    try { inspector.free(); } catch { /* consumed by finish */ }
  }
}

function current() {
  if (!engine) throw new Error("No model is loaded.");
  return engine;
}

/**
 * Runs an engine call; if the GPU was lost with the weights only on it (GpuLostError), loads the
 * same file again for the CPU into the engine (from the offline store when kept) and runs the call
 * again: the answer goes on.
 */
async function afterGpuLoss(id, call) {
  const run = () => {
    const r = call(); // a CPU call answers (or throws) here; a WebGPU one returns a promise
    inflight = Promise.resolve(r).catch(() => {});
    return r;
  };
  try {
    return await run();
  } catch (e) {
    if (e?.name !== "GpuLostError" || !lastLoad) throw e;
  }
  const lost = engine;
  await load(id, lastLoad.source, lastLoad.options, lost);
  return await run();
}

/**
 * Whether the engine runs on WebGPU: its calls are then async (the device answers later). On the
 * CPU they stay synchronous, so that a trap (an allocation that failed) is thrown where `failure`
 * turns it into an OutOfMemoryError, rather than escaping a promise.
 */
const onGpu = () => engine.backend() === "webgpu";

/**
 * The engine call in progress (a WebGPU step waits for the device). Requests answered "at once"
 * wait for it: the engine takes one call at a time.
 */
let inflight = Promise.resolve();

async function chat(id, request) {
  current();
  if (aborted.delete(id)) return post({ type: "done", id, finish_reason: "abort", text: "", stats: statsNow() });
  await afterGpuLoss(id, () => (onGpu() ? engine.beginAsync(request) : engine.begin(request)));
  let text = "";
  let finish = null;
  for (;;) {
    await yieldToEvents();
    if (aborted.delete(id)) {
      engine.abort();
      post({ type: "done", id, finish_reason: "abort", text, stats: statsNow() });
      return;
    }
    const backend = engine.backend();
    const step = await afterGpuLoss(id, () => (onGpu() ? engine.stepAsync() : engine.step()));
    if (!step) break;
    if (engine.backend() !== backend) {
      post({ type: "warning", id, message: `The GPU failed, so the engine moved to the CPU and the answer goes on: ${engine.fallback()}` });
    }
    text += step.text;
    if (step.text || step.logprobs || step.tool_calls) post({ type: "token", id, text: step.text, token: step.token, logprobs: step.logprobs, tool_calls: step.tool_calls });
    finish = step.finish_reason ?? finish;
  }
  post({ type: "done", id, finish_reason: finish ?? "stop", text, stats: statsNow() });
}

/**
 * Embeds each input as its own sequence (an embedding model's), `EMBED_CHUNK` inputs per engine
 * call, so that an abort between calls ends the request. Within a call the CPU engine packs short
 * inputs through the kernels together. Answers `{ embeddings: Float32Array[], tokens }`.
 */
async function embed(id, { input, truncate, dimensions }) {
  current();
  const embeddings = [];
  let tokens = 0;
  const dims = dimensions ?? undefined;
  for (let i = 0; i < input.length; i += EMBED_CHUNK) {
    await yieldToEvents();
    if (aborted.delete(id)) throw new AbortError("The embeddings request was aborted.");
    const texts = input.slice(i, i + EMBED_CHUNK);
    const rs = await afterGpuLoss(id, () => (onGpu() ? engine.embedManyAsync(texts, !!truncate, dims) : engine.embedMany(texts, !!truncate, dims)));
    for (const r of rs) {
      embeddings.push(r.embedding);
      tokens += r.tokens;
    }
  }
  post({ type: "result", id, value: { embeddings, tokens } }, embeddings.map((e) => e.buffer));
}

/** Inputs per engine call of `embed`: enough to fill the CPU's 64-token packs with short queries. */
const EMBED_CHUNK = 8;

/**
 * One run of "benchmark this device" at `threads` threads (`engine::BenchRun`): prefill, decode, the
 * weights' read rate and the decode bound, with the backend it ran on.
 */
async function benchmark(threads, promptTokens, genTokens) {
  current();
  const run = await (onGpu() ? engine.benchmarkAsync(threads, promptTokens, genTokens) : engine.benchmark(threads, promptTokens, genTokens));
  return { ...run, backend: engine.backend() };
}

function statsNow() {
  if (!engine) return null;
  return { ...engine.stats(), ...backendInfo() };
}

async function handle(msg) {
  const { type, id } = msg;
  switch (type) {
    case "load": {
      announced?.release();
      const r = await load(id, msg.source, msg.options);
      // Other tabs can see what this engine holds (tabs.js), for as long as it holds it.
      const model = msg.source.url ? new URL(msg.source.url, self.location.href).href : msg.source.file?.name ?? "model.gguf";
      announced = await announce({ id: ENGINE_ID, model, bytes: r.info.wasmMemoryBytes }).catch(() => null);
      post({ type: "loaded", id, ...r, engineId: ENGINE_ID });
      return;
    }
    case "chat":
      return chat(id, msg.request);
    case "embed":
      return embed(id, msg.request);
    case "benchmark":
      return post({ type: "result", id, value: await benchmark(msg.threads, msg.promptTokens, msg.genTokens) });
    case "estimate":
      return post({ type: "result", id, value: await estimate(msg.source, msg.options) });
    case "reset":
      engine?.reset();
      return post({ type: "result", id, value: true });
    case "stats":
      return post({ type: "result", id, value: statsNow() });
    case "tokenize":
      return post({ type: "result", id, value: Array.from(current().tokenize(msg.text, msg.special)) });
    case "detokenize":
      return post({ type: "result", id, value: current().detokenize(Uint32Array.from(msg.ids)) });
    case "countTokens":
      return post({ type: "result", id, value: current().countTokens(msg.request) });
    case "cache:list":
      return post({ type: "result", id, value: await store.listModels() });
    case "cache:delete":
      await store.deleteModel(new URL(msg.url, self.location.href).href);
      return post({ type: "result", id, value: true });
    default:
      throw new Error(`Unknown request type ${type}`);
  }
}

/**
 * A trap (a failed allocation, a bug) leaves the wasm instance in an unknown state: every request
 * from then on fails with the same EngineCrashedError, and the page's side replaces the worker
 * (index.js, Engine).
 */
let crashed = null;

function failure(e) {
  if (crashed) return crashed;
  if (e instanceof WebAssembly.RuntimeError) {
    const failed = wasm?.mod.failedAllocation?.() || 0;
    if (failed > 0) {
      // A trap after an allocation failed: the engine ran out of memory (src/web/alloc.rs).
      const mib = (b) => `${Math.ceil(b / 2 ** 20)} MiB`;
      crashed = new OutOfMemoryError(`The engine ran out of memory: ${mib(failed)} more could not be allocated with ${mib(wasm.memory.buffer.byteLength)} of WebAssembly memory in use (at most 4096 MiB). It restarts with the model loaded again; to avoid it, try a smaller contextLength, kvCache: "f16" or embeddings: "int8".`);
      crashed.crashed = true;
    } else {
      crashed = new EngineCrashedError(`The engine crashed (${e.message}); it restarts with the model loaded again, so retry the request. If it happens while loading, the model may not fit in this tab's memory: try a smaller contextLength or kvCache: "f16".`);
    }
    return crashed;
  }
  return e;
}

self.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === "abort") {
    aborted.add(msg.target);
    return;
  }
  const fail = (e) => post({ type: "error", id: msg.id, error: toWire(failure(e)) });
  if (crashed) return fail(crashed);
  if (IMMEDIATE.has(msg.type)) {
    inflight.then(() => handle(msg)).catch(fail);
    return;
  }
  queue = queue.then(() => handle(msg)).catch(fail);
};

post({ type: "ready", version: PROTOCOL_VERSION });
