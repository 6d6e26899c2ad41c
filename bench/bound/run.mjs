// The decode bound on its own (`make bench-bound`): read bandwidth natively and in wasm in headless
// Chromium at each thread count, and, for each --model, the bytes read per decoded token and the
// bound they give. `make bench` measures the same inside its run (bench/run.mjs).
//
//   node bench/bound/run.mjs [--model FILE.gguf ...] [--threads 1,2] [--mib 1024] [--passes 5]
//        [--prompt-tokens 128] [--gen-tokens 128] [--kv-f16] [--inspect target/release/bitnet-web] [--json out.json]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../../scripts/chromium.mjs";
import { serve, staticFiles } from "../../scripts/serve.mjs";
import { NATIVE_BIN, WASM_FILE, cpuInfo, flagLine, nativeBandwidth, summarize, wasmBandwidth } from "./bandwidth.mjs";
import { bytesPerToken, bytesTable } from "./bytes.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
process.chdir(ROOT);

const o = { models: [], threads: [1, 2], mib: 1024, passes: 5, promptTokens: 128, genTokens: 128, kvF16: false, inspect: "target/release/bitnet-web", json: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => argv[++i] ?? (console.error(`${a} needs a value`), process.exit(2));
  if (a === "--model") {
    while (i + 1 < argv.length && !argv[i + 1].startsWith("--")) o.models.push(argv[++i]);
  } else if (a === "--threads") o.threads = val().split(",").map(Number);
  else if (a === "--mib") o.mib = Number(val());
  else if (a === "--passes") o.passes = Number(val());
  else if (a === "--prompt-tokens") o.promptTokens = Number(val());
  else if (a === "--gen-tokens") o.genTokens = Number(val());
  else if (a === "--kv-f16") o.kvF16 = true;
  else if (a === "--inspect") o.inspect = val();
  else if (a === "--json") o.json = val();
  else {
    console.error(`unknown argument ${a}\nusage: node bench/bound/run.mjs [--model FILE.gguf ...] [--threads 1,2] [--mib 1024] [--passes 5] [--prompt-tokens 128] [--gen-tokens 128] [--kv-f16] [--inspect BIN] [--json out.json]`);
    process.exit(2);
  }
}

const cpu = cpuInfo();
const bw = { native: [], wasm: [] };
bw.native = await nativeBandwidth(NATIVE_BIN, o);
const page = `<!doctype html><meta charset="utf-8"><title>bandwidth</title>`;
const wasm = staticFiles(path.dirname(WASM_FILE));
const server = await serve(ROOT, 0, "127.0.0.1", (req, res) => {
  if (req.url === "/bandwidth.wasm") return wasm(req, res);
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }).end(page);
});
const { browser } = await launchChromium({ flags: ["--disable-gpu"], persistent: false });
let chromiumVersion;
try {
  chromiumVersion = browser.version();
  const p = await browser.newPage();
  await p.goto(`http://127.0.0.1:${server.port}/`);
  await p.waitForTimeout(1000); // a browser that has just started is still busy for a moment
  bw.wasm = await wasmBandwidth(p, { wasmUrl: "/bandwidth.wasm", ...o });
} finally {
  await browser.close();
  server.close();
}
const { summary, table } = summarize(bw, o.threads);
const bytes = o.models.map((m) => bytesPerToken(o.inspect, m, o));

console.log(`\n## Read bandwidth — ${cpu.model_name} (${flagLine(cpu)}), Chromium ${chromiumVersion}\n`);
console.log(`${o.mib} MiB streamed (split evenly between the threads), ${o.passes} passes after one warm-up; GB/s = 10^9 bytes/s\n`);
console.log(table);
if (bytes.length) {
  console.log(`\n## Bytes per decoded token and the decode bound (tok/s = median GB/s ÷ bytes per token), prompt ${o.promptTokens} + ${o.genTokens} generated\n`);
  console.log(bytesTable(bytes, summary, o.threads));
}
const report = { date: new Date().toISOString(), cpu, chromium: chromiumVersion, options: o, bandwidth: { raw: bw, summary }, bytes_per_token: bytes };
if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
