// One engine's run in a fresh headless Chromium, and what bench/run.mjs measures of it from outside:
// the renderer's memory (RSS sampled, VmHWM at the end) and the CPU time of its threads, read from
// /proc. Its own file because the browser engines (engines/ours.mjs, engines/wllama.mjs) and
// bench/run.mjs's wasm read-bandwidth run all use it.
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import { CHROMIUM, launchChromium } from "../../scripts/chromium.mjs";

// ---------------------------------------------------------------------------------------------
// Renderer memory: Chromium processes below this node process whose command line has --type=renderer
// ---------------------------------------------------------------------------------------------

function procTable() {
  const rows = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = +stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
      // Chromium rewrites its argv into one space-separated string, so match on the whole text.
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").replaceAll("\0", " ");
      rows.push({ pid: +d, ppid, cmd });
    } catch {
      // the process went away
    }
  }
  return rows;
}

function rendererPids() {
  const rows = procTable();
  const children = new Map();
  for (const r of rows) {
    if (!children.has(r.ppid)) children.set(r.ppid, []);
    children.get(r.ppid).push(r);
  }
  const out = [];
  const stack = [process.pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) || []) {
      if (c.cmd.includes("--type=renderer") && !c.cmd.includes("--top-chrome-webui")) out.push(c.pid);
      stack.push(c.pid);
    }
  }
  return out;
}

function statusKb(pid, key) {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? +m[1] : null;
  } catch {
    return null;
  }
}

function threadTimes(pid) {
  const out = [];
  let tids = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      out.push({ tid: +tid, comm, cpu_s: (+f[11] + +f[12]) / CLK_TCK });
    } catch {
      // the thread ended
    }
  }
  return out;
}
const CLK_TCK = 100;

/** The Chromium the benchmarks run, as `chromium --version` says (null if it cannot say). */
export function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

/**
 * Samples the renderers' RSS every 500 ms. mark(label) snapshots every renderer thread's CPU time;
 * threads(from, to) gives the page renderer's threads that computed between two marks. stop() gives
 * per-process VmHWM (the kernel's own peak) and the sampled peaks.
 */
export function memoryMonitor() {
  const peakRss = new Map();
  const marks = new Map(); // label -> { wall_ms, threads: Map("pid/tid" -> { pid, tid, comm, cpu_s }) }
  let peakSum = 0;
  let pids = [];
  let n = 0;
  const tick = () => {
    if (n++ % 4 === 0) pids = rendererPids();
    let sum = 0;
    for (const pid of pids) {
      const rss = statusKb(pid, "VmRSS");
      if (rss == null) continue;
      sum += rss;
      peakRss.set(pid, Math.max(peakRss.get(pid) || 0, rss));
    }
    peakSum = Math.max(peakSum, sum);
  };
  tick();
  const timer = setInterval(tick, 500);
  const mainPid = () => {
    let best = null;
    for (const pid of rendererPids()) {
      const hwm = statusKb(pid, "VmHWM") || 0;
      if (!best || hwm > best.hwm) best = { pid, hwm };
    }
    return best?.pid;
  };
  return {
    /** The largest renderer's RSS now, in MiB (the page's renderer, as `peak_mb`). */
    rssNow() {
      const rss = rendererPids().map((pid) => statusKb(pid, "VmRSS") || 0);
      return rss.length ? Math.max(...rss) / 1024 : null;
    },
    mark(label) {
      const threads = new Map();
      for (const pid of rendererPids()) for (const t of threadTimes(pid)) threads.set(`${pid}/${t.tid}`, { pid, ...t });
      marks.set(label, { wall_ms: Date.now(), threads });
    },
    /** The page renderer's threads by CPU seconds between two marks; "busy" ones did >= 25 % of the busiest one's work. */
    threads(from, to) {
      const a = marks.get(from);
      const b = marks.get(to);
      if (!a || !b) return null;
      const main = mainPid();
      const rows = [];
      for (const [key, t] of b.threads) {
        if (t.pid !== main) continue;
        rows.push({ comm: t.comm, cpu_s: t.cpu_s - (a.threads.get(key)?.cpu_s || 0) });
      }
      rows.sort((x, y) => y.cpu_s - x.cpu_s);
      const wall = (b.wall_ms - a.wall_ms) / 1000;
      const top = rows[0]?.cpu_s || 0;
      return {
        wall_s: wall,
        busy: rows.filter((r) => top > 0 && r.cpu_s >= 0.25 * top).length,
        cpu_s: rows.reduce((x, r) => x + r.cpu_s, 0),
        top: rows.slice(0, 5).map((r) => `${r.comm} ${r.cpu_s.toFixed(1)}s`),
      };
    },
    stop() {
      pids = rendererPids();
      tick();
      clearInterval(timer);
      const perProcess = pids.map((pid) => ({ pid, vmhwm_kb: statusKb(pid, "VmHWM"), peak_rss_sampled_kb: peakRss.get(pid) ?? null }));
      const hwm = perProcess.map((p) => p.vmhwm_kb || 0);
      return {
        // The page's renderer (the one that hosts the page and its workers) is the largest one.
        peak_mb: hwm.length ? Math.max(...hwm) / 1024 : null,
        renderers: perProcess,
        sum_vmhwm_mb: hwm.reduce((x, y) => x + y, 0) / 1024,
        sampled_peak_sum_rss_mb: peakSum / 1024,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One engine in one fresh Chromium
// ---------------------------------------------------------------------------------------------

export async function inFreshChromium(name, timeoutS, verbose, fn, flags = name === "webgpu" ? ["--enable-unsafe-webgpu"] : ["--disable-gpu"]) {
  let chromium = null;
  const logs = [];
  let timer;
  try {
    chromium = await launchChromium({ flags: ["--disable-extensions", ...flags] });
    const ctx = chromium.context;
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on("console", (m) => {
      logs.push(`${m.type()}: ${m.text()}`);
      if (verbose) console.error(`  [${name} console.${m.type()}] ${m.text()}`);
    });
    page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
    page.on("crash", () => logs.push("page crashed"));
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutS} s`)), timeoutS * 1000);
    });
    return await Promise.race([fn(page, logs), timeout]);
  } finally {
    clearTimeout(timer);
    await chromium?.close();
  }
}
