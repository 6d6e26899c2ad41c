// Network faults and aborts, end to end through the package in headless Chromium: the test server
// (faults.mjs) injects each fault; every one ends in an error a person can act on, nothing partial
// is kept offline, and the next load works. Then an abort storm: 100 aborts at random points of
// downloads, prefills and decodes leave the engine answering exactly as a fresh one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openBrowser } from "./browser.mjs";

const MODEL = "models/bitnet-tiny-chat.i2_s.gguf";
let b;
before(async () => {
  b = await openBrowser();
  await b.page.goto(b.base + "inspect.html");
});
after(async () => { await b?.close(); });

/** Loads `url` with the package in the page: { ok } or { name, message }, plus the warnings seen. */
const load = (url, options = {}) => b.page.evaluate(async ({ url, options }) => {
  const { createEngine } = await import("./lib/index.js");
  const warnings = [];
  try {
    const engine = await createEngine({ model: url, ...options, onProgress: (p) => p.phase === "warning" && warnings.push(p.message) });
    const answer = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hello" }], max_tokens: 4, temperature: 0 });
    await engine.unload();
    return { ok: answer.usage.completion_tokens > 0, warnings };
  } catch (e) {
    return { name: e.name, message: e.message, warnings };
  }
}, { url, options });

const cachedUrls = () => b.page.evaluate(async () => (await (await import("./lib/index.js")).listCachedModels()).map((m) => m.url));

test("each network fault ends in an error a person can act on; nothing is cached; the next load works", { timeout: 120000 }, async () => {
  const faults = [
    ["faulty/wrong-length/" + MODEL, {}, /HTTP 416.*shorter than the server said.*load it again/],
    ["faulty/status-500/" + MODEL, {}, /HTTP 500.*the server failed; try again later/],
    ["models/missing.gguf", {}, /HTTP 404.*check the URL/],
    ["faulty/416-on-resume/" + MODEL, {}, /refused to resume.*HTTP 416/],
    ["faulty/stall/" + MODEL, { stallTimeout: 500 }, /No data came from .* for 0.5 s, 6 times.*stuck/],
  ];
  for (const [path, options, message] of faults) {
    const r = await load(new URL(path, b.base).href, options);
    assert.equal(r.name, "DownloadError", `${path}: ${JSON.stringify(r)}`);
    assert.match(r.message, message, path);
  }
  const stalls = b.requests.filter((q) => q.path.includes("/stall/"));
  assert.equal(stalls.length, 6, "the stalled download was resumed five times before giving up");
  assert.ok(stalls.slice(1).every((q) => q.range), "each resume asked for the rest with a Range request");
  const cached = await cachedUrls();
  assert.ok(!cached.some((u) => u.includes("/faulty/")), `nothing partial was kept: ${cached}`);
  assert.equal((await load(new URL(MODEL + "?after-faults", b.base).href)).ok, true);
});

test("a stalled download ended by the user's abort rejects with AbortError and keeps nothing", async () => {
  const url = new URL("faulty/stall/" + MODEL + "?abort", b.base).href;
  const r = await b.page.evaluate(async (url) => {
    const { createEngine } = await import("./lib/index.js");
    const controller = new AbortController();
    let seen = 0;
    const t0 = performance.now();
    try {
      await createEngine({ model: url, signal: controller.signal, onProgress: (p) => {
        if (p.phase === "download" && p.loaded > 0 && !seen++) setTimeout(() => controller.abort(), 300);
      } });
      return { ok: true };
    } catch (e) {
      return { name: e.name, ms: performance.now() - t0 };
    }
  }, url);
  assert.equal(r.name, "AbortError", JSON.stringify(r));
  assert.ok(r.ms < 10000, `the abort ended the stalled load at once (${r.ms} ms)`);
  assert.ok(!(await cachedUrls()).includes(url));
});

test("a storage quota error while caching: the model still loads, the warning says why, nothing is kept", async () => {
  const url = new URL(MODEL + "?quota", b.base).href;
  const { page } = b;
  // The engine's worker starts inside createEngine; its OPFS writes are made to fail as a full
  // disk does, before the download (which waits for the wasm to start) reaches them.
  const workerStarted = page.waitForEvent("worker", (w) => w.url().includes("worker.js"));
  const loading = load(url);
  const worker = await workerStarted;
  await worker.evaluate(() => {
    FileSystemWritableFileStream.prototype.write = function () {
      return Promise.reject(new DOMException("The quota has been exceeded (forced by the test).", "QuotaExceededError"));
    };
  });
  const r = await loading;
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.ok(r.warnings.some((w) => /Not enough browser storage.*quota exceeded.*deleting cached models/.test(w)), JSON.stringify(r.warnings));
  assert.ok(!(await cachedUrls()).includes(url), "the partial file was removed");
});

