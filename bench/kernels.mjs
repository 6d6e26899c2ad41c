// Kernel throughput of the relaxed-SIMD wasm build in headless Chromium (GMAC/s per variant, one
// thread), to compare kernel variants in one run on a noisy machine:
//   make bench-kernels   (builds the relaxed build with the `kernel-bench` feature into target/web-bench)
//   node bench/kernels.mjs [ROWS=2560] [COLS=2560] [ITERS=200] [ROUNDS=5] [POSITIONS=164]
// (POSITIONS: the cached positions attention runs over).
// Each round times every variant for ITERS/ROUNDS passes; the best round is reported, because a
// shared machine's noise only ever slows a round down.
import path from "node:path";
import { launchChromium } from "../scripts/chromium.mjs";
import { serve, staticFiles } from "../scripts/serve.mjs";

const [rows = 2560, cols = 2560, iters = 200, rounds = 5, positions = 164] = process.argv.slice(2).map(Number);
const server = await serve("target/web-bench", 0, "127.0.0.1", staticFiles(path.resolve("target/web-bench")));
const { browser } = await launchChromium({ persistent: false });
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.port}/wasm-relaxed/bitnet_web.js`);
const result = await page.evaluate(async ([rows, cols, iters, rounds, positions]) => {
  // In a worker, as the engine runs.
  const src = `import init, { benchKernels } from "${location.origin}/wasm-relaxed/bitnet_web.js";
    self.onmessage = async (e) => {
      await init();
      const [rows, cols, iters, rounds, positions] = e.data, best = new Map();
      for (let r = 0; r < rounds; r++) {
        for (const t of benchKernels(rows, cols, Math.max(1, Math.round(iters / rounds)), positions)) {
          const key = t.kernel + "|" + t.variant;
          if (!best.has(key) || best.get(key).gmacs < t.gmacs) best.set(key, t);
        }
      }
      self.postMessage([...best.values()]);
    };`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), { type: "module" });
  return await new Promise((resolve, reject) => { w.onmessage = (e) => resolve(e.data); w.onerror = reject; w.postMessage([rows, cols, iters, rounds, positions]); });
}, [rows, cols, iters, rounds, positions]);
console.log(`| kernel | variant | GMAC/s (${rows}×${cols}, attention over ${positions} positions, best of ${rounds} rounds of ${Math.max(1, Math.round(iters / rounds))} passes) |\n|---|---|---|`);
for (const r of result) console.log(`| ${r.kernel} | ${r.variant} | ${r.gmacs.toFixed(2)} |`);
await browser.close();
server.close();
