// Side-by-side benchmark of our engine and @wllama/wllama (llama.cpp in wasm) in the same headless
// Chromium, on the same GGUF served over HTTP, plus (optionally) our native CLI:
//
//   node bench/run.mjs --model FILE.gguf [--ours-only FILE2.gguf ...] [--peer-model F16.gguf] [--threads 1,2]
//                      [--prompt-tokens 128] [--gen-tokens 128] [--native target/release/bitnet-web]
//                      [--json out.json] [--engines ours,wllama] [--kv-f16] [--lm-head int8|shortlist|stored] [--embeddings int8] [--no-cache] [--simd auto|simd128]
//                      [--llama-bench target/llama-cpp/build/bin/llama-bench] [--runs 3] [--bandwidth-mib 1024]
//                      [--bandwidth-passes 5] [--inspect target/release/bitnet-web] [--timeout-s 3600] [--verbose]
//
// For each thread count and each engine a fresh Chromium (new temp profile) loads the model from the
// URL (ours as a first visit does by default: downloaded and kept offline, the token embedding left
// in the kept file; --no-cache: not kept, the embedding held in memory), runs one raw prompt of
// --prompt-tokens tokens, then generates --gen-tokens tokens greedily with EOS ignored. It reports
// load time, prefill and decode tok/s, and the peak RSS (VmHWM) of the Chromium renderer process
// hosting the page and its workers: the median of --runs runs, with
// their spread. Each run also measures the read bandwidth (natively and in wasm in Chromium, at the
// same thread count), and decode is reported against the bound that bandwidth and the model's bytes
// per token give (bench/bound). --peer-model gives wllama and llama-bench a file of their own (the F16
// model of the same shape: `make bench-f16`, bitnet.cpp's "over F16" comparison). See bench/README.md.
//
// The engines' drivers are in bench/engines/ (ours.mjs, wllama.mjs, native.mjs; browser.mjs: the fresh
// Chromium and the renderer sampling the browser ones share; server.mjs: the bench's HTTP server); this
// file parses the options, runs them and the bandwidth at each thread count, and writes the report.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NATIVE_BIN, WASM_FILE, cpuInfo, flagLine, nativeBandwidth, spread, summarize, wasmBandwidth } from "./bound/bandwidth.mjs";
import { bytesPerToken, bytesTable, oursBytes, storedBytesPerToken } from "./bound/bytes.mjs";
import { chromiumVersion, inFreshChromium } from "./engines/browser.mjs";
import { runOurs } from "./engines/ours.mjs";
import { sentences } from "./engines/sentences.mjs";
import { WLLAMA_DIR, runWllama } from "./engines/wllama.mjs";
import { startServer } from "./engines/server.mjs";
import { nativeHelp, runNative, runLlamaCpp } from "./engines/native.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const log = (...a) => console.error("[bench]", ...a);

/**
 * The GPU backend's runs: in Chromium (WebGPU) and natively (wgpu), with the adapter, and what the
 * GPU path reads per token (every ternary weight, the head as stored, the KV cache: `inspect`'s
 * bytes for the stored head) with the decode bound that implies at a few memory bandwidths. A
 * software renderer's figures are labelled as such: they measure a CPU emulating a GPU.
 */
