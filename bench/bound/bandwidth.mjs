// Read bandwidth, the other half of the decode bound (bench/README.md, "The decode bound"): the same
// streaming loop (bench/bound/lib.rs) natively (target/bound/release/bandwidth) and as wasm with
// SIMD128 in Web Workers of the page a bench drives, one worker per thread.
import fs from "node:fs";
import { spawn } from "node:child_process";

export const NATIVE_BIN = "target/bound/release/bandwidth";
export const WASM_FILE = "target/bound/wasm32-unknown-unknown/release/bandwidth.wasm";

/** Median, min, max and best of a list of GB/s figures. */
export function spread(xs) {
  const s = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return { n: 0, median: null, min: null, max: null };
  const mid = s.length >> 1;
  return { n: s.length, median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1] };
}

/** The CPU as /proc/cpuinfo names it, with the vector and matrix extensions that decode speed depends on. */
export function cpuInfo() {
  let text = "";
  try {
    text = fs.readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return { model_name: null, flags: {} };
  }
  const field = (k) => new RegExp(`^${k}\\s*:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? null;
  const flags = new Set((field("flags") || "").split(/\s+/));
  const wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"];
  return {
    model_name: field("model name"),
    vendor: field("vendor_id"),
    family: field("cpu family"),
    model: field("model"),
    logical_cpus: (text.match(/^processor\s*:/gm) || []).length,
    flags: Object.fromEntries(wanted.map((f) => [f, flags.has(f)])),
  };
}

/** "avx2 avx512f … amx_int8" for the flags present, "(no avx2)" when none is. */
export function flagLine(cpu) {
  const on = Object.entries(cpu.flags).filter(([, v]) => v).map(([k]) => k);
  return on.length ? on.join(" ") : "none of avx2, avx512f, avx512_vnni, avx_vnni, amx";
}

/** Runs the native binary; resolves to `[{ threads, gbs: [per pass] }]`. */
export function nativeBandwidth(bin, { mib, threads, passes, timeoutS = 600 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["--mib", String(mib), "--threads", threads.join(","), "--passes", String(passes)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${bin}: ${e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(out).results);
      } catch (e) {
        reject(new Error(`${bin}: ${e.message}: ${err.trim().split("\n").slice(-2).join(" | ")}`));
      }
    });
  });
}

// One worker per thread, each with its own instance and memory (the loop reads nothing shared, so a
// shared memory would change nothing but the build). The workers meet at a barrier on a
// SharedArrayBuffer (spinning, so that they leave it within microseconds of each other), and the
// first of them times each pass from the barrier before it to the barrier after it, when the last
// worker has finished.
const WORKER = `
onmessage = async ({ data: { module, sab, bytes, threads, passes } }) => {
  try {
    const { exports: x } = await WebAssembly.instantiate(module, {});
    const words = bytes / 8;
    const ptr = x.buffer(bytes) >>> 0;
    const count = new Int32Array(sab);
    let phase = 0;
    const barrier = () => {
      phase++;
      Atomics.add(count, 0, 1);
      while (Atomics.load(count, 0) < threads * phase);
    };
    barrier(); // every worker's buffer is written
    const secs = [];
    for (let p = 0; p <= passes; p++) {
      barrier();
      const t0 = performance.now();
      const sum = x.sum(ptr, words);
      barrier();
      const s = (performance.now() - t0) / 1000;
      if (sum !== BigInt(words)) throw new Error("sum " + sum + ", not " + words + ": the loop skipped words");
      if (p > 0) secs.push(s); // the first pass warms up
    }
    postMessage({ secs });
  } catch (e) {
    postMessage({ error: String(e && e.stack || e) });
  }
};`;

/**
 * Runs the wasm loop in `page` (a Playwright page on a cross-origin-isolated origin that serves the
 * module at `wasmUrl`): for each thread count T, T workers each stream `mib`/T MiB. Resolves to
 * `[{ threads, gbs: [per pass] }]`.
 */
export async function wasmBandwidth(page, { wasmUrl, mib, threads, passes }) {
  return page.evaluate(async ({ wasmUrl, mib, threads, passes, src }) => {
    if (!self.crossOriginIsolated) throw new Error("the page is not cross-origin isolated: no SharedArrayBuffer for the workers' barrier");
    const module = await WebAssembly.compileStreaming(fetch(wasmUrl));
    const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
    const out = [];
    for (const T of threads) {
      const bytes = Math.floor((mib * 2 ** 20) / T / 64) * 64;
      if (bytes >= 2 ** 31) throw new Error(`${bytes} bytes per worker: more than a wasm32 address can index here`);
      const sab = new SharedArrayBuffer(4);
      const workers = Array.from({ length: T }, () => new Worker(url));
      try {
        const results = await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
          w.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
          w.onerror = (e) => reject(new Error(e.message));
          w.postMessage({ module, sab, bytes, threads: T, passes });
        })));
        out.push({ threads: T, gbs: results[0].secs.map((s) => (bytes * T) / s / 1e9) });
      } finally {
        for (const w of workers) w.terminate();
      }
    }
    return out;
  }, { wasmUrl, mib, threads, passes, src: WORKER });
}

const f = (x) => (x == null ? "—" : x.toFixed(1));
/** `median (min–max)` of GB/s figures. */
export const cellOf = (s) => (s?.n ? (s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median)) : "—");

/**
 * The bandwidth table from `{ native: [{threads, gbs}], wasm: [...] }` (pass figures pooled over the
 * measurements), and the summary `{ native: [{threads, median, min, max, n}], wasm }` the bounds use.
 */
export function summarize(bw, threads) {
  const summary = {};
  for (const kind of ["native", "wasm"]) {
    summary[kind] = threads.map((T) => ({ threads: T, ...spread((bw[kind] || []).filter((r) => r.threads === T).flatMap((r) => r.gbs)) }));
  }
  const lines = ["| T | native GB/s, median (min–max) | wasm GB/s, median (min–max) | wasm/native |", "|---|---|---|---|"];
  for (const T of threads) {
    const n = summary.native.find((r) => r.threads === T);
    const w = summary.wasm.find((r) => r.threads === T);
    lines.push(`| ${T} | ${cellOf(n)}${n.n ? `, ${n.n} passes` : ""} | ${cellOf(w)}${w.n ? `, ${w.n} passes` : ""} | ${n.median && w.median ? (w.median / n.median).toFixed(2) + "×" : "—"} |`);
  }
  return { summary, table: lines.join("\n") };
}
