// The BitNet family in headless Chromium: synthetic files of bitnet_b1_58-large's and -3B's shapes (arch
// `bitnet`, SentencePiece vocabulary; 3B's FFN rows padded at load) and Falcon3-1B-1.58bit's (arch `llama`, `falcon3` byte-level
// BPE, separate F16 head) and Falcon-E-3B's (arch `llama`, `falcon_e`, GQA 16:2), made by `bitnet-web synth --shape`, load through the package and
// generate; the wasm tokenizer gives the native CLI's ids. tests/suite/shapes.rs runs them natively.
// Then Llama3-8B-1.58's shape (3.9 GB): it fits wasm32 at a 4096-token context with an f16 KV
// cache because its embedding and head become int8 rows as they stream in, and it generates.
// On every shape, `estimateMemory` (the header alone) is held to 5 % of the wasm memory the engine
// then takes with a full context, with the embedding held and with it left in the kept copy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { openBrowser, ROOT } from "./browser.mjs";
import { synthShape } from "./synth.mjs";

const BIN = path.join(ROOT, "target/release/bitnet-web");
function synth(shape) {
  const { file, url } = synthShape(shape);
  const native = JSON.parse(execFileSync(BIN, ["tokenize", file, "Hello world, naïve café 123", "--json", "--no-bos"]).toString());
  return { url, native };
}

let b;
before(async () => { b = await openBrowser(); });
after(async () => { await b?.close(); });

// bitnet_b1_58-3B's 8640-wide FFN rows straddle I2_S's 128-weight blocks and are padded at load.
for (const [shape, arch] of [["large", "bitnet"], ["falcon3-1b", "llama"], ["3b", "bitnet"], ["falcon-e-3b", "llama"]]) {
  test(`a ${shape}-shape model (${arch}) loads and generates in Chromium`, { timeout: 600000 }, async () => {
    const { url, native } = synth(shape);
    const { page, base } = b;
    await page.goto(base + "inspect.html");
    const r = await page.evaluate(async (url) => {
      const { createEngine } = await import("./lib/index.js");
      const engine = await createEngine({ model: url, contextLength: 256 });
      try {
        const ids = await engine.tokenize("Hello world, naïve café 123");
        const out = await engine.chat.completions.create({
          messages: [{ role: "user", content: "Hello" }], max_tokens: 4, temperature: 0, ignore_eos: true,
        });
        return { ids, tokens: out.usage.completion_tokens, finish: out.choices[0].finish_reason };
      } finally {
        await engine.unload();
      }
    }, url);
    assert.deepEqual(r.ids, native, "the wasm tokenizer gives the native CLI's ids");
    assert.equal(r.tokens, 4);
    assert.equal(r.finish, "length");
  });
}

/**
 * The native CLI's estimate for `file` at `ctx` tokens, in MiB (`inspect --memory`), less the
 * runtime part, which counts a stack per thread and the CLI may run on more threads than the page.
 */
function nativeEstimateMib(file, ctx, extra = []) {
  const out = execFileSync(BIN, ["inspect", "--memory", "--ctx", String(ctx), file, ...extra]).toString();
  return Number(/memory estimate: ([\d.]+) MiB/.exec(out)[1]) - Number(/([\d.]+) MiB for the tokenizer/.exec(out)[1]);
}

