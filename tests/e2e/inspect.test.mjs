// The inspector page in real headless Chromium: it loads the wasm, streams a bundled GGUF, shows the
// header, and turns bad input into an error a person can read.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openBrowser, screenshotPath } from "./browser.mjs";

let b;
before(async () => { b = await openBrowser(); });
after(async () => { await b?.close(); });

async function inspect(page, submit) {
  await submit();
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 30000 });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    output: document.getElementById("output").textContent,
    error: document.getElementById("error").textContent,
  }));
}

test("the page streams the bundled Llama-3 vocabulary header into wasm", async () => {
  const { page, base } = b;
  const r = await inspect(page, () => page.goto(base + "inspect.html"));
  assert.equal(r.state, "done", r.error + "\n" + b.logs.join("\n"));
  assert.match(r.output, /general\.architecture\s+str\s+"bitnet-b1\.58"/);
  assert.match(r.output, /tokenizer\.ggml\.tokens\s+arr\[str,128256\]/);
  assert.match(r.output, /tokenizer\.ggml\.merges\s+arr\[str,280147\]/);
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  await page.screenshot({ path: screenshotPath("inspect-vocab.png"), fullPage: false });
});

test("a tensor table with I2_S tensors is shown", async () => {
  const { page } = b;
  const r = await inspect(page, async () => {
    await page.selectOption("#bundled", "models/i2s-fixture.gguf");
    await page.click("#go");
  });
  assert.equal(r.state, "done", r.error);
  assert.match(r.output, /blk\.0\.attn_q\.weight\s+I2_S\s+\[256, 3\]\s+\d+\s+224/);
  assert.match(r.output, /token_embd\.weight\s+F16\s+\[128, 2\]/);
  await page.screenshot({ path: screenshotPath("inspect-i2s.png") });
});

test("a 404 and a file that is not GGUF get clear errors", async () => {
  const { page } = b;
  let r = await inspect(page, async () => {
    await page.fill("#url", new URL("models/missing.gguf", b.base).href);
    await page.click("#go");
  });
  assert.equal(r.state, "error");
  assert.match(r.error, /404/);
  r = await inspect(page, async () => {
    await page.fill("#url", new URL("inspect.html", b.base).href);
    await page.click("#go");
  });
  assert.equal(r.state, "error");
  assert.match(r.error, /not a GGUF file/);
});
