// The BitNet family in headless Chromium: synthetic files of bitnet_b1_58-large's shape (arch
// `bitnet`, SentencePiece vocabulary) and Falcon3-1B-1.58bit's (arch `llama`, `falcon3` byte-level
// BPE, separate F16 head), made by `bitnet-web synth --shape`, load through the package and
// generate; the wasm tokenizer gives the native CLI's ids. tests/shapes.rs runs them natively.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { openBrowser, ROOT } from "./browser.mjs";

const BIN = path.join(ROOT, "target/release/bitnet-web");
const DIR = path.join(ROOT, "www/models/synth"); // git-ignored; made once, reused by later runs

function synth(shape) {
  if (!fs.existsSync(BIN)) execFileSync("cargo", ["build", "--release", "--bin", "bitnet-web"], { cwd: ROOT, stdio: "inherit" });
  fs.mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `${shape}.gguf`);
  if (!fs.existsSync(file)) {
    execFileSync(BIN, ["synth", file + ".part", "--shape", shape], { stdio: "inherit" });
    fs.renameSync(file + ".part", file);
  }
  const native = JSON.parse(execFileSync(BIN, ["tokenize", file, "Hello world, naïve café 123", "--json", "--no-bos"]).toString());
  return { url: `models/synth/${shape}.gguf`, native };
}

let b;
before(async () => { b = await openBrowser(); });
after(async () => { await b?.close(); });

for (const [shape, arch] of [["large", "bitnet"], ["falcon3-1b", "llama"]]) {
  test(`a ${shape}-shape model (${arch}) loads and generates in Chromium`, { timeout: 600000 }, async () => {
    const { url, native } = synth(shape);
    const { page, base } = b;
    await page.goto(base + "inspect.html");
    const r = await page.evaluate(async (url) => {
      const { createEngine } = await import("./lib/index.js");
      const engine = await createEngine({ model: url, contextLength: 256 });
      try {
        const ids = await engine.tokenize("Hello world, naïve café 123");
        const out = await engine.chat.completions.create({
          messages: [{ role: "user", content: "Hello" }], max_tokens: 4, temperature: 0, ignore_eos: true,
        });
        return { ids, tokens: out.usage.completion_tokens, finish: out.choices[0].finish_reason };
      } finally {
        await engine.unload();
      }
    }, url);
    assert.deepEqual(r.ids, native, "the wasm tokenizer gives the native CLI's ids");
    assert.equal(r.tokens, 4);
    assert.equal(r.finish, "length");
  });
}
