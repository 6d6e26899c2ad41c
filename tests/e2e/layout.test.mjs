// How an I2_S file is read, through the package in headless Chromium (engine::layout_probe): the engine
// says it in `info.i2sLayout`, from the caller's `i2sLayout`, the file's `quantize.i2_s.block_size`, or
// a test sentence scored at load; a file whose weights read badly both ways loads with a warning that
// names the option to set. (tests/suite/layout_probe.rs tells a 64/16 file apart in every browser the
// wasm suites run in.) bitnet.cpp's TL1/TL2 files hold no I2_S: they load by their tiling (quant::tl), and reply
// as their I2_S twin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { openBrowser, ROOT } from "./browser.mjs";
import zlib from "node:zlib";
import { made, synthShape, SYNTH_DIR } from "./synth.mjs";

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

test("a kept model remembers what its test sentence decided, and its next loads skip the sentence", async () => {
  // A URL of its own, so that the store holds no copy of it yet.
  const url = "models/bitnet-tiny-chat.i2_s.gguf?kept-layout";
  const kept = () => b.page.evaluate(async (url) => {
    const { listCachedModels } = await import("./lib/index.js");
    return (await listCachedModels()).find((m) => m.url === new URL(url, location.href).href) ?? null;
  }, url);
  await b.page.evaluate(async (url) => (await import("./lib/index.js")).deleteCachedModel(url), url);
  const first = await loaded(url, { cache: true });
  assert.match(first.layout.reason, /test sentence costs/, JSON.stringify(first.layout));
  assert.equal(first.layout.probed, true);
  assert.equal((await kept())?.i2sLayout, 128, "kept with the copy");
  // From the kept copy: read as found, no sentence, the same reply.
  const again = await loaded(url, { cache: true });
  assert.match(again.layout.reason, /when this kept copy was first loaded/, JSON.stringify(again.layout));
  assert.equal(again.layout.probed, false);
  assert.equal(again.text, first.text);
  assert.deepEqual(again.warnings, []);
  // The caller still comes first; a copy deleted and downloaded again is tried afresh.
  assert.match((await loaded(url, { cache: true, i2sLayout: 128 })).layout.reason, /as the caller chose/);
  await b.page.evaluate(async (url) => (await import("./lib/index.js")).deleteCachedModel(url), url);
  const fresh = await loaded(url, { cache: true });
  assert.match(fresh.layout.reason, /test sentence costs/);
  await b.page.evaluate(async (url) => (await import("./lib/index.js")).deleteCachedModel(url), url);
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

/** A converter fixture, gunzipped where it is gzipped, in target/synth (rewritten each run: fixtures change). */
function converted(name) {
  const src = path.join(ROOT, "tests/fixtures/converters", name);
  const plain = name.replace(/\.gz$/, "");
  fs.mkdirSync(SYNTH_DIR, { recursive: true });
  const bytes = fs.readFileSync(src);
  fs.writeFileSync(path.join(SYNTH_DIR, plain), name.endsWith(".gz") ? zlib.gunzipSync(bytes) : bytes);
  return `synth/${plain}`;
}

test("bitnet.cpp's TL1/TL2 files load through the package and reply as their I2_S twin", async () => {
  // bitnet_b1_58-large's shapes are bitnet.cpp's presets: they load as they are.
  const twin = await loaded(converted("ms_large_tl.i2_s.gguf.gz"));
  for (const fmt of ["tl1", "tl2"]) {
    const r = await loaded(converted(`ms_large_tl.${fmt}.gguf.gz`));
    assert.equal(r.text, twin.text, fmt);
    assert.equal(r.layout, null, "no I2_S to decide a packing for");
    assert.deepEqual(r.warnings, []);
  }
  // Tiny shapes, in no preset: refused before the weights, naming the option; loaded with it.
  const tiny = await loaded(converted("ms_1bitllm_tl.i2_s.gguf"));
  for (const fmt of ["tl1", "tl2"]) {
    const url = converted(`ms_1bitllm_tl.${fmt}.gguf`);
    const refused = await b.page.evaluate(async (url) => {
      const { createEngine } = await import("./lib/index.js");
      return createEngine({ model: url, device: "cpu", cache: false }).then(() => null, (e) => ({ name: e.name, message: e.message }));
    }, url);
    assert.equal(refused?.name, "UnsupportedModelError", JSON.stringify(refused));
    assert.match(refused.message, new RegExp(`${fmt.toUpperCase()} lookup-table format .*tlKernelConfig`));
    const tlKernelConfig = fs.readFileSync(path.join(ROOT, `tests/fixtures/converters/ms_1bitllm_tl.${fmt}.kernel_config.ini`), "utf8");
    const r = await loaded(url, { tlKernelConfig });
    assert.equal(r.text, tiny.text, fmt);
  }
  // A config that is not one: a TypeError that says where.
  const bad = await b.page.evaluate(async (url) => {
    const { createEngine } = await import("./lib/index.js");
    return createEngine({ model: url, device: "cpu", cache: false, tlKernelConfig: "[K]\nm = x\n" }).then(() => null, (e) => ({ name: e.name, message: e.message }));
  }, converted("ms_1bitllm_tl.tl1.gguf"));
  assert.equal(bad?.name, "TypeError", JSON.stringify(bad));
  assert.match(bad.message, /tlKernelConfig: line 2: 'x' is not a whole number/);
});