function gpuTable(results, o, bytes) {
  const rows = results.filter((r) => (r.engine === "webgpu" || r.engine === "native-gpu") && !r.error && !r.skipped);
  const failed = results.filter((r) => (r.engine === "webgpu" || r.engine === "native-gpu") && r.error);
  if (!rows.length && !failed.length) return null;
  const software = (a) => /swiftshader|llvmpipe|lavapipe|\(Cpu\)/i.test(a ?? "");
  const lines = ["| model | engine | adapter | load s | prefill tok/s | decode tok/s | wasm MB | GPU path MB/token | decode bound at 100 / 400 / 1000 GB/s |", "|---|---|---|---|---|---|---|---|---|"];
  for (const f of [...new Set(rows.map((r) => r.file))]) {
    const b = bytes.find((x) => x.file === f);
    const per = b ? oursBytes(b, "stored").total : null;
    for (const engine of ["webgpu", "native-gpu"]) {
      const rs = rows.filter((r) => r.file === f && r.engine === engine);
      if (!rs.length) continue;
      const a = rs[0].adapter ?? "?";
      const label = software(a) ? `${a} — software renderer, not GPU speed` : a;
      const m = (k) => { const v = rs.map((r) => r[k]).filter((x) => x != null).sort((x, y) => x - y); return v.length ? v[v.length >> 1] : null; };
      const bound = per ? [100, 400, 1000].map((g) => ((g * 1e9) / per).toFixed(0)).join(" / ") : "—";
      lines.push(`| ${path.basename(f)} | ${engine === "webgpu" ? "ours, WebGPU in Chromium" : "ours, native wgpu"} | ${label} | ${fmt(m("load_s"))} | ${fmt(m("prefill_tok_s"), 2)} | ${fmt(m("decode_tok_s"), 2)} | ${engine === "webgpu" ? fmt(m("wasm_mb"), 0) : "—"} | ${per ? (per / 1e6).toFixed(0) : "—"} | ${bound} |`);
    }
  }
  for (const r of failed) lines.push(`- ${path.basename(r.file)} ${r.engine} run ${r.run}: ${r.error}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

function usage(msg) {
  if (msg) console.error(`error: ${msg}\n`);
  console.error(`usage: node bench/run.mjs --model FILE.gguf [--ours-only FILE2.gguf ...] [--peer-model FILE] [--threads 1,2]
       [--prompt-tokens 128] [--gen-tokens 128] [--native BIN] [--json out.json]
       [--engines ours,wllama,webgpu,native-gpu] [--gpu-prompt-tokens 16] [--gpu-gen-tokens 8] [--kv-f16] [--lm-head int8|shortlist|stored] [--embeddings int8] [--no-cache] [--simd auto|simd128] [--llama-bench BIN]
       [--runs 3] [--bandwidth-mib 1024] [--bandwidth-passes 5] [--inspect BIN] [--timeout-s 3600] [--verbose]`);
  process.exit(2);
}

/**
 * ours: our engine in Chromium on the CPU; wllama: llama.cpp's wasm build beside it; webgpu: our
 * engine on Chromium's WebGPU (with --enable-unsafe-webgpu; here SwiftShader, a software renderer);
 * native-gpu: our CLI with --device gpu (wgpu; here lavapipe, a software renderer). The GPU
 * engines run once per file at the first thread count, on a shorter prompt and answer
 * (--gpu-prompt-tokens, --gpu-gen-tokens): a software renderer is slow, and its figures are labelled
 * as such, never as GPU speed. Only the CPU engines run unless --engines names a GPU one (`make
 * bench-gpu`): on a machine without a GPU, SwiftShader and lavapipe took most of a `make bench` run
 * (decode at 0.03 tok/s) and measured nothing about speed (issue 33).
 */
const ENGINES = ["ours", "wllama", "webgpu", "native-gpu"];

function parseArgs(argv) {
  const o = { model: null, oursOnly: [], threads: [1, 2], promptTokens: 128, genTokens: 128, native: null, llamaBench: null, json: null,
    engines: ["ours", "wllama"], gpuPromptTokens: 16, gpuGenTokens: 8, kvF16: false, lmHead: undefined, embeddings: undefined, cache: true, simd: "auto", timeoutS: 3600, verbose: false,
    runs: 3, bandwidthMib: 1024, bandwidthPasses: 5, inspect: null, peerModel: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--model") o.model = val();
    else if (a === "--peer-model") o.peerModel = val();
    else if (a === "--ours-only") {
      // One or more files, up to the next flag.
      while (i + 1 < argv.length && !argv[i + 1].startsWith("--")) o.oursOnly.push(argv[++i]);
    } else if (a === "--threads") o.threads = val().split(",").map((s) => parseInt(s, 10));
    else if (a === "--prompt-tokens") o.promptTokens = parseInt(val(), 10);
    else if (a === "--gen-tokens") o.genTokens = parseInt(val(), 10);
    else if (a === "--native") o.native = val();
    else if (a === "--llama-bench") o.llamaBench = val();
    else if (a === "--json") o.json = val();
    else if (a === "--engines") o.engines = val().split(",");
    else if (a === "--gpu-prompt-tokens") o.gpuPromptTokens = parseInt(val(), 10);
    else if (a === "--gpu-gen-tokens") o.gpuGenTokens = parseInt(val(), 10);
    else if (a === "--kv-f16") o.kvF16 = true;
    else if (a === "--lm-head") o.lmHead = val();
    else if (a === "--embeddings") o.embeddings = val();
    else if (a === "--no-cache") o.cache = false;
    else if (a === "--simd") o.simd = val();
    else if (a === "--timeout-s") o.timeoutS = parseFloat(val());
    else if (a === "--runs") o.runs = parseInt(val(), 10);
    else if (a === "--bandwidth-mib") o.bandwidthMib = parseInt(val(), 10);
    else if (a === "--bandwidth-passes") o.bandwidthPasses = parseInt(val(), 10);
    else if (a === "--inspect") o.inspect = val();
    else if (a === "--verbose") o.verbose = true;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  if (!o.model) usage("--model is required");
  for (const f of [o.model, ...o.oursOnly, ...(o.peerModel ? [o.peerModel] : [])]) if (!fs.existsSync(f)) usage(`no such file: ${f}`);
  if (o.threads.some((t) => !(t >= 1))) usage("--threads takes positive integers, e.g. 1,2");
  if (!(o.promptTokens >= 2) || !(o.genTokens >= 2)) usage("--prompt-tokens and --gen-tokens must be at least 2");
  if (o.engines.some((e) => !ENGINES.includes(e))) usage(`--engines takes ${ENGINES.join(", ")}`);
  if (!(o.runs >= 1)) usage("--runs takes a positive integer");
  if (!["auto", "simd128"].includes(o.simd)) usage("--simd takes auto or simd128");
  if (!(o.bandwidthMib >= 0) || !(o.bandwidthPasses >= 1)) usage("--bandwidth-mib takes 0 (skip) or more, --bandwidth-passes 1 or more");
  // The bytes per token come from the model file through our CLI's `inspect`.
  o.inspect ??= o.native ?? (fs.existsSync(path.join(ROOT, "target/release/bitnet-web")) ? path.join(ROOT, "target/release/bitnet-web") : null);
  return o;
}

// ---------------------------------------------------------------------------------------------
// The prompt: deterministic plain English, cut to promptTokens - 1 Llama-3 tokens (+ BOS = promptTokens)
// ---------------------------------------------------------------------------------------------

async function buildPrompt(nTokens) {
  const long = sentences(12345, 400).join(" ");
  let tok = null;
  try {
    tok = (await import("llama3-tokenizer-js")).default;
  } catch {
    // Without the tokenizer: about 1.25 tokens per word for this vocabulary of short common words.
    const words = long.split(" ").slice(0, Math.round((nTokens - 1) / 1.25));
    return { text: words.join(" "), llama3Tokens: null };
  }
  const ids = tok.encode(long, { bos: false, eos: false });
  for (let n = nTokens - 1; n > 0; n--) {
    const text = tok.decode(ids.slice(0, n)).trimEnd();
    const again = tok.encode(text, { bos: false, eos: false });
    if (again.length === nTokens - 1) return { text, llama3Tokens: again.length + 1 };
  }
  throw new Error("could not build a prompt of the requested length");
}

// ---------------------------------------------------------------------------------------------
// Read bandwidth at T threads (bench/bound): natively, and in wasm in a fresh Chromium on the bench page
// ---------------------------------------------------------------------------------------------

async function runBandwidth(o, srv, threads) {
  const opts = { mib: o.bandwidthMib, threads: [threads], passes: o.bandwidthPasses };
  const out = { threads };
  const native = path.join(ROOT, NATIVE_BIN);
  const wasm = path.join(ROOT, WASM_FILE);
  try {
    if (!fs.existsSync(native)) throw new Error(`${NATIVE_BIN} is missing (make build-bound)`);
    out.native = (await nativeBandwidth(native, { ...opts, timeoutS: o.timeoutS }))[0];
  } catch (e) {
    out.native_error = String(e.message || e);
  }
  try {
    if (!fs.existsSync(wasm)) throw new Error(`${WASM_FILE} is missing (make build-bound)`);
    out.wasm = await inFreshChromium("bandwidth", o.timeoutS, o.verbose, async (page) => {
      await page.goto(`${srv.base}/__bench.html`);
      // A browser that has just started is still busy in its other processes for a moment.
      await page.waitForTimeout(1000);
      return (await wasmBandwidth(page, { wasmUrl: "/__bandwidth.wasm", ...opts }))[0];
    });
  } catch (e) {
    out.wasm_error = String(e.message || e).split("\n")[0];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------------

const fmt = (x, d = 2) => (x == null || Number.isNaN(x) ? "—" : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(d));
const ratio = (a, b) => (a != null && b != null && b !== 0 ? `${(a / b).toFixed(2)}×` : "—");
const pct = (a, b) => (a != null && b ? `${((100 * a) / b).toFixed(0)} %` : "—");
const METRICS = ["load_s", "prefill_tok_s", "decode_tok_s", "peak_mb", "wasm_mb"];

/** One engine's runs at one T on one file: each metric's median, min and max over the runs that have it. */
function aggregate(runs) {
  if (!runs.length) return null;
  const ok = runs.filter((r) => !r.error && !r.skipped);
  const last = ok[ok.length - 1] ?? runs[runs.length - 1];
  const a = {
    engine: last.engine,
    runs: runs.length,
    ok_runs: ok.length,
    skipped: runs.every((r) => r.skipped) ? last.skipped : undefined,
    error: ok.length ? undefined : last.error,
    threads: last.threads,
    kernel: last.kernel,
    multithread: last.multithread,
    prompt_tokens: last.prompt_tokens,
    generated_tokens: last.generated_tokens,
    busy_threads: [...new Set(runs.map((r) => r.busy_threads).filter((b) => b != null))].sort((x, y) => x - y).join("/") || null,
  };
  for (const k of METRICS) a[k] = spread(runs.map((r) => r[k]));
  return a;
}

/** `median (min–max)` over the runs, or the one figure. */
function cell(a, key, d) {
  if (!a) return "—";
  if (a.skipped) return "n/a";
  const s = a[key];
  if (!s?.n) return a.error ? "**error**" : "—";
  return s.n > 1 ? `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : fmt(s.median, d);
}
const med = (a, key) => a?.[key]?.median ?? null;

function detail(a) {
  if (!a) return "—";
  if (a.skipped) return a.skipped;
  const busy = a.busy_threads ? ` (${a.busy_threads} busy)` : "";
  const runs = `, ${a.ok_runs}/${a.runs} runs`;
  if (a.engine === "ours") return `${a.threads ?? "?"} thr${busy}, ${a.kernel ?? "?"}, ${a.prompt_tokens ?? "?"}+${a.generated_tokens ?? "?"} tok${runs}`;
  if (a.engine === "wllama") return `${a.threads ?? "?"} thr${busy}, ${a.multithread ? "pthreads" : "no pthreads"}, ${a.prompt_tokens ?? "?"}+${a.generated_tokens ?? "?"} tok${runs}`;
  return `${a.threads ?? "?"} thr, ${a.kernel ?? "?"}, ${a.prompt_tokens ?? "?"}+${a.generated_tokens ?? "?"} tok${runs}`;
}

/**
 * Where our tab's memory goes, per file and thread count: the renderer's peak (VmHWM) against the
 * file, split into the renderer before the load, the wasm memory (the model's parts as the engine
 * keeps them, by bench/bound/bytes.mjs's formulas; the KV cache as used; the rest: tokenizer,
 * scratch, allocator), and what the tab held outside wasm memory at its peak.
 */
function memoryTable(results, o, bytes) {
  const mib = (x) => (x == null || !Number.isFinite(x) ? "—" : x.toFixed(0));
  const median = (xs) => spread(xs).median;
  const lines = [
    "| T | file | file MiB | peak MiB (renderer VmHWM) | peak ÷ file | renderer before the load | wasm memory | ternary weights | embedding in memory | head copy | norms | KV cache + scratch as used | rest of wasm memory | outside wasm memory at the peak |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  let any = false;
  for (const T of o.threads) {
    for (const f of [o.model, ...o.oursOnly]) {
      const runs = results.filter((r) => r.engine === "ours" && r.threads_requested === T && r.file === f && !r.error);
      if (!runs.length) continue;
      any = true;
      const fileMib = fs.statSync(f).size / 2 ** 20;
      const b = bytes.find((x) => x.file === f);
      const head = o.lmHead && o.lmHead !== "auto" ? o.lmHead : b?.auto_head;
      // int8 embeddings: the embedding becomes int8 rows (one f32 scale each), and a tied head uses them as
      // they are (plan.rs: nothing is added beside a head streamed into int8 rows).
      const int8 = o.embeddings === "int8" && b ? b.n_vocab * (b.n_embd + 4) : null;
      const part = b?.resident ? { ...b.resident, head_copy: int8 ? 0 : b.resident.head_copy[head], ...(int8 ? { embedding: int8 } : {}) } : null;
      // Left in the kept file (the default when the model is kept offline): nothing in memory.
      if (part && runs.every((r) => r.embedding_in_file)) part.embedding = 0;
      const model = part ? (part.ternary + part.embedding + part.head_copy + part.norms) / 2 ** 20 : null;
      const peak = median(runs.map((r) => r.peak_mb));
      const wasm = median(runs.map((r) => r.wasm_mb));
      const used = median(runs.map((r) => r.model_mb)); // weights + KV cache (stats().model_bytes)
      const kv = used != null && model != null ? used - model : null;
      const before = median(runs.map((r) => r.before_load_mb));
      lines.push(`| ${T} | ${path.basename(f)} | ${mib(fileMib)} | ${mib(peak)} | ${peak ? (peak / fileMib).toFixed(2) + "×" : "—"} | ${mib(before)} | ${mib(wasm)} | ` +
        `${part ? mib(part.ternary / 2 ** 20) : "—"} | ${part ? mib(part.embedding / 2 ** 20) : "—"} | ${part ? mib(part.head_copy / 2 ** 20) : "—"} | ${part ? mib(part.norms / 2 ** 20) : "—"} | ` +
        `${mib(kv)} | ${wasm != null && used != null ? mib(wasm - used) : "—"} | ${peak != null && wasm != null && before != null ? mib(peak - wasm - before) : "—"} |`);
    }
  }
  return any ? lines.join("\n") : null;
}

/**
 * The main table (medians with spreads) and the per-configuration summary for the JSON. `bound` has
 * the bandwidth summary and each file's bytes per token (either may be missing).
 */
function table(results, o, bound) {
  const lines = [];
  if (o.peerModel) lines.push(`wllama and native llama.cpp run ${path.basename(o.peerModel)} (--peer-model); ours and our CLI run the file named in each row.`, "");
  lines.push("| T | model | metric | ours (wasm) | wllama | ours/wllama | native (ours CLI) | wasm/native | native llama.cpp | ours/llama.cpp |");
  lines.push("|---|---|---|---|---|---|---|---|---|---|");
  const files = [o.model, ...o.oursOnly];
  const errors = [];
  const summary = [];
  for (const T of o.threads) {
    const gbs = (kind) => bound.bandwidth?.[kind]?.find((r) => r.threads === T)?.median ?? null;
    for (const f of files) {
      const runsOf = (engine) => results.filter((r) => r.engine === engine && r.threads_requested === T && r.file === f);
      const [ours, wl, nat, lc] = ["ours", "wllama", "native", "llama.cpp"].map((e) => aggregate(runsOf(e)));
      const name = path.basename(f);
      const rows = [
        ["load s (lower is better)", "load_s", 2],
        ["prefill tok/s (higher is better)", "prefill_tok_s", 1],
        ["decode tok/s (higher is better)", "decode_tok_s", 2],
        ["peak MB (renderer VmHWM; native: RSS; lower is better)", "peak_mb", 0],
      ];
      for (const [label, key, d] of rows) {
        lines.push(`| ${T} | ${name} | ${label} | ${cell(ours, key, d)} | ${cell(wl, key, d)} | ${ratio(med(ours, key), med(wl, key))} | ${cell(nat, key, d)} | ${ratio(med(ours, key), med(nat, key))} | ${cell(lc, key, d)} | ${ratio(med(ours, key), med(lc, key))} |`);
      }
      // The decode bound: bandwidth at T (wasm for the browser engines, native for the native ones)
      // over the bytes each engine reads per token (bench/bound/bytes.mjs).
      const b = bound.bytes?.find((x) => x.file === f);
      const peers = f === o.model;
      const pb = o.peerModel ? bound.peerBytes : b;
      const bytes = b && { ours: oursBytes(b, o.lmHead).total, wllama: peers && pb ? pb.stored_file.total : null, llama_cpp: peers && pb ? pb.llama_cpp.total : null };
      const limit = (g, n) => (g && n ? (g * 1e9) / n : null);
      const bounds = {
        ours: limit(gbs("wasm"), bytes?.ours),
        wllama: limit(gbs("wasm"), bytes?.wllama),
        native: limit(gbs("native"), bytes?.ours),
        llama_cpp: limit(gbs("native"), bytes?.llama_cpp),
      };
      lines.push(`| ${T} | ${name} | decode bound tok/s (median GB/s ÷ bytes per token; wasm GB/s for the browser, native for the CLIs) | ${fmt(bounds.ours)} | ${peers ? fmt(bounds.wllama) : "—"} |  | ${fmt(bounds.native)} |  | ${peers ? fmt(bounds.llama_cpp) : "—"} |  |`);
      lines.push(`| ${T} | ${name} | decode % of its bound (median decode ÷ bound) | ${pct(med(ours, "decode_tok_s"), bounds.ours)} | ${pct(med(wl, "decode_tok_s"), bounds.wllama)} |  | ${pct(med(nat, "decode_tok_s"), bounds.native)} |  | ${pct(med(lc, "decode_tok_s"), bounds.llama_cpp)} |  |`);
      lines.push(`| ${T} | ${name} | wasm memory MB (ours: stats.memory_bytes) | ${cell(ours, "wasm_mb", 0)} | — |  | — |  | — |  |`);
      lines.push(`| ${T} | ${name} | threads (busy while generating), kernel, prompt+gen tokens, runs | ${detail(ours)} | ${detail(wl)} |  | ${detail(nat)} |  | ${detail(lc)} |  |`);
      for (const r of results.filter((r) => r.threads_requested === T && r.file === f && r.error)) errors.push(`- T=${T} ${name} ${r.engine} run ${r.run}: ${r.error}`);
      summary.push({ threads: T, file: f, ours, wllama: wl, native: nat, llama_cpp: lc, bytes_per_token: bytes, bound_tok_s: bounds,
        bandwidth_gbs: { wasm: gbs("wasm"), native: gbs("native") } });
    }
  }
  if (errors.length) lines.push("", "Errors:", ...errors);
  return { text: lines.join("\n"), summary };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const o = parseArgs(process.argv.slice(2));
const files = [o.model, ...o.oursOnly];
const started = Date.now();
const { text: prompt, llama3Tokens } = await buildPrompt(o.promptTokens);
const { text: gpuPrompt } = await buildPrompt(o.gpuPromptTokens);
const ctxLen = Math.max(512, Math.ceil((o.promptTokens + o.genTokens + 64) / 256) * 256);
log(`prompt: ${prompt.length} chars, ${llama3Tokens ?? "?"} Llama-3 tokens with BOS; context ${ctxLen}`);
const wllamaVersion = JSON.parse(fs.readFileSync(path.join(WLLAMA_DIR, "package.json"), "utf8")).version;
const nativeHelpText = o.native ? nativeHelp(o.native) : "";

// Bytes read per decoded token, from each file's own tensor table (bench/bound/bytes.mjs).
const bytes = [];
for (const f of files) {
  if (!o.inspect) {
    log(`no bitnet-web CLI for the bytes per token (--inspect or --native): no decode bound`);
    break;
  }
  try {
    const b = bytesPerToken(o.inspect, f, { promptTokens: llama3Tokens ?? o.promptTokens, genTokens: o.genTokens, kvF16: o.kvF16 });
    bytes.push({ ...b, peers: f === o.model });
  } catch (e) {
    log(`bytes per token of ${path.basename(f)}: ${e.message}`);
  }
}

// The peers' own file (--peer-model, e.g. the F16 model of the same shape): their bytes per token.
let peerBytes = null;
if (o.peerModel && o.inspect) {
  try {
    peerBytes = storedBytesPerToken(o.inspect, o.peerModel, { promptTokens: llama3Tokens ?? o.promptTokens, genTokens: o.genTokens, kvF16: o.kvF16 });
  } catch (e) {
    log(`bytes per token of ${path.basename(o.peerModel)}: ${e.message}`);
  }
}

// Served in this order: the files, then the peers' file (index files.length).
const srv = await startServer(o.peerModel ? [...files, o.peerModel] : files, o.simd);
const cleanup = () => {
  srv.server.close();
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

const results = [];
const bandwidth = [];
const record = (r, f, run) => {
  r.file = f;
  r.run = run;
  results.push(r);
  const brief = r.error ? `ERROR ${r.error}` : r.skipped ? `skipped: ${r.skipped}`
    : `load avg ${r.loadavg_1m?.map((x) => x.toFixed(1)).join("→")}; load ${fmt(r.load_s)} s, prefill ${fmt(r.prefill_tok_s, 1)} tok/s (${r.prompt_tokens} tok), decode ${fmt(r.decode_tok_s)} tok/s (${r.generated_tokens} tok), peak ${fmt(r.peak_mb, 0)} MB, threads ${r.threads}`;
  log(`  ${r.engine}: ${brief}`);
  if (r.gen_threads) log(`    renderer threads while generating (${r.gen_threads.wall_s.toFixed(1)} s): ${r.gen_threads.top.join(", ")}`);
  if (r.engine === "wllama" && r.thread_log?.length) for (const l of r.thread_log) log(`    wllama log: ${l}`);
};

try {
  // The runs of one configuration are interleaved with the other engines' (run 1 of every engine,
  // then run 2, ...), so that a slow spell of a shared machine spreads over all of them.
  for (const T of o.threads) {
    for (let run = 1; run <= o.runs; run++) {
      if (o.bandwidthMib > 0) {
        log(`T=${T} run ${run}/${o.runs} read bandwidth (${o.bandwidthMib} MiB, ${o.bandwidthPasses} passes) ...`);
        const load0 = os.loadavg()[0];
        const b = await runBandwidth(o, srv, T);
        b.run = run;
        b.loadavg_1m = [load0, os.loadavg()[0]];
        bandwidth.push(b);
        const gb = (x) => (x ? `${spread(x.gbs).median.toFixed(1)} GB/s (${x.gbs.map((g) => g.toFixed(1)).join(", ")})` : "—");
        log(`  native ${b.native_error ?? gb(b.native)}; wasm ${b.wasm_error ?? gb(b.wasm)}`);
      }
      for (let i = 0; i < files.length; i++) {
        const f = files[i];
        const gpuTurn = T === o.threads[0];
        const engines = (i === 0 ? o.engines : o.engines.filter((e) => e !== "wllama"))
          .filter((e) => e === "ours" || e === "wllama" || (e === "webgpu" && gpuTurn));
        for (const engine of engines) {
          log(`T=${T} run ${run}/${o.runs} ${engine} ${path.basename(engine === "wllama" && o.peerModel ? o.peerModel : f)} ...`);
          const t0 = Date.now();
          const load0 = os.loadavg()[0];
          let r;
          try {
            r = engine === "ours" ? await runOurs(o, srv, i, T, prompt, ctxLen)
              : engine === "webgpu" ? await runOurs(o, srv, i, T, gpuPrompt, ctxLen, "webgpu")
              : await runWllama(o, srv, o.peerModel ? files.length : i, T, prompt, ctxLen);
          } catch (e) {
            r = { engine, threads_requested: T, error: String(e?.message || e).split("\n")[0] };
          }
          r.run_s = (Date.now() - t0) / 1000;
          // Other work on the machine skews the numbers; keep the 1-minute load average around the run.
          r.loadavg_1m = [load0, os.loadavg()[0]];
          record(r, f, run);
        }
        if (o.native) {
          log(`T=${T} run ${run}/${o.runs} native ${path.basename(f)} ...`);
          const load0 = os.loadavg()[0];
          const r = await runNative(o, f, T, prompt, ctxLen, nativeHelpText);
          r.loadavg_1m = [load0, os.loadavg()[0]];
          record(r, f, run);
        }
        if (o.native && o.engines.includes("native-gpu") && gpuTurn) {
          log(`T=${T} run ${run}/${o.runs} native-gpu ${path.basename(f)} ...`);
          const r = await runNative(o, f, T, gpuPrompt, ctxLen, nativeHelpText, "gpu");
          record(r, f, run);
        }
        // llama.cpp cannot load I2_S files (see bench/README.md), so only the shared file.
        if (o.llamaBench && i === 0) {
          log(`T=${T} run ${run}/${o.runs} native llama.cpp ${path.basename(o.peerModel ?? f)} ...`);
          const load0 = os.loadavg()[0];
          const r = await runLlamaCpp(o, o.peerModel ?? f, T);
          r.loadavg_1m = [load0, os.loadavg()[0]];
          record(r, f, run);
        }
      }
    }
  }
} finally {
  cleanup();
}

// Every pass of every run at one T counts: the bound's bandwidth is their median.
const bw = summarize({ native: bandwidth.filter((b) => b.native).map((b) => b.native), wasm: bandwidth.filter((b) => b.wasm).map((b) => b.wasm) }, o.threads);
const cpu = cpuInfo();
const main = table(results, o, { bandwidth: bw.summary, bytes, peerBytes });
const report = {
  date: new Date().toISOString(),
  host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, cpu, mem_gb: os.totalmem() / 2 ** 30, platform: `${os.platform()} ${os.release()}` },
  chromium: chromiumVersion(),
  wllama_version: wllamaVersion,
  options: { ...o, prompt_chars: prompt.length, prompt_llama3_tokens: llama3Tokens, context: ctxLen },
  prompt,
  total_s: (Date.now() - started) / 1000,
  bandwidth: { summary: bw.summary, runs: bandwidth },
  bytes_per_token: bytes,
  peer_bytes_per_token: peerBytes,
  summary: main.summary,
  results,
};

console.log(`\n## bitnet-web vs @wllama/wllama ${wllamaVersion} — ${report.chromium ?? "Chromium"}, ${report.host.cpus} CPUs\n`);
console.log(`CPU: ${cpu.model_name ?? report.host.cpu_model}${cpu.family ? ` (family ${cpu.family}, model ${cpu.model})` : ""}; ${flagLine(cpu)}\n`);
console.log(`prompt ${llama3Tokens ?? "~" + o.promptTokens} tokens, ${o.genTokens} generated (greedy, EOS ignored), context ${ctxLen}; ` +
  `${o.runs} run${o.runs > 1 ? "s" : ""} per engine and configuration, cells are median (min–max); total ${report.total_s.toFixed(0)} s\n`);
if (o.bandwidthMib > 0) {
  console.log(`### Read bandwidth (${o.bandwidthMib} MiB streamed, ${o.bandwidthPasses} passes after a warm-up, per run; GB/s = 10^9 bytes/s)\n`);
  console.log(bw.table + "\n");
  for (const b of bandwidth) for (const k of ["native_error", "wasm_error"]) if (b[k]) console.log(`- T=${b.threads} run ${b.run} ${k.split("_")[0]}: ${b[k]}`);
}
if (bytes.length) {
  console.log(`### Bytes per decoded token and the decode bound (tok/s = median GB/s ÷ bytes per token; MB = 10^6 bytes)\n`);
  console.log(bytesTable(bytes, bw.summary, o.threads) + "\n");
}
const memory = memoryTable(results, o, bytes);
if (memory) {
  console.log(`### Memory of our engine's tab, by part (MiB = 2^20 bytes; medians of the runs)\n`);
  console.log(memory + "\n");
}
console.log(`### Engines\n`);
console.log(main.text);
const gpuText = gpuTable(results, o, bytes);
if (gpuText) {
  console.log(`\n### The GPU backend (prompt ~${o.gpuPromptTokens} tokens, ${o.gpuGenTokens} generated; medians)\n`);
  console.log(gpuText);
}
if (!o.engines.some((e) => e === "webgpu" || e === "native-gpu")) {
  console.log(`\nThe GPU engines did not run: \`make bench-gpu\` runs them (WebGPU in Chromium and native wgpu), or --engines ${ENGINES.join(",")}.`);
}
console.log("\n```json\n" + JSON.stringify(report, null, 2) + "\n```");
if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
