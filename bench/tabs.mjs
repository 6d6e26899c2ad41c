// Two tabs of one origin holding one model, in headless Chromium or Firefox ESR: what the second
// tab costs, and what "Unload it here" gives back.
//   node bench/tabs.mjs FILE.gguf [--threads N] [--browser chromium|firefox|webkit]
// Serves www/ plus FILE, opens the chat page's package in tab A and loads FILE (kept offline, as a
// first visit does), then in tab B loads the same URL (from the kept copy). It reports each engine's
// WebAssembly memory and the browser's resident memory (the sum of VmRSS over Chromium's processes,
// which shares pages between them and so overcounts a little the same way each time; Firefox's: the
// sum over geckodriver's Firefox and its children), then with tab B unloaded as the page's notice
// offers, then with tab B closed.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { serve, staticFiles } from "../scripts/serve.mjs";
import { launchChromium } from "../scripts/chromium.mjs";
import { ENGINES } from "../tests/e2e/webdriver.mjs";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const threads = Number(args[args.indexOf("--threads") + 1]) || 1;
const browserName = args.includes("--browser") ? args[args.indexOf("--browser") + 1] : "chromium";
if (!file) throw new Error("usage: node bench/tabs.mjs FILE.gguf [--threads N]");
const www = staticFiles(path.resolve("www"));
const server = await serve("www", 0, "127.0.0.1", (req, res) => {
  if (!req.url.startsWith("/bench-file/model.gguf")) return www(req, res);
  res.writeHead(200, {
    "Content-Length": fs.statSync(file).size,
    "Content-Type": "application/octet-stream",
    "Cross-Origin-Resource-Policy": "same-origin",
  });
  fs.createReadStream(file).pipe(res);
});
const base = `http://127.0.0.1:${server.port}/`;
/**
 * Tabs of one browser: { open(): tab, run(tab, fn, arg), close(tab), rss(), quit() }; a tab runs
 * `fn(arg)` in its page.
 */
async function browser(name) {
  if (name === "chromium") {
    const chromium = await launchChromium();
    return {
      open: async () => { const p = await chromium.context.newPage(); await p.goto(base + "inspect.html"); return p; },
      run: (p, fn, arg) => p.evaluate(fn, arg),
      close: (p) => p.close(),
      rss: () => treeRss(chromium.pid()),
      quit: () => chromium.close(),
    };
  }
  // WebKitGTK's MiniBrowser under WebDriver, or Firefox ESR; the browser's process tree is found by
  // its command line.
  const { driver, stop } = await ENGINES[name].start();
  await driver.manage().setTimeouts({ script: 600000 }); // a load of the whole file in one script
  const root = name === "webkit" ? "MiniBrowser --automation" : "firefox-esr.*-marionette";
  const tabs = [];
  return {
    async open() {
      if (tabs.length) await driver.switchTo().newWindow("tab");
      await driver.get(base + "inspect.html");
      tabs.push(await driver.getWindowHandle());
      return tabs.at(-1);
    },
    async run(tab, fn, arg) {
      await driver.switchTo().window(tab);
      const r = await driver.executeAsyncScript(`const done = arguments[arguments.length - 1]; (${fn})(arguments[0]).then(done, (e) => done({ error: String(e) }));`, arg);
      if (r?.error) throw new Error(r.error);
      return r;
    },
    async close(tab) {
      await driver.switchTo().window(tab);
      await driver.close();
      await driver.switchTo().window(tabs[0]);
    },
    rss: () => treeRss(Number(execFileSync("pgrep", ["-o", "-f", root], { encoding: "utf8" }).trim())),
    quit: stop,
  };
}

/** Resident MiB of process `pid` and all it started. */
function treeRss(pid) {
  const all = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  const parent = new Map();
  for (const p of all) {
    try {
      parent.set(p, fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ")[1]);
    } catch { /* gone */ }
  }
  const ours = (p) => { for (let q = p; q && q !== "0"; q = parent.get(q)) if (q === String(pid)) return true; return false; };
  let kb = 0;
  for (const p of all) {
    if (!ours(p)) continue;
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return kb / 1024;
}

const LOAD = async ([url, threads]) => {
  const { createEngine } = await import("./lib/index.js");
  const engine = await createEngine({ model: url, threads, contextLength: 512 });
  await engine.chat.completions.create({ prompt: "Hello", max_tokens: 8, temperature: 0, ignore_eos: true });
  window.engine = engine;
  return { wasm: (await engine.refreshStats()).memory_bytes, kept: engine.kept, inFile: engine.header.embeddingInFile };
};
const settle = () => new Promise((r) => setTimeout(r, 2000));
const MiB = (b) => (b / 2 ** 20).toFixed(0);
const url = base + "bench-file/model.gguf";
const rows = [];
const web = await browser(browserName);
const a = await web.open();
const idle = web.rss();
const ra = await web.run(a, LOAD, [url, threads]);
await settle();
rows.push(["one tab holds the model", MiB(ra.wasm), "—", web.rss()]);
const b = await web.open();
const rb = await web.run(b, LOAD, [url, threads]);
const seen = await web.run(b, async () => (await import("./lib/index.js")).otherTabsEngines());
await settle();
rows.push(["a second tab loads it too", MiB(ra.wasm), MiB(rb.wasm), web.rss()]);
await web.run(b, async () => { await window.engine.unload(); return true; });
await settle();
rows.push(["the second tab unloads it (the page's \"Unload it here\")", MiB(ra.wasm), "0", web.rss()]);
await web.close(b);
await settle();
rows.push(["the second tab closed", MiB(ra.wasm), "—", web.rss()]);
console.log(`${path.basename(file)} (${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB), ${threads} thread(s), ${browserName}; kept offline: ${ra.kept}/${rb.kept}, embedding read from the kept copy: ${ra.inFile}/${rb.inFile}`);
console.log(`tab B saw tab A's engine: ${JSON.stringify(seen.map((e) => ({ ...e, bytes: MiB(e.bytes) + " MiB" })))}`);
console.log(`browser before any load: ${idle.toFixed(0)} MiB resident`);
console.log(`| state | tab A wasm MiB | tab B wasm MiB | ${browserName} resident MiB |`);
console.log("|---|---|---|---|");
for (const [what, wa, wb, rss] of rows) console.log(`| ${what} | ${wa} | ${wb} | ${rss.toFixed(0)} |`);
await web.quit();
server.close();