test("an abort storm (100 aborts during downloads, prefills and decodes) leaves the engine answering as a fresh one", { timeout: 300000 }, async () => {
  const r = await b.page.evaluate(async (model) => {
    const { createEngine } = await import("./lib/index.js");
    let seed = 20261201;
    const rand = (n) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const ask = { messages: [{ role: "user", content: "Tell me a short story about a fox." }], max_tokens: 24, temperature: 0 };
    const engine = await createEngine({ model, contextLength: 1024 });
    const counts = { download: 0, prefill: 0, decode: 0, completedAnyway: 0 };
    for (let i = 0; i < 100; i++) {
      const controller = new AbortController();
      const kind = ["download", "prefill", "decode"][i % 3];
      counts[kind]++;
      if (kind === "download") {
        // A second engine's download, cancelled after a random number of progress events.
        let events = 0;
        const stopAt = rand(6);
        const other = createEngine({ model: `${model}?storm=${i}`, cache: false, signal: controller.signal,
          onProgress: (p) => p.phase === "download" && events++ === stopAt && controller.abort() });
        await other.then((e) => { counts.completedAnyway++; return e.unload(); }, (e) => { if (e.name !== "AbortError") throw e; });
      } else if (kind === "prefill") {
        // Aborted before or while the prompt runs (a long prompt, a random delay of 0-3 ms).
        const long = { messages: [{ role: "user", content: "a fox ".repeat(100 + rand(200)) }], max_tokens: 8, signal: controller.signal };
        const pending = engine.chat.completions.create(long);
        setTimeout(() => controller.abort(), rand(4));
        await pending.catch((e) => { if (e.name !== "AbortError") throw e; });
      } else {
        // Aborted after a random number of streamed tokens.
        const stream = await engine.chat.completions.create({ ...ask, max_tokens: 40, temperature: 0.8, stream: true, signal: controller.signal });
        const stopAt = 1 + rand(10);
        let n = 0;
        try {
          for await (const chunk of stream) if (chunk.choices[0]?.delta?.content && ++n === stopAt) controller.abort();
        } catch (e) {
          if (e.name !== "AbortError") throw e;
        }
      }
    }
    const after = (await engine.chat.completions.create(ask)).choices[0].message.content;
    await engine.unload();
    const fresh = await createEngine({ model, contextLength: 1024 });
    const want = (await fresh.chat.completions.create(ask)).choices[0].message.content;
    await fresh.unload();
    return { after, want, counts };
  }, new URL(MODEL, b.base).href);
  assert.deepEqual([r.counts.download, r.counts.prefill, r.counts.decode], [34, 33, 33]);
  assert.ok(r.want.length > 0);
  assert.equal(r.after, r.want, "after 100 aborts the engine gives a fresh engine's greedy answer");
  console.log(`abort storm: ${JSON.stringify(r.counts)}`);
});

// An allocation that fails mid-request, forced for real: the test grows the engine's WebAssembly
// memory to its 4 GiB ceiling from inside the worker, so the next allocation the engine makes
// fails as it would in a tab that has run out.
test("an allocation that fails mid-request is an OutOfMemoryError with the sizes; the engine restarts and the next call works", { timeout: 120000 }, async () => {
  const { page } = b;
  const url = new URL(MODEL + "?oom", b.base).href;
  await page.evaluate(async (url) => {
    const { createEngine } = await import("./lib/index.js");
    window.oom = await createEngine({ model: url, threads: 1, contextLength: 4096 });
  }, url);
  const worker = page.workers().filter((w) => w.url().includes("worker.js")).at(-1);
  const pages = await worker.evaluate(async () => {
    // The one-thread engine runs the relaxed-SIMD build; importing its glue again gives the same instance.
    const glue = await import(new URL("./wasm-relaxed/bitnet_web.js", self.location.href).href);
    const { memory } = await glue.default();
    memory.grow(65536 - memory.buffer.byteLength / 65536 - 1);
    return memory.buffer.byteLength / 65536;
  });
  assert.equal(pages, 65535, "the engine's memory now fills wasm32's 4 GiB but for one page");
  const r = await page.evaluate(async () => {
    const long = { messages: [{ role: "user", content: "a fox ran. ".repeat(400) }], max_tokens: 4 };
    const first = await window.oom.chat.completions.create(long).then(() => null, (e) => ({ name: e.name, message: e.message }));
    const next = await window.oom.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 3, temperature: 0 });
    const restarts = window.oom.restarts;
    await window.oom.unload();
    return { first, next: next.usage.completion_tokens, restarts };
  });
  assert.equal(r.first?.name, "OutOfMemoryError", JSON.stringify(r));
  assert.match(r.first.message, /ran out of memory: \d+ MiB more could not be allocated with 4096 MiB of WebAssembly memory in use.*restarts/);
  assert.equal(r.restarts, 1);
  assert.equal(r.next, 3);
});

