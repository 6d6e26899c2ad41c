// Embeddings per second: our engine on a BitNet-embedding file (I2_S) against @wllama/wllama's
// createEmbedding on the full-precision (F16) file of the same shape, side by side in the same headless
// Chromium, at each thread count, for short and long inputs:
//
//   node bench/embeddings.mjs --model-i2s FILE.gguf --model-f16 FILE.gguf [--threads 1,2] [--runs 3]
//        [--short-tokens 32] [--long-tokens 512] [--short-batch 8] [--long-batch 2]
//        [--engines ours,wllama] [--wllama-pooling file|last|mean|cls|none|unspecified] [--wllama-parallel 1]
//        [--json out.json] [--timeout-s 3600] [--verbose]
//
// The inputs: deterministic plain English, cut so that each input is exactly --short-tokens or
// --long-tokens tokens as our engine counts them (the tokenizer's own text plus the EOS the file asks
// for); a fresh Chromium with our engine builds them once, before the runs (tokenize, detokenize a
// prefix, tokenize again). Every input of a batch is a different text. wllama's count of each length
// (its `usage.prompt_tokens`) is reported beside ours.
//
// For each T in --threads and each of --runs runs, interleaved (ours, wllama, ours, wllama, ...), each
// engine gets a fresh Chromium (bench/engines/browser.mjs; the page is crossOriginIsolated for
// threads), loads its file from the bench's server (bench/engines/server.mjs) with T threads (timed:
// the load), embeds one short and one long input as a warm-up, then a batch of --short-batch short
// inputs in one request and a batch of --long-batch long inputs in one request, each timed by the
// page's clock around the call. Embeddings/s is the batch over that time, prompt tokens/s the
// request's `usage.prompt_tokens` over it. The table has the median (min–max) of the runs and the ratio
// ours/wllama of the medians. Each answer is checked: as many vectors as inputs, every value finite,
// and (ours) n_embd values of unit norm.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpuInfo, spread } from "./bound/bandwidth.mjs";
import { chromiumVersion, inFreshChromium, memoryMonitor } from "./engines/browser.mjs";
import { waitForOurLib } from "./engines/ours.mjs";
import { sentences } from "./engines/sentences.mjs";
import { WLLAMA_DIR } from "./engines/wllama.mjs";
import { startServer } from "./engines/server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const log = (...a) => console.error("[bench-embeddings]", ...a);

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

