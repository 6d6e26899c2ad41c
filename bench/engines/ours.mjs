// Our engine in a fresh Chromium (bench/run.mjs's "ours" and "webgpu" engines): createEngine on the
// model's URL, one raw prompt, greedy generation with EOS ignored, then refreshStats() for the rates
// and the wasm memory. Its own file so that each engine's driver reads on its own; bench/run.mjs
// runs it and reports its figures.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inFreshChromium, memoryMonitor } from "./browser.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const log = (...a) => console.error("[bench]", ...a);

export async function waitForOurLib(maxS = 600) {
  const files = ["www/lib/index.js", "www/lib/worker.js"].map((f) => path.join(ROOT, f));
  const t0 = Date.now();
  for (;;) {
    if (files.every((f) => fs.existsSync(f))) return;
    if (Date.now() - t0 > maxS * 1000) throw new Error("www/lib/index.js is missing (run `bash scripts/build-web.sh`)");
    log("www/lib is missing (being rebuilt?); waiting...");
    await new Promise((r) => setTimeout(r, 5000));
  }
}

export async function runOurs(o, srv, fileIndex, threads, prompt, ctxLen, device = "cpu") {
  await waitForOurLib();
  const gpu = device === "webgpu";
  const gen = gpu ? o.gpuGenTokens : o.genTokens;
  return inFreshChromium(gpu ? "webgpu" : "ours", o.timeoutS, o.verbose, async (page, logs) => {
    await page.goto(`${srv.base}/__bench.html`);
    const mon = memoryMonitor();
    let r = { before_load_mb: mon.rssNow() };
    try {
      Object.assign(r, await page.evaluate(async ({ url, threads, ctxLen, kvF16, lmHead, embeddings, device, cache }) => {
        const { createEngine } = await import("/lib/index.js");
        const t0 = performance.now();
        self.__engine = await createEngine({ model: url, cache, contextLength: ctxLen, threads, lmHead, embeddings, device, ...(kvF16 ? { kvCache: "f16" } : {}) });
        const h = self.__engine.header;
        return { crossOriginIsolated: self.crossOriginIsolated, load_s: (performance.now() - t0) / 1000, info: self.__engine.info, embedding_in_file: !!h?.embeddingInFile };
      }, { url: srv.fileUrl(fileIndex), threads, ctxLen, kvF16: o.kvF16, lmHead: o.lmHead, embeddings: o.embeddings, device, cache: o.cache && !gpu }));
      mon.mark("gen0");
      Object.assign(r, await page.evaluate(async ({ prompt, gen }) => {
        const t1 = performance.now();
        const out = await self.__engine.chat.completions.create({ prompt, max_tokens: gen, temperature: 0, ignore_eos: true });
        const generate_wall_s = (performance.now() - t1) / 1000;
        const stats = await self.__engine.refreshStats();
        return { generate_wall_s, stats, usage: out.usage, finish_reason: out.choices[0].finish_reason, text_head: out.choices[0].message.content.slice(0, 120) };
      }, { prompt, gen }));
      mon.mark("gen1");
      await page.evaluate(() => self.__engine.unload());
    } finally {
      r.gen_threads = mon.threads("gen0", "gen1");
      r.memory = mon.stop();
    }
    const s = r.stats;
    return {
      engine: gpu ? "webgpu" : "ours",
      adapter: r.info?.adapter ?? null,
      threads_requested: threads,
      cross_origin_isolated: r.crossOriginIsolated,
      load_s: r.load_s,
      prompt_tokens: s.prompt_tokens,
      generated_tokens: s.completion_tokens,
      prefill_tok_s: s.prefill_tok_s,
      decode_tok_s: s.decode_tok_s,
      // refreshStats() gives rates; the times follow (the first generated token comes from the prefill).
      prefill_ms: s.prefill_tok_s ? (s.prompt_tokens / s.prefill_tok_s) * 1000 : null,
      decode_ms: s.decode_tok_s ? ((s.completion_tokens - 1) / s.decode_tok_s) * 1000 : null,
      peak_mb: r.memory.peak_mb,
      embedding_in_file: r.embedding_in_file ?? false,
      wasm_mb: s.memory_bytes != null ? s.memory_bytes / 2 ** 20 : null,
      // stats(): memory_bytes is the wasm memory, model_bytes the weights and the KV cache in it.
      model_mb: s.model_bytes != null ? s.model_bytes / 2 ** 20 : null,
      before_load_mb: r.before_load_mb,
      busy_threads: r.gen_threads?.busy ?? null,
      threads: s.threads,
      kernel: s.kernel,
      backend: s.backend,
      finish_reason: r.finish_reason,
      generate_wall_s: r.generate_wall_s,
      info: r.info,
      stats: s,
      gen_threads: r.gen_threads,
      memory: r.memory,
      text_head: r.text_head,
      log_tail: logs.slice(-20),
    };
  });
}