// The estimate against what the engine then takes: `estimateMemory` reads the header alone; the
// model then loads and generates until its context is full, and the engine's WebAssembly memory
// (all it ever took: a wasm memory never shrinks) must be within 5 % of the estimate's total.
for (const shape of ["large", "falcon3-1b", "2b4t"]) {
  test(`estimateMemory on a ${shape}-shape model: the native CLI's figure, and within 5 % of the wasm memory after a full context`, { timeout: 600000 }, async () => {
    const { url } = synth(shape);
    const ctx = 64;
    const { page, base } = b;
    await page.goto(base + "inspect.html");
    const r = await page.evaluate(async ({ url, ctx }) => {
      const { createEngine, estimateMemory } = await import("./lib/index.js");
      // Not kept offline, as the load below: the embedding is held in memory.
      const estimate = await estimateMemory(url, { contextLength: ctx, cache: false });
      // One byte short with the embedding kept as stored (under "auto" int8 rows would make it fit).
      const tight = await estimateMemory(url, { contextLength: ctx, embeddings: "stored", memoryLimit: estimate.total - 1, cache: false });
      const fill = async (options) => {
        const engine = await createEngine({ model: url, contextLength: ctx, ...options });
        try {
          const out = await engine.chat.completions.create({ prompt: "Hello", max_tokens: ctx, temperature: 0, ignore_eos: true });
          const stats = await engine.refreshStats();
          return { finish: out.choices[0].finish_reason, used: out.usage.total_tokens, wasmBytes: stats.memory_bytes, inFile: engine.header.embeddingInFile };
        } finally {
          await engine.unload();
        }
      };
      const held = await fill({ cache: false });
      // Kept offline (the default): the embedding is read from the kept copy, and the estimate says so.
      const keptEstimate = await estimateMemory(url, { contextLength: ctx });
      const kept = await fill({});
      return { estimate, tight, ...held, keptEstimate, kept };
    }, { url, ctx });
    const mib = (x) => x / 2 ** 20;
    assert.equal(r.estimate.fits, true);
    assert.equal(r.estimate.contextLength, ctx);
    const { file } = synthShape(shape);
    assert.ok(Math.abs(mib(r.estimate.total - r.estimate.runtime) - nativeEstimateMib(file, ctx, ["--embedding-in-memory"])) < 0.15, "the native CLI gives the same estimate");
    assert.ok(Math.abs(mib(r.keptEstimate.total - r.keptEstimate.runtime) - nativeEstimateMib(file, ctx)) < 0.15, "and with the embedding left in the file");
    assert.equal(r.finish, "length");
    // The last token sampled takes no place in the cache.
    assert.equal(r.used, ctx + 1, "the context was filled");
    const off = (r.wasmBytes - r.estimate.total) / r.estimate.total;
    console.log(`${shape}: estimate ${mib(r.estimate.total).toFixed(1)} MiB (weights ${mib(r.estimate.weights).toFixed(1)}, in transit ${mib(r.estimate.largestTensor).toFixed(1)}, KV ${mib(r.estimate.kvCache).toFixed(2)}, runtime ${mib(r.estimate.runtime).toFixed(1)}), wasm memory after ${ctx} tokens ${mib(r.wasmBytes).toFixed(1)} MiB (${(100 * off).toFixed(1)} %)`);
    assert.ok(Math.abs(off) <= 0.05, `wasm memory ${mib(r.wasmBytes).toFixed(1)} MiB against an estimate of ${mib(r.estimate.total).toFixed(1)} MiB`);
    assert.equal(r.kept.inFile, true);
    assert.equal(r.keptEstimate.embeddingInFile, true);
    const keptOff = (r.kept.wasmBytes - r.keptEstimate.total) / r.keptEstimate.total;
    console.log(`${shape}, kept offline: estimate ${mib(r.keptEstimate.total).toFixed(1)} MiB, wasm memory after ${ctx} tokens ${mib(r.kept.wasmBytes).toFixed(1)} MiB (${(100 * keptOff).toFixed(1)} %)`);
    assert.ok(Math.abs(keptOff) <= 0.05, `kept: wasm memory ${mib(r.kept.wasmBytes).toFixed(1)} MiB against an estimate of ${mib(r.keptEstimate.total).toFixed(1)} MiB`);
    assert.equal(r.tight.fits, false, "one byte under the estimate does not fit");
    assert.match(r.tight.refusal, /needs about \d+ MB.*would fit/);
    assert.equal(r.tight.total, r.estimate.total, "the refusal still gives the figure");
    // A tied head's 4-bit shortlist copy is what the stored head saves; Falcon3's separate head is int8 in place.
    if (shape !== "falcon3-1b") assert.match(r.tight.refusal, /lmHead: "stored"/);
  });
}

