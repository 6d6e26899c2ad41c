// @wllama/wllama (llama.cpp compiled to wasm) in a fresh Chromium, beside ours (bench/run.mjs's
// "wllama" engine): loadModelFromUrl on the CPU with the same context, threads and KV precision, one
// raw streamed completion, and llama.cpp's own server timings for the rates. Its own file so that
// each engine's driver reads on its own; bench/run.mjs serves the package from WLLAMA_DIR.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inFreshChromium, memoryMonitor } from "./browser.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const WLLAMA_DIR = path.join(ROOT, "node_modules/@wllama/wllama");

export async function runWllama(o, srv, fileIndex, threads, prompt, ctxLen) {
  return inFreshChromium("wllama", o.timeoutS, o.verbose, async (page, logs) => {
    await page.goto(`${srv.base}/__bench.html`);
    const mon = memoryMonitor();
    let r = {};
    try {
      // Each step keeps its results (and wllama's log) in self.__r, so a failure still reports them.
      const loaded = await page.evaluate(async ({ url, threads, ctxLen, kvF16 }) => {
        const wl = await import("/wllama/esm/index.js");
        const logs = [];
        const keep = (level) => (...a) => logs.push(`${level}: ${a.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" ")}`);
        const logger = { debug: keep("debug"), log: keep("log"), warn: keep("warn"), error: keep("error") };
        const result = (self.__r = { crossOriginIsolated: self.crossOriginIsolated, version: wl.Wllama.getLibllamaVersion?.(), logs });
        try {
          const w = (self.__w = new wl.Wllama({ default: "/wllama/esm/wasm/wllama.wasm" }, { logger, parallelDownloads: 1 }));
          const t0 = performance.now();
          await w.loadModelFromUrl(url, {
            useCache: false, // download again (into the fresh profile's storage) rather than reuse
            n_ctx: ctxLen,
            n_threads: threads,
            n_gpu_layers: 0, // CPU only: the wasm CPU path is what we compare with
            n_parallel: 1,
            // The same KV precision as ours: f32 unless --kv-f16.
            ...(kvF16 ? { cache_type_k: "f16", cache_type_v: "f16" } : { cache_type_k: "f32", cache_type_v: "f32" }),
          });
          result.load_s = (performance.now() - t0) / 1000;
          result.multithread = w.isMultithread();
          result.n_threads = w.getNumThreads();
          const info = w.getLoadedContextInfo();
          result.ctx = { n_ctx: info.n_ctx, n_batch: info.n_batch, n_ubatch: info.n_ubatch, n_layer: info.n_layer, add_bos_token: info.add_bos_token };
          // wllama 3.13 resolves loadModel even when llama.cpp answers success: false (and the first
          // completion then crashes); an empty context is how that shows.
          if (!info.n_ctx || !info.n_layer) {
            result.load_failed_s = result.load_s;
            delete result.load_s;
            throw new Error("llama.cpp failed to load the model (wllama's loadModel resolved anyway)");
          }
          return true;
        } catch (e) {
          result.error = `${e?.name || "Error"}: ${e?.message || e}${e?.type ? ` (type ${e.type})` : ""}`;
          return false;
        }
      }, { url: srv.fileUrl(fileIndex), threads, ctxLen, kvF16: o.kvF16 });
      if (loaded) {
        mon.mark("gen0");
        await page.evaluate(async ({ prompt, gen }) => {
          const result = self.__r;
          try {
            // Raw completion (no chat template), streamed. llama.cpp's server timings separate the
            // prompt (prompt_n tokens in prompt_ms) from generation (predicted_n tokens in predicted_ms,
            // timed from the first sampled token, so predicted_n - 1 decode steps). Chunk arrival
            // times are kept as a wall-clock cross-check.
            const t1 = performance.now();
            const stream = await self.__w.createCompletion({ prompt, max_tokens: gen, temperature: 0, ignore_eos: true, cache_prompt: false, stream: true });
            const arrivals = [];
            let text = "";
            for await (const c of stream) {
              const piece = c.choices?.[0]?.text ?? "";
              if (piece) arrivals.push(performance.now());
              text += piece;
              if (c.timings) result.timings = c.timings;
              if (c.usage) result.usage = c.usage;
              if (c.choices?.[0]?.finish_reason) result.finish_reason = c.choices[0].finish_reason;
            }
            result.generate_wall_s = (performance.now() - t1) / 1000;
            result.ttft_ms = arrivals.length ? arrivals[0] - t1 : null;
            result.wall_decode_ms = arrivals.length > 1 ? arrivals[arrivals.length - 1] - arrivals[0] : null;
            result.text_chunks = arrivals.length;
            result.text_head = text.slice(0, 120);
          } catch (e) {
            result.error = `${e?.name || "Error"}: ${e?.message || e}${e?.type ? ` (type ${e.type})` : ""}`;
          }
        }, { prompt, gen: o.genTokens });
        mon.mark("gen1");
      }
      await page.evaluate(async () => {
        try {
          await self.__w?.exit();
        } catch {
          // already dead
        }
      });
    } finally {
      r = (await page.evaluate(() => self.__r).catch(() => null)) || {};
      r.gen_threads = mon.threads("gen0", "gen1");
      r.memory = mon.stop();
    }
    if (o.verbose) for (const l of r.logs || []) console.error(`  [wllama] ${l}`);
    const t = r.timings || {};
    const threadLines = (r.logs || []).filter((l) => /thread|system_info/i.test(l)).slice(0, 12);
    const out = {
      engine: "wllama",
      version: r.version,
      threads_requested: threads,
      cross_origin_isolated: r.crossOriginIsolated,
      load_s: r.load_s ?? null,
      prompt_tokens: t.prompt_n ?? r.usage?.prompt_tokens ?? null,
      generated_tokens: t.predicted_n ?? r.usage?.completion_tokens ?? null,
      prefill_tok_s: t.prompt_ms ? t.prompt_n / (t.prompt_ms / 1000) : null,
      decode_tok_s: t.predicted_ms && t.predicted_n > 1 ? (t.predicted_n - 1) / (t.predicted_ms / 1000) : null,
      prefill_ms: t.prompt_ms ?? null,
      decode_ms: t.predicted_ms ?? null,
      wall_ttft_ms: r.ttft_ms ?? null,
      // Chunks are text pieces, not tokens (a multi-byte character waits for its last token).
      wall_decode_ms: r.wall_decode_ms ?? null,
      text_chunks: r.text_chunks ?? null,
      peak_mb: r.memory.peak_mb,
      busy_threads: r.gen_threads?.busy ?? null,
      threads: r.n_threads ?? null,
      multithread: r.multithread ?? null,
      build: r.multithread ? "wllama.wasm (JSPI+Memory64), pthreads on" : "wllama.wasm (JSPI+Memory64), pthreads off",
      finish_reason: r.finish_reason ?? null,
      generate_wall_s: r.generate_wall_s ?? null,
      ctx: r.ctx,
      timings: r.timings,
      gen_threads: r.gen_threads,
      memory: r.memory,
      thread_log: threadLines,
      text_head: r.text_head,
    };
    if (r.error) {
      // The first error line of llama.cpp's own log usually says why.
      const cause = (r.logs || []).find((l) => /^error: /.test(l) && !/Stack trace|^error: \{\}$/.test(l));
      out.error = cause ? `${r.error}; llama.cpp: ${cause.slice(7).trim()}` : r.error;
      // The native log lines that explain a failure (llama.cpp prints the reason before throwing).
      out.log_tail = [...(r.logs || []).filter((l) => /error|fail|unknown|invalid|unsupported|abort/i.test(l)).slice(-15), ...(r.logs || []).slice(-15), ...logs.slice(-10)];
    }
    return out;
  });
}
