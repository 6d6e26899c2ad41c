// Peak WebAssembly memory against model size, and decode speed, in headless Chromium:
//   node bench/memory.mjs FILE.gguf [FILE.gguf ...]
// Serves www/ plus the given files, loads each through the npm API (no caching), generates 16 tokens
// and prints the wasm memory (the engine's whole heap) over the file size.
import fs from "node:fs";
import path from "node:path";
import { launchChromium } from "../scripts/chromium.mjs";
import { serve, staticFiles } from "../scripts/serve.mjs";

const files = process.argv.slice(2);
const www = staticFiles(path.resolve("www"));
const server = await serve("www", 0, "127.0.0.1", (req, res) => {
  const m = /^\/bench-file\/(\d+)$/.exec(req.url.split("?")[0]);
  if (!m) return www(req, res);
  const file = files[+m[1]];
  const size = fs.statSync(file).size;
  res.writeHead(200, { "Content-Length": size, "Content-Type": "application/octet-stream", "Cross-Origin-Resource-Policy": "same-origin" });
  fs.createReadStream(file).pipe(res);
});
const chromium = await launchChromium();
const ctx = chromium.context;
const page = ctx.pages()[0] || (await ctx.newPage());
await page.goto(`http://127.0.0.1:${server.port}/inspect.html`);
console.log("| file | size | wasm memory after load | after 16 tokens | ratio | load s | decode tok/s | kernel |");
console.log("|---|---|---|---|---|---|---|---|");
for (let i = 0; i < files.length; i++) {
  const r = await page.evaluate(async (url) => {
    const { createEngine } = await import("./lib/index.js");
    const t0 = performance.now();
    const engine = await createEngine({ model: url, cache: false, contextLength: 256 });
    const load = (performance.now() - t0) / 1000;
    const afterLoad = engine.info.wasmMemoryBytes;
    await engine.chat.completions.create({ prompt: "Hello", max_tokens: 16, temperature: 0, ignore_eos: true });
    const s = await engine.refreshStats();
    await engine.unload();
    return { load, afterLoad, s };
  }, `/bench-file/${i}`);
  const size = fs.statSync(files[i]).size;
  const peak = Math.max(r.afterLoad, r.s.memory_bytes);
  console.log(`| ${path.basename(files[i])} | ${(size / 1e6).toFixed(1)} MB | ${(r.afterLoad / 1e6).toFixed(1)} MB | ${(r.s.memory_bytes / 1e6).toFixed(1)} MB | ${(peak / size).toFixed(3)} | ${r.load.toFixed(1)} | ${r.s.decode_tok_s?.toFixed(2)} | ${r.s.kernel} |`);
}
await chromium.close();
server.close();
