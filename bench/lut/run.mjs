// The lookup-table GEMV experiment in headless Chromium: the shipped relaxed-SIMD kernel against a
// T-MAC/TL1-style table kernel on the same random 2560 × 2560 ternary matrix, interleaved rounds,
// best round reported (a shared machine's noise only ever slows a round down). Run by `make bench-lut`.
import fs from "node:fs";
import http from "node:http";
import { launchChromium } from "../../scripts/chromium.mjs";

const wasm = fs.readFileSync(process.argv[2] || "target/lut/wasm32-unknown-unknown/release/lut_experiment.wasm");
const rounds = Number(process.argv[3] || 15);
const server = http.createServer((req, res) => {
  if (req.url === "/lut.wasm") res.writeHead(200, { "content-type": "application/wasm" }).end(wasm);
  else res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>lut</title>");
}).listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const { browser } = await launchChromium({ persistent: false });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const result = await page.evaluate(async (rounds) => {
    const { instance } = await WebAssembly.instantiateStreaming(fetch("/lut.wasm"), {});
    const { setup, run } = instance.exports;
    setup(12345);
    const names = ["relaxed-simd pmaddubsw (shipped)", "lookup table, relaxed swizzle"];
    const check = [run(0, 1), run(1, 1)];
    const best = [0, 0];
    const passes = 40, macs = 2560 * 2560 * passes;
    for (let r = 0; r < rounds; r++) {
      for (const v of [0, 1]) {
        const t0 = performance.now();
        run(v, passes);
        best[v] = Math.max(best[v], macs / (performance.now() - t0) / 1e6);
      }
    }
    return { agree: check[0] === check[1], rows: names.map((name, v) => ({ name, gmacs: best[v] })) };
  }, rounds);
  if (!result.agree) throw new Error("the two kernels disagree: the lookup table is wrong");
  console.log(`| GEMV kernel (2560 × 2560, one thread, best of ${rounds} rounds) | GMAC/s |\n|---|---|`);
  for (const r of result.rows) console.log(`| ${r.name} | ${r.gmacs.toFixed(1)} |`);
} finally {
  await browser.close();
  server.close();
}