test("a model over the memory budget is refused at its header with what would make it fit, and the next load works", async () => {
  const r = await load(new URL(MODEL + "?budget", b.base).href, { memoryLimit: 2 * 2 ** 20, contextLength: 4096 });
  assert.equal(r.name, "OutOfMemoryError", JSON.stringify(r));
  assert.match(r.message, /more than the 2 MB available here; (it would fit with|even its weights need)/);
  assert.equal((await load(new URL(MODEL + "?after-budget", b.base).href)).ok, true);
});

test("the model kept offline is the server's file byte for byte, through a cut and a resume (the download reuses one buffer)", async () => {
  const { createHash } = await import("node:crypto");
  const fs = await import("node:fs");
  const path = await import("node:path");
  const expected = createHash("sha256").update(fs.readFileSync(path.join(import.meta.dirname, "../../www", MODEL))).digest("hex");
  const url = new URL("faulty/cut-once/" + MODEL + "?bytes", b.base).href;
  const r = await b.page.evaluate(async (url) => {
    const { createEngine, deleteCachedModel } = await import("./lib/index.js");
    // Chromium's fetch bodies are byte streams, so chunks.js reads them into one reused buffer.
    const byob = (() => { try { new Response(new Uint8Array(1)).body.getReader({ mode: "byob" }); return true; } catch { return false; } })();
    const engine = await createEngine({ model: url });
    await engine.unload();
    const root = await navigator.storage.getDirectory();
    let file = null;
    for await (const d of root.values()) {
      if (d.kind !== "directory") continue;
      for await (const f of d.values()) if (f.kind === "file" && f.name.endsWith(".gguf")) file = file || (await f.getFile());
    }
    const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()))].map((x) => x.toString(16).padStart(2, "0")).join("");
    await deleteCachedModel(url);
    return { byob, digest };
  }, url);
  assert.equal(r.byob, true, "the fetch body is a byte stream, so the reused-buffer path ran");
  assert.equal(r.digest, expected, "the cached file equals the server's");
  assert.ok(b.requests.some((q) => q.path.includes("/cut-once/") && q.range), "the download was resumed with a Range request");
});

// A URL kept offline (the default) leaves the embedding in the kept copy; a File, bytes, or a URL with
// `cache: false` hold it: the estimate says which, and differs by exactly the embedding's bytes.
test("estimateMemory reads the header alone, from a URL, a File or bytes, and a corrupt file rejects as a load would", async () => {
  const r = await b.page.evaluate(async (model) => {
    const { createEngine, estimateMemory } = await import("./lib/index.js");
    let header = null;
    const engine = await createEngine({ model, cache: false, onProgress: (p) => { if (p.phase === "header") header = p.header; } });
    await engine.unload();
    const bytes = await (await fetch(model)).arrayBuffer();
    const fromUrl = await estimateMemory(model);
    const held = await estimateMemory(model, { cache: false });
    const fromFile = await estimateMemory(new File([bytes], "m.gguf"));
    const fromBytes = await estimateMemory(bytes);
    const f16 = await estimateMemory(model, { kvCache: "f16", contextLength: 128 });
    let corrupt;
    try {
      await estimateMemory("faulty/corrupt/" + model);
    } catch (e) {
      corrupt = { name: e.name, message: e.message };
    }
    return { header, fromUrl, held, fromFile, fromBytes, f16, corrupt, kept: bytes.byteLength };
  }, MODEL);
  assert.equal(r.held.total, r.header.memoryEstimate, "the figure a load's header gives");
  assert.equal(r.header.embeddingInFile, false);
  assert.deepEqual(r.fromFile, r.held);
  assert.deepEqual(r.fromBytes, r.held);
  assert.equal(r.fromUrl.embeddingInFile, true);
  assert.equal(r.held.weights - r.fromUrl.weights, r.header.nVocab * r.header.nEmbd * 2, "the F16 embedding's bytes");
  assert.ok(r.kept > 0, "the caller's bytes were copied, not taken");
  assert.equal(r.fromUrl.weights + r.fromUrl.largestTensor + r.fromUrl.kvCache + r.fromUrl.runtime, r.fromUrl.total);
  assert.equal(r.f16.contextLength, 128);
  assert.equal(r.f16.kvCache, (r.fromUrl.kvCache * 128) / r.fromUrl.contextLength / 2, "an f16 cache at 128 tokens");
  assert.ok(r.corrupt, "a corrupt file rejects");
  assert.notEqual(r.corrupt.name, "Error", `a typed error: ${JSON.stringify(r.corrupt)}`);
});
