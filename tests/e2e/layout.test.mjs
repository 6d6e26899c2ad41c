// How an I2_S file is read, through the package in headless Chromium (engine::layout_probe): the engine
// says it in `info.i2sLayout`, from the caller's `i2sLayout`, the file's `quantize.i2_s.block_size`, or
// a test sentence scored at load; a file whose weights read badly both ways loads with a warning that
// names the option to set. (tests/suite/layout_probe.rs tells a 64/16 file apart in every browser the
// wasm suites run in.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { openBrowser, ROOT } from "./browser.mjs";
import { made, synthShape } from "./synth.mjs";

/** Loads `url` on the CPU and completes a raw prompt: `info.i2sLayout`, the warnings posted, the text. */
async function loaded(url, options = {}) {
  return b.page.evaluate(async ({ url, options }) => {
    const warnings = [];
    const onProgress = (p) => p.phase === "warning" && warnings.push(p.message);
    const { createEngine } = await import("./lib/index.js");
    const engine = await createEngine({ model: url, device: "cpu", cache: false, ...options, onProgress });
    const answer = await engine.completions.create({ prompt: "Hello", max_tokens: 4, temperature: 0 });
    const r = { layout: engine.info.i2sLayout, warnings, text: answer.choices[0].text };
    await engine.unload();
    return r;
  }, { url, options });
}

let b = null;
before(async () => {
  b = await openBrowser();
  await b.page.goto(new URL("inspect.html", b.base).href);
});
after(() => b?.close());

test("the embedded model (128/32, no key) is told from its weights, without a warning", async () => {
  const r = await loaded("models/bitnet-tiny-chat.i2_s.gguf");
  assert.equal(r.layout.layout, 128, JSON.stringify(r));
  assert.match(r.layout.reason, /test sentence costs [\d.]+ nats a token read 128\/32/);
  assert.equal(r.layout.warning, undefined);
  assert.deepEqual(r.warnings, []);
  const chosen = await loaded("models/bitnet-tiny-chat.i2_s.gguf", { i2sLayout: 128 });
  assert.match(chosen.layout.reason, /as the caller chose/);
  assert.equal(chosen.text, r.text, "the same reading, the same reply");
});

test("our writer's files say their packing; a random file that does not loads with a warning naming the option", async () => {
  const synth = await loaded(synthShape("2b4t").url, { contextLength: 64 });
  assert.match(synth.layout.reason, /quantize\.i2_s\.block_size/, JSON.stringify(synth.layout));
  const random = made("tiny_b.i2_s.gguf", (part) => fs.copyFileSync(path.join(ROOT, "tests/fixtures/reference/tiny_b.i2_s.gguf"), part));
  const r = await loaded(random.url);
  assert.equal(r.layout.layout, 128);
  assert.match(r.layout.warning, /do not say how this I2_S file is packed/);
  assert.ok(r.warnings.some((w) => /i2sLayout: 64/.test(w)), JSON.stringify(r.warnings));
});
