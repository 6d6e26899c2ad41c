// The family list on the page (issue 30, item 7), in headless Chromium, with this test's server standing in
// for the publisher: `?catalog=` points the page at a list of the same shape as the package's `catalog`,
// whose files are header-only synthetic models of the published shapes (`synth --shape … --header-only`:
// the full length, the weights never written). Each entry's fit is decided from its header alone, on a
// device that reports 4 GiB (a 2 GiB budget): 2B4T, Falcon3-1B and -3B fit, Falcon3-7B does not and says
// what would, and an entry whose file is missing says so. "Download" on the one that does not fit reads
// its header and stops there: no model loads, and no more than the header is transferred.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { openBrowser, ROOT } from "./browser.mjs";
import { made, SYNTH_DIR } from "./synth.mjs";

const BIN = path.join(ROOT, "target/release/bitnet-web");
const header = (shape) => made(`${shape}.header-only.gguf`, (part) => execFileSync(BIN, ["synth", part, "--shape", shape, "--header-only"], { stdio: "inherit" }));

/** Bytes the server sent, by path: counted as they are written (a cancelled stream stops there). */
const sent = new Map();
const counting = (handler) => (req, res) => {
  const at = req.url;
  for (const m of ["write", "end"]) {
    const plain = res[m].bind(res);
    res[m] = (chunk, ...rest) => {
      if (chunk && typeof chunk !== "function") sent.set(at, (sent.get(at) ?? 0) + chunk.length);
      return plain(chunk, ...rest);
    };
  }
  return handler(req, res);
};

let b;
before(async () => {
  b = await openBrowser({ wrap: counting });
  await b.context.addInitScript(() => Object.defineProperty(Navigator.prototype, "deviceMemory", { get: () => 4 }));
});
after(async () => { await b?.close(); });

test("the family list says whether each model fits before any download, and downloads none that cannot", { timeout: 300000 }, async () => {
  const shapes = [["2b4t", "BitNet b1.58 2B4T"], ["falcon3-1b", "Falcon3-1B"], ["falcon3-3b", "Falcon3-3B"], ["falcon3-7b", "Falcon3-7B"]];
  const list = shapes.map(([shape, name]) => ({ id: shape, name, publisher: "test", url: path.basename(header(shape).file), size: fs.statSync(header(shape).file).size, sha256: null }));
  list.push({ id: "missing", name: "Gone", publisher: "test", url: "missing.gguf", size: null, sha256: null });
  // A 1bitLLM-style file as Microsoft's converter writes it (labelled 2B4T's arch; tests/fixtures/converters).
  fs.copyFileSync(path.join(ROOT, "tests/fixtures/converters/ms_1bitllm.i2_s.gguf"), path.join(SYNTH_DIR, "ms_1bitllm.i2_s.gguf"));
  list.push({ id: "ms-1bitllm", name: "1bitLLM-style", publisher: "test", url: "ms_1bitllm.i2_s.gguf", size: null, sha256: null });
  fs.writeFileSync(path.join(SYNTH_DIR, "catalog.json"), JSON.stringify(list));
  const { page, base } = b;
  await page.goto(base + "index.html?catalog=synth/catalog.json");
  await page.waitForFunction(() => document.querySelectorAll("#family-list li").length === 6 && document.getElementById("family").open);
  const status = (id) => page.locator(`#family-list li[data-id="${id}"] .fit`);
  const check = async (id) => {
    await page.locator(`#family-list li[data-id="${id}"] button`, { hasText: "Check fit" }).click();
    await page.waitForFunction((id) => {
      const s = document.querySelector(`#family-list li[data-id="${id}"] .fit`);
      return s.dataset.fits === "true" || s.dataset.fits === "false";
    }, id, { timeout: 120000 });
    return { fits: await status(id).getAttribute("data-fits"), text: await status(id).innerText() };
  };
  for (const shape of ["2b4t", "falcon3-1b", "falcon3-3b"]) {
    const r = await check(shape);
    assert.equal(r.fits, "true", `${shape}: ${r.text}`);
    assert.match(r.text, /^Fits this device: needs about \d+ MiB of the 2048 MiB a tab may use here/, shape);
  }
  assert.match((await check("2b4t")).text, /2B4T/, "the family its clues point to");
  const big = await check("falcon3-7b");
  assert.equal(big.fits, "false");
  assert.match(big.text, /^Does not fit this device: this model needs about \d+ MB of memory, more than the 2048 MB available here; it would fit with/);
  const gone = await check("missing");
  assert.equal(gone.fits, "false");
  assert.match(gone.text, /^Cannot be used here: .*404/);

  // The page's activation setting reaches the header check: by default the clues decide (SentencePiece under
  // `bitnet-b1.58`: 1bitLLM), and a choice against them is said to be one.
  const byClues = await check("ms-1bitllm");
  assert.match(byClues.text, /\(1bitLLM \(bitnet_b1_58-large\/-3B\)\)\.$/);
  await page.evaluate(() => { document.getElementById("settings").open = true; });
  await page.selectOption("#activation", "relu2");
  const chosen = await check("ms-1bitllm");
  assert.match(chosen.text, /Warning: the caller's choice says relu2, but a SentencePiece vocabulary under 'bitnet-b1.58' is 1bitLLM/);
  await page.selectOption("#activation", "");
  await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 60000 });

  // "Download" on the model that does not fit: its header is read again, and nothing loads.
  const before = await page.locator("#stat-model").innerText();
  sent.clear();
  await page.locator(`#family-list li[data-id="falcon3-7b"] button`, { hasText: "Download" }).click();
  await page.waitForFunction(() => document.querySelector(`#family-list li[data-id="falcon3-7b"] .fit`).dataset.fits === "false", null, { timeout: 120000 });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await page.locator("#stat-model").innerText(), before, "no model was loaded");
  assert.notEqual(await page.evaluate(() => document.body.dataset.state), "loading");
  const size = fs.statSync(header("falcon3-7b").file).size;
  const moved = sent.get("/synth/falcon3-7b.header-only.gguf") ?? 0;
  assert.ok(moved > 0 && moved < 64 << 20, `only about the header travels: ${moved} of ${size} bytes`);
});