test("a Llama3-8B-shape model (3.9 GB) fits wasm32 with int8 embeddings and an f16 KV cache, and generates", { timeout: 900000 }, async () => {
  const { url } = synth("llama3-8b");
  const { page, base } = b;
  await page.goto(base + "inspect.html");
  const r = await page.evaluate(async (url) => {
    const { createEngine, estimateMemory } = await import("./lib/index.js");
    const estimate = await estimateMemory(url, { contextLength: 4096, kvCache: "f16", cache: false });
    let header = null;
    const t0 = performance.now();
    const engine = await createEngine({ model: url, contextLength: 4096, kvCache: "f16", cache: false,
      onProgress: (p) => { if (p.phase === "header") header = p.header; } });
    const loadS = (performance.now() - t0) / 1000;
    try {
      const out = await engine.chat.completions.create({
        messages: [{ role: "user", content: "Hello" }], max_tokens: 3, temperature: 0, ignore_eos: true,
      });
      const stats = await engine.refreshStats();
      return { estimate, used: out.usage.total_tokens, header, loadS, tokens: out.usage.completion_tokens, decode: out.usage.decode_tok_s, lmHead: stats.lm_head,
        wasmBytes: engine.info.wasmMemoryBytes ?? stats.memory_bytes, modelBytes: stats.model_bytes };
    } finally {
      await engine.unload();
    }
  }, url);
  assert.equal(r.header.int8Embeddings, true, "the budget chose int8 embeddings at the header");
  assert.ok(r.header.memoryEstimate <= 3.5 * 2 ** 30, `${r.header.memoryEstimate}`);
  assert.equal(r.tokens, 3);
  assert.equal(r.lmHead, "int8");
  // The cache grows 256 positions at a time: the wasm memory with a full one is what was measured,
  // plus the positions not yet allocated. It must be within 5 % of the estimate.
  assert.equal(r.estimate.total, r.header.memoryEstimate);
  const perPosition = r.estimate.kvCache / r.estimate.contextLength;
  const full = r.wasmBytes + r.estimate.kvCache - Math.ceil(r.used / 256) * 256 * perPosition;
  const off = (full - r.estimate.total) / r.estimate.total;
  console.log(`llama3-8b: estimate ${(r.estimate.total / 2 ** 20).toFixed(0)} MiB, wasm memory with a full cache ${(full / 2 ** 20).toFixed(0)} MiB (${(100 * off).toFixed(1)} %)`);
  assert.ok(Math.abs(off) <= 0.05, `${(100 * off).toFixed(1)} %`);
  console.log(`llama3-8b in Chromium: estimate ${(r.header.memoryEstimate / 2 ** 20).toFixed(0)} MiB, wasm memory ${(r.wasmBytes / 2 ** 20).toFixed(0)} MiB, model ${(r.modelBytes / 2 ** 20).toFixed(0)} MiB, load ${r.loadS.toFixed(1)} s, decode ${r.decode?.toFixed(2)} tok/s`);
});

// BitNet-embedding's two published shapes (Qwen3 0.6B, Gemma 3 270M), as Microsoft's converter writes
// them: they load through the package and embed, the wasm tokenizer gives the native CLI's ids, and
// `estimateMemory` holds to 5 % of the wasm memory after an input that fills the context.
for (const shape of ["bitnet-embedding-0.6b", "bitnet-embedding-270m"]) {
  test(`a ${shape}-shape model loads and embeds in Chromium, within 5 % of its estimate`, { timeout: 600000 }, async () => {
    const { url, native } = synth(shape);
    const ctx = 64;
    const { page, base } = b;
    await page.goto(base + "inspect.html");
    const r = await page.evaluate(async ({ url, ctx }) => {
      const { createEngine, estimateMemory } = await import("./lib/index.js");
      const estimate = await estimateMemory(url, { contextLength: ctx, cache: false });
      const engine = await createEngine({ model: url, contextLength: ctx, cache: false });
      try {
        const ids = await engine.tokenize("Hello world, naïve café 123");
        const long = "BitNet embeds text on the device, one ternary weight at a time. ".repeat(40);
        const out = await engine.embeddings.create({ input: [long, "query: what is BitNet?"], truncation: "auto" });
        const stats = await engine.refreshStats();
        const v = out.data[0].embedding;
        return { ids, estimate, tokens: out.usage.prompt_tokens, dims: v.length, norm: Math.hypot(...v), wasmBytes: stats.memory_bytes, header: engine.header };
      } finally {
        await engine.unload();
      }
    }, { url, ctx });
    assert.deepEqual(r.ids, native, "the wasm tokenizer gives the native CLI's ids");
    assert.equal(r.dims, shape.endsWith("0.6b") ? 1024 : 640);
    assert.ok(Math.abs(r.norm - 1) < 1e-5);
    assert.ok(r.tokens > ctx, "the long input filled the context");
    const mib = (x) => x / 2 ** 20;
    const off = (r.wasmBytes - r.estimate.total) / r.estimate.total;
    console.log(`${shape}: estimate ${mib(r.estimate.total).toFixed(1)} MiB (weights ${mib(r.estimate.weights).toFixed(1)}, KV ${mib(r.estimate.kvCache).toFixed(2)}, runtime ${mib(r.estimate.runtime).toFixed(1)}), wasm memory after a ${ctx}-token input ${mib(r.wasmBytes).toFixed(1)} MiB (${(100 * off).toFixed(1)} %)`);
    assert.ok(Math.abs(off) <= 0.05, `wasm memory ${mib(r.wasmBytes).toFixed(1)} MiB against an estimate of ${mib(r.estimate.total).toFixed(1)} MiB`);
  });
}