function usage(msg) {
  if (msg) console.error(`error: ${msg}\n`);
  console.error(`usage: node bench/embeddings.mjs --model-i2s FILE.gguf --model-f16 FILE.gguf [--threads 1,2] [--runs 3]
       [--short-tokens 32] [--long-tokens 512] [--short-batch 8] [--long-batch 2] [--engines ours,wllama]
       [--wllama-pooling file|last|mean|cls|none|unspecified] [--wllama-parallel 1] [--inspect BIN]
       [--json out.json] [--timeout-s 3600] [--verbose]
   or: node bench/embeddings.mjs --report out.json   (the tables of a report written with --json, again)`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { modelI2s: null, modelF16: null, threads: [1, 2], runs: 3, shortTokens: 32, longTokens: 512, shortBatch: 8, longBatch: 2,
    engines: ["ours", "wllama"], wllamaPooling: "file", wllamaParallel: 1, inspect: null, json: null, timeoutS: 3600, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    const int = () => parseInt(val(), 10);
    if (a === "--model-i2s") o.modelI2s = val();
    else if (a === "--model-f16") o.modelF16 = val();
    else if (a === "--threads") o.threads = val().split(",").map((s) => parseInt(s, 10));
    else if (a === "--runs") o.runs = int();
    else if (a === "--short-tokens") o.shortTokens = int();
    else if (a === "--long-tokens") o.longTokens = int();
    else if (a === "--short-batch") o.shortBatch = int();
    else if (a === "--long-batch") o.longBatch = int();
    else if (a === "--engines") o.engines = val().split(",");
    else if (a === "--wllama-pooling") o.wllamaPooling = val();
    else if (a === "--wllama-parallel") o.wllamaParallel = int();
    else if (a === "--inspect") o.inspect = val();
    else if (a === "--json") o.json = val();
    else if (a === "--report") o.report = val();
    else if (a === "--timeout-s") o.timeoutS = parseFloat(val());
    else if (a === "--verbose") o.verbose = true;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  if (o.report) return o; // only prints the tables of a report written with --json
  if (o.engines.some((e) => !["ours", "wllama"].includes(e))) usage("--engines takes ours, wllama");
  if (o.engines.includes("ours") && !o.modelI2s) usage("--model-i2s is required for ours");
  if (o.engines.includes("wllama") && !o.modelF16) usage("--model-f16 is required for wllama");
  // Our engine builds the inputs (its tokenizer), so it needs its file even when only wllama runs.
  if (!o.modelI2s) usage("--model-i2s is required: our engine's tokenizer builds the inputs");
  for (const f of [o.modelI2s, o.modelF16]) if (f && !fs.existsSync(f)) usage(`no such file: ${f}`);
  if (o.threads.some((t) => !(t >= 1))) usage("--threads takes positive integers, e.g. 1,2");
  if (!(o.runs >= 1)) usage("--runs takes a positive integer");
  if (!(o.shortTokens >= 2 && o.longTokens >= 2 && o.shortBatch >= 1 && o.longBatch >= 1)) usage("token counts must be at least 2, batches at least 1");
  if (!(o.wllamaParallel >= 1)) usage("--wllama-parallel takes a positive integer");
  o.inspect ??= fs.existsSync(path.join(ROOT, "target/release/bitnet-web")) ? path.join(ROOT, "target/release/bitnet-web") : null;
  return o;
}

// llama.cpp's enum llama_pooling_type, as a GGUF's `<arch>.pooling_type` stores it, by wllama's names.
const POOLING = ["none", "mean", "cls", "last", "rank"];

/** The file's architecture, layers, width and pooling, from `bitnet-web inspect --json` (null without the CLI). */
function fileInfo(bin, file) {
  if (!bin || !file) return null;
  try {
    const info = JSON.parse(execFileSync(bin, ["inspect", "--json", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 28 }));
    const meta = Object.fromEntries(info.metadata.map((m) => [m.key, m.value]));
    const arch = meta["general.architecture"];
    const pooling = meta[`${arch}.pooling_type`];
    const types = [...new Set(info.tensors.filter((t) => /\.(attn_q|ffn_up)\.weight$/.test(t.name)).map((t) => t.type ?? t.ggml_type))];
    return { arch, layers: meta[`${arch}.block_count`], n_embd: meta[`${arch}.embedding_length`], pooling_type: pooling ?? null,
      pooling: pooling != null ? POOLING[pooling] ?? `type ${pooling}` : null, add_eos: meta["tokenizer.ggml.add_eos_token"] ?? null,
      add_bos: meta["tokenizer.ggml.add_bos_token"] ?? null, projection_types: types, bytes: info.file_len };
  } catch (e) {
    log(`inspect ${path.basename(file)}: ${String(e.message).split("\n")[0]}`);
    return null;
  }
}

/**
 * Our built package as this run loads it: the newest modification time under www/lib (the JS and the four
 * wasm builds). Each run of ours records it, so a rebuild during a long bench shows in the report.
 */
function libStamp() {
  let newest = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  try {
    walk(path.join(ROOT, "www/lib"));
  } catch {
    return null;
  }
  return newest ? new Date(newest).toISOString() : null;
}

// ---------------------------------------------------------------------------------------------
// The inputs: exactly N tokens each (our engine's count, specials included), every one a different text
// ---------------------------------------------------------------------------------------------

/** Deterministic plain English: `count` sentences, a different text for each `seed`. */
const text = (seed, count) => sentences((seed * 2654435761 + 12345) >>> 0, count).join(" ");

/**
 * In a fresh Chromium with our engine: `{ short: [texts], long: [texts], specials }`, each text
 * `tokens` tokens long as our engine embeds it (its tokenize, plus the specials an embedding adds,
 * measured on a probe). `count` texts per length: the batch and one for the warm-up.
 */
async function buildInputs(o, srv) {
  const want = [
    { name: "short", tokens: o.shortTokens, count: o.shortBatch + 1 },
    { name: "long", tokens: o.longTokens, count: o.longBatch + 1 },
  ].map((w, k) => ({ ...w, bases: Array.from({ length: w.count }, (_, i) => text(1000 * (k + 1) + i, Math.ceil(w.tokens / 4) + 8)) }));
  return inFreshChromium("ours-inputs", o.timeoutS, o.verbose, async (page) => {
    await page.goto(`${srv.base}/__bench.html`);
    return page.evaluate(async ({ url, want, ctx }) => {
      const { createEngine } = await import("/lib/index.js");
      const engine = await createEngine({ model: url, threads: 1, contextLength: ctx });
      try {
        const probe = "A short probe.";
        const specials = (await engine.embeddings.create({ input: [probe] })).usage.prompt_tokens - (await engine.tokenize(probe)).length;
        const out = { specials };
        for (const w of want) {
          const n = w.tokens - specials;
          out[w.name] = [];
          for (const base of w.bases) {
            // A prefix of k tokens, trimmed, can come back as k - 1 tokens (this vocabulary has a space
            // token of its own before some words): try k = n, n + 1, n - 1, n + 2, ... and, if no k gives
            // exactly n, the same text from its next word on.
            let text = null;
            const words = base.split(" ");
            for (let drop = 0; drop < 8 && text == null; drop++) {
              const ids = await engine.tokenize(words.slice(drop).join(" "));
              if (ids.length < n + 16) throw new Error(`a base text of ${ids.length} tokens is shorter than ${n + 16}`);
              for (const k of Array.from({ length: 16 }, (_, j) => n + (j % 2 ? (j + 1) / 2 : -j / 2)).filter((k) => k > 0)) {
                const t = (await engine.detokenize(ids.slice(0, k))).trim();
                if ((await engine.tokenize(t)).length === n) {
                  text = t;
                  break;
                }
              }
            }
            if (text == null) throw new Error(`could not cut a text to ${n} tokens`);
            out[w.name].push(text);
          }
        }
        return out;
      } finally {
        await engine.unload();
      }
    }, { url: srv.fileUrl(0), want: want.map(({ name, tokens, bases }) => ({ name, tokens, bases })), ctx: o.ctx });
  });
}

// ---------------------------------------------------------------------------------------------
// One engine's run: load, warm-up, the short batch, the long batch (all in one fresh Chromium)
// ---------------------------------------------------------------------------------------------

/**
 * In the page: time `embed(texts)` and check its answer. `self.__embed` is the engine's call (ours or
 * wllama), answering OpenAI's shape. Defined as a string so both engines' pages share it.
 */
const PAGE_HELPERS = `
self.__measure = async (texts, nEmbd) => {
  const t0 = performance.now();
  const out = await self.__embed(texts);
  const wall_s = (performance.now() - t0) / 1000;
  const vecs = out.data.map((d) => d.embedding);
  const norms = vecs.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
  return {
    wall_s,
    inputs: texts.length,
    prompt_tokens: out.usage?.prompt_tokens ?? null,
    check: {
      vectors: vecs.length,
      dims: [...new Set(vecs.map((v) => (Array.isArray(v) ? v.length : -1)))],
      nested: vecs.some((v) => Array.isArray(v[0])),
      finite: vecs.every((v) => Array.isArray(v) && v.every((x) => Number.isFinite(x))),
      norm_min: Math.min(...norms),
      norm_max: Math.max(...norms),
      n_embd: nEmbd,
    },
  };
};`;

async function runEngine(engine, o, srv, T, inputs, info) {
  return inFreshChromium(engine, o.timeoutS, o.verbose, async (page, logs) => {
    await page.goto(`${srv.base}/__bench.html`);
    await page.evaluate(PAGE_HELPERS);
    const mon = memoryMonitor();
    const r = { engine, threads_requested: T };
    try {
      if (engine === "ours") {
        Object.assign(r, await page.evaluate(async ({ url, T, ctx }) => {
          const { createEngine } = await import("/lib/index.js");
          const t0 = performance.now();
          const e = (self.__engine = await createEngine({ model: url, threads: T, contextLength: ctx }));
          const load_s = (performance.now() - t0) / 1000;
          self.__embed = (input) => e.embeddings.create({ input });
          return { crossOriginIsolated: self.crossOriginIsolated, load_s, info: e.info };
        }, { url: srv.fileUrl(0), T, ctx: o.ctx }));
      } else {
        const loaded = await page.evaluate(async ({ url, T, ctx, pooling, parallel }) => {
          const wl = await import("/wllama/esm/index.js");
          const logs = [];
          const keep = (level) => (...a) => logs.push(`${level}: ${a.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" ")}`);
          const res = (self.__r = { crossOriginIsolated: self.crossOriginIsolated, logs });
          try {
            const w = (self.__w = new wl.Wllama({ default: "/wllama/esm/wasm/wllama.wasm" },
              { logger: { debug: keep("debug"), log: keep("log"), warn: keep("warn"), error: keep("error") }, parallelDownloads: 1 }));
            const t0 = performance.now();
            await w.loadModelFromUrl(url, {
              useCache: false, // downloaded again into the fresh profile, as bench/run.mjs loads it
              n_ctx: ctx,
              // llama.cpp's server embeds an input in one physical batch: it must hold the longest input.
              n_batch: ctx,
              n_ubatch: ctx,
              n_threads: T,
              n_gpu_layers: 0, // the wasm CPU path
              n_parallel: parallel,
              embeddings: true,
              ...(pooling ? { pooling_type: pooling } : {}),
              cache_type_k: "f32", // as ours and bench/run.mjs
              cache_type_v: "f32",
            });
            res.load_s = (performance.now() - t0) / 1000;
            const info = w.getLoadedContextInfo();
            res.ctx = { n_ctx: info.n_ctx, n_batch: info.n_batch, n_ubatch: info.n_ubatch, n_layer: info.n_layer, n_embd: info.n_embd, add_bos_token: info.add_bos_token, add_eos_token: info.add_eos_token };
            res.multithread = w.isMultithread();
            res.n_threads = w.getNumThreads();
            // wllama 3.13 resolves loadModel even when llama.cpp answered success: false: an empty context shows it.
            if (!info.n_ctx || !info.n_layer) throw new Error("llama.cpp failed to load the model (wllama's loadModel resolved anyway)");
            self.__embed = (input) => w.createEmbedding({ input });
            return true;
          } catch (e) {
            res.error = `${e?.name || "Error"}: ${e?.message || e}${e?.type ? ` (type ${e.type})` : ""}`;
            return false;
          }
        }, { url: srv.fileUrl(1), T, ctx: o.ctx, pooling: o.wllamaPoolingResolved, parallel: o.wllamaParallel });
        Object.assign(r, await page.evaluate(() => { const { logs, ...rest } = self.__r; return rest; }));
        if (!loaded) {
          const wlLogs = await page.evaluate(() => self.__r.logs);
          r.log_tail = [...wlLogs.filter((l) => /error|fail|unknown|invalid|unsupported|abort|pooling|embd/i.test(l)).slice(-20), ...wlLogs.slice(-10)];
          const cause = wlLogs.find((l) => /^error: /.test(l) && !/Stack trace|^error: \{\}$/.test(l));
          if (cause) r.error += `; llama.cpp: ${cause.slice(7).trim()}`;
          return r;
        }
      }
      const nEmbd = info?.n_embd ?? null;
      // Warm-up: one input of each length (not timed into the figures; its token counts are the check).
      r.warmup = {
        short: await page.evaluate(({ t, n }) => self.__measure([t], n), { t: inputs.short[inputs.short.length - 1], n: nEmbd }),
        long: await page.evaluate(({ t, n }) => self.__measure([t], n), { t: inputs.long[inputs.long.length - 1], n: nEmbd }),
      };
      mon.mark("m0");
      r.short = await page.evaluate(({ ts, n }) => self.__measure(ts, n), { ts: inputs.short.slice(0, o.shortBatch), n: nEmbd });
      r.long = await page.evaluate(({ ts, n }) => self.__measure(ts, n), { ts: inputs.long.slice(0, o.longBatch), n: nEmbd });
      mon.mark("m1");
      if (engine === "ours") {
        const s = await page.evaluate(() => self.__engine.refreshStats());
        r.threads = s.threads;
        r.kernel = s.kernel;
        r.wasm_mb = s.memory_bytes != null ? s.memory_bytes / 2 ** 20 : null;
        await page.evaluate(() => self.__engine.unload());
      } else {
        if (o.verbose) for (const l of (await page.evaluate(() => self.__r.logs)) || []) console.error(`  [wllama] ${l}`);
        r.threads = r.n_threads;
        await page.evaluate(async () => { try { await self.__w.exit(); } catch { /* already gone */ } });
      }
    } catch (e) {
      r.error = String(e?.message || e).split("\n")[0];
      r.log_tail = logs.slice(-10);
    } finally {
      r.busy = mon.threads("m0", "m1");
      r.memory = mon.stop();
      r.peak_mb = r.memory.peak_mb;
    }
    for (const k of ["short", "long"]) {
      const m = r[k];
      if (!m) continue;
      m.embeddings_per_s = m.inputs / m.wall_s;
      m.tokens_per_s = m.prompt_tokens != null ? m.prompt_tokens / m.wall_s : null;
      m.tokens_per_input = m.prompt_tokens != null ? m.prompt_tokens / m.inputs : null;
      m.problems = problems(engine, m.check, m.inputs);
    }
    return r;
  });
}

/** What is wrong with an answer: the vector count, a nested (unpooled) answer, non-finite values; ours also n_embd values of unit norm. */
function problems(engine, c, inputs) {
  const p = [];
  if (c.vectors !== inputs) p.push(`${c.vectors} vectors for ${inputs} inputs`);
  if (c.nested) p.push("per-token vectors (no pooling)");
  if (!c.finite) p.push("non-finite values");
  if (engine === "ours") {
    if (c.n_embd && !(c.dims.length === 1 && c.dims[0] === c.n_embd)) p.push(`dims ${c.dims.join("/")} (want ${c.n_embd})`);
    if (!(Math.abs(c.norm_min - 1) < 1e-3 && Math.abs(c.norm_max - 1) < 1e-3)) p.push(`norms ${c.norm_min}–${c.norm_max}`);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

// Three significant figures below 1 (wllama's long inputs run at a few thousandths of an embedding a second).
const fmt = (x, d = 2) => (x == null || Number.isNaN(x) ? "—" : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) < 1 && x !== 0 ? x.toPrecision(3) : x.toFixed(d));
const cell = (s, d) => (!s?.n ? "—" : s.n > 1 ? `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : fmt(s.median, d));
const ratio = (a, b) => (a?.median != null && b?.median ? `${(a.median / b.median).toFixed(2)}×` : "—");

function table(results, o) {
  const lines = ["| T | input | metric | ours (I2_S) | wllama (F16) | ours/wllama |", "|---|---|---|---|---|---|"];
  const summary = [];
  const errors = [];
  for (const T of o.threads) {
    const of = (e) => results.filter((r) => r.engine === e && r.threads_requested === T);
    const ok = (e) => of(e).filter((r) => !r.error);
    const s = (e, f) => spread(ok(e).map(f));
    const row = (input, label, f, d) => {
      const [a, b] = [s("ours", f), s("wllama", f)];
      lines.push(`| ${T} | ${input} | ${label} | ${cell(a, d)} | ${cell(b, d)} | ${ratio(a, b)} |`);
      return { ours: a, wllama: b };
    };
    const sum = { threads: T };
    sum.load_s = row("—", "load s (lower is better)", (r) => r.load_s, 2);
    for (const [k, n] of [["short", o.shortBatch], ["long", o.longBatch]]) {
      const tok = (e) => [...new Set(ok(e).map((r) => r[k]?.tokens_per_input).filter((x) => x != null))].map((x) => fmt(x, 1)).join("/") || "—";
      const name = `${k === "short" ? o.shortTokens : o.longTokens} tok × ${n}`;
      sum[k] = {
        embeddings_per_s: row(name, "embeddings/s", (r) => r[k]?.embeddings_per_s, 2),
        tokens_per_s: row(name, "prompt tokens/s", (r) => r[k]?.tokens_per_s, 1),
        tokens_per_input: { ours: tok("ours"), wllama: tok("wllama") },
      };
      lines.push(`| ${T} | ${name} | tokens per input (usage.prompt_tokens ÷ inputs) | ${sum[k].tokens_per_input.ours} | ${sum[k].tokens_per_input.wllama} |  |`);
    }
    sum.peak_mb = row("—", "peak MB (renderer VmHWM)", (r) => r.peak_mb, 0);
    const thr = (e) => {
      const rs = ok(e);
      if (!rs.length) return "—";
      const busy = [...new Set(rs.map((r) => r.busy?.busy).filter((x) => x != null))].join("/");
      // The page's CPU time while embedding over T × the wall time: well under 100 % means the engine's
      // threads waited (for each other, or for a core another job held).
      const share = rs.map((r) => (r.busy?.wall_s ? (100 * r.busy.cpu_s) / (T * r.busy.wall_s) : null)).filter((x) => x != null);
      const extra = e === "ours" ? `, ${rs[0].kernel ?? "?"}` : `, ${rs[0].multithread ? "pthreads" : "no pthreads"}`;
      return `${rs[0].threads ?? "?"} thr (${busy || "?"} busy; CPU ${share.map((x) => x.toFixed(0)).join("/") || "?"} % of T × wall)${extra}, ${rs.length}/${of(e).length} runs`;
    };
    lines.push(`| ${T} | — | threads (busy while embedding; CPU time ÷ T × wall, per run), build, runs | ${thr("ours")} | ${thr("wllama")} |  |`);
    for (const r of results.filter((r) => r.threads_requested === T)) {
      if (r.error) errors.push(`- T=${T} ${r.engine} run ${r.run}: ${r.error}`);
      for (const k of ["short", "long"]) if (r[k]?.problems?.length) errors.push(`- T=${T} ${r.engine} run ${r.run} ${k}: ${r[k].problems.join("; ")}`);
    }
    summary.push(sum);
  }
  if (errors.length) lines.push("", "Errors and failed checks:", ...errors);
  return { text: lines.join("\n"), summary };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const o = parseArgs(process.argv.slice(2));
if (o.report) {
  printReport(JSON.parse(fs.readFileSync(o.report, "utf8")));
  process.exit(0);
}
const started = Date.now();
o.ctx = Math.max(512, Math.ceil((Math.max(o.shortTokens, o.longTokens) + 64) / 256) * 256);
const info = { i2s: fileInfo(o.inspect, o.modelI2s), f16: fileInfo(o.inspect, o.modelF16) };
// The pooling wllama loads with: the F16 file's own (by name, as a user passes it), unless told.
o.wllamaPoolingResolved = o.wllamaPooling === "file" ? info.f16?.pooling ?? "last" : o.wllamaPooling;
for (const [k, f] of Object.entries(info)) if (f) log(`${k}: arch ${f.arch}, ${f.layers} layers, width ${f.n_embd}, projections ${f.projection_types.join("/")}, pooling ${f.pooling} (${f.pooling_type}), add_eos ${f.add_eos}`);
const wllamaVersion = JSON.parse(fs.readFileSync(path.join(WLLAMA_DIR, "package.json"), "utf8")).version;
const srv = await startServer([o.modelI2s, o.modelF16 ?? o.modelI2s]);
process.on("SIGINT", () => {
  srv.server.close();
  process.exit(130);
});

const results = [];
let inputs;
try {
  log(`building the inputs (${o.shortBatch}+1 of ${o.shortTokens} tokens, ${o.longBatch}+1 of ${o.longTokens}) with our engine's tokenizer ...`);
  await waitForOurLib();
  inputs = await buildInputs(o, srv);
  log(`  the embedding adds ${inputs.specials} special token(s); a short input is ${inputs.short[0].length} chars, a long one ${inputs.long[0].length}`);
  const nEmbd = info.i2s?.n_embd ?? null;
  for (const T of o.threads) {
    for (let run = 1; run <= o.runs; run++) {
      for (const engine of o.engines) {
        log(`T=${T} run ${run}/${o.runs} ${engine} ...`);
        const t0 = Date.now();
        const load0 = os.loadavg()[0];
        let r;
        if (engine === "ours") await waitForOurLib();
        const lib = engine === "ours" ? libStamp() : undefined;
        try {
          r = await runEngine(engine, o, srv, T, inputs, { n_embd: engine === "ours" ? nEmbd : info.f16?.n_embd ?? nEmbd });
        } catch (e) {
          r = { engine, threads_requested: T, error: String(e?.message || e).split("\n")[0] };
        }
        r.run = run;
        if (lib !== undefined) r.www_lib = lib;
        r.run_s = (Date.now() - t0) / 1000;
        r.loadavg_1m = [load0, os.loadavg()[0]];
        results.push(r);
        const m = (k) => r[k] ? `${k} ${fmt(r[k].embeddings_per_s)} emb/s ${fmt(r[k].tokens_per_s, 1)} tok/s (${r[k].prompt_tokens} tok, norms ${r[k].check.norm_min.toFixed(4)}–${r[k].check.norm_max.toFixed(4)}${r[k].problems.length ? "; " + r[k].problems.join("; ") : ""})` : "";
        log(`  ${engine}: ${r.error ? `ERROR ${r.error}` : `load ${fmt(r.load_s)} s; ${m("short")}; ${m("long")}; warm-up tokens ${r.warmup?.short.prompt_tokens}/${r.warmup?.long.prompt_tokens}; busy ${r.busy?.busy}`}; ` +
          `load avg ${r.loadavg_1m.map((x) => x.toFixed(1)).join("→")}; ${r.run_s.toFixed(0)} s`);
        if (r.error && r.log_tail) for (const l of r.log_tail) log(`    ${l}`);
      }
    }
  }
} finally {
  srv.server.close();
}

const cpu = cpuInfo();
const { wllamaPoolingResolved, ...opts } = o;
const report = {
  date: new Date().toISOString(),
  host: { cpus: os.cpus().length, cpu, mem_gb: os.totalmem() / 2 ** 30, platform: `${os.platform()} ${os.release()}` },
  chromium: chromiumVersion(),
  wllama_version: wllamaVersion,
  options: { ...opts, wllama_pooling: wllamaPoolingResolved },
  files: info,
  inputs: inputs && { specials: inputs.specials, short: inputs.short, long: inputs.long },
  total_s: (Date.now() - started) / 1000,
  summary: table(results, opts).summary,
  results,
};
printReport(report);
if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");

/** The header and the table of a report (this run's, or one read back with --report). */
function printReport(report) {
  const { options: o, files: info, inputs, results, host: { cpu } } = report;
  console.log(`\n## Embeddings: bitnet-web vs @wllama/wllama ${report.wllama_version} createEmbedding — ${report.chromium ?? "Chromium"}, ${report.host.cpus} CPUs\n`);
  console.log(`CPU: ${cpu.model_name ?? "?"}${cpu.family ? ` (family ${cpu.family}, model ${cpu.model})` : ""}; ${report.date}\n`);
  const desc = (f, file) => `${path.basename(file)}${f ? ` (${f.arch}, ${f.layers} layers, width ${f.n_embd}, ${f.projection_types.join("/")} projections, ${(f.bytes / 1e9).toFixed(2)} GB, pooling ${f.pooling})` : ""}`;
  console.log(`ours: ${desc(info.i2s, o.modelI2s)}; wllama: ${o.modelF16 ? desc(info.f16, o.modelF16) : "—"}, loaded with embeddings: true, pooling_type ${o.wllama_pooling}, n_parallel ${o.wllamaParallel}, n_ctx = n_batch = n_ubatch = ${o.ctx}.\n`);
  console.log(`Inputs: ${o.shortBatch} of ${o.shortTokens} tokens in one request, ${o.longBatch} of ${o.longTokens} in another (our count, ${inputs?.specials ?? "?"} special token(s) included; wllama's in its row), after a warm-up of one of each; ` +
    `${o.runs} run${o.runs > 1 ? "s" : ""} per engine, interleaved, each in a fresh Chromium; cells are median (min–max); total ${report.total_s.toFixed(0)} s\n`);
  const stamps = [...new Set(results.filter((r) => r.www_lib).map((r) => r.www_lib))];
  if (stamps.length > 1) console.log(`**www/lib changed during the run** (newest file: ${stamps.join(", ")}): our runs did not all load the same build.\n`);
  console.log(table(results, o).text);
  console.log("\n```json\n" + JSON.stringify({ ...report, inputs: undefined, results: undefined }, null, 2) + "\n```");
}
