// "Benchmark this device" (issue 33) on the chat page, in headless Chromium, isolated (threads) as the
// page is served: the button measures the embedded model at each thread count from 1 to the engine's,
// the table shows one row per count, and the report is JSON a user can copy. The figures are checked
// against what they must be by definition (positive, the bound is the read rate over the bytes a token
// reads, those bytes at least the file's ternary tensors), never against values of our own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { openBrowser, ROOT } from "./browser.mjs";

const MODEL = path.join(ROOT, "www/models/bitnet-tiny-chat.i2_s.gguf");

let b;
before(async () => {
  b = await openBrowser();
  await b.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: b.base.slice(0, -1) });
});
after(async () => { await b?.close(); });

/** Two bits per weight of the file's ternary (I2_S) tensors, from their shapes in `bitnet-web inspect`: what a token reads at least. */
function ternaryBytes() {
  const out = execFileSync(path.join(ROOT, "target/release/bitnet-web"), ["inspect", MODEL], { encoding: "utf8" });
  return out.split("\n").filter((l) => /\bI2_S\b/.test(l))
    .reduce((n, l) => n + l.match(/\[([\d, ]+)\]/)[1].split(",").reduce((p, d) => p * Number(d), 1) / 4, 0);
}

test("the page benchmarks this device at every thread count and gives the report as JSON", { timeout: 300000 }, async () => {
  const { page, base } = b;
  await page.goto(base);
  await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 120000 });
  const threads = await page.evaluate(() => Number(document.getElementById("stat-backend").textContent.match(/(\d+) threads?/)?.[1] ?? 1));
  await page.evaluate(() => { document.getElementById("settings").open = true; });
  await page.click("#bench-run");
  await page.waitForFunction(() => document.body.dataset.bench === "done" || document.body.dataset.bench === "failed", null, { timeout: 240000 });
  assert.equal(await page.evaluate(() => document.body.dataset.bench), "done", await page.textContent("#bench-status"));
  assert.match(await page.textContent("#bench-status"), /^Done: up to [\d.]+ tokens\/s of decode on cpu/);

  const rows = await page.$$eval("#bench-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, threads, `one row per thread count: ${JSON.stringify(rows)}`);
  rows.forEach((r, i) => {
    assert.equal(Number(r[0]), i + 1);
    for (const v of r.slice(1)) assert.ok(Number(v) > 0, `row ${i + 1}: ${JSON.stringify(r)}`);
  });

  const report = JSON.parse(await page.textContent("#bench-json"));
  console.log(JSON.stringify(report.runs));
  assert.equal(report.runs.length, threads);
  assert.equal(report.engine.threads, threads);
  assert.equal(report.device.crossOriginIsolated, true);
  const least = ternaryBytes();
  assert.ok(least > 0);
  for (const [i, run] of report.runs.entries()) {
    assert.equal(run.threads, i + 1);
    assert.equal(run.backend, "cpu");
    assert.equal(run.prompt_tokens, report.promptTokens);
    assert.equal(run.gen_tokens, report.genTokens);
    assert.ok(run.decode_bytes >= least, `a token reads at least the ternary tensors: ${run.decode_bytes} < ${least}`);
    assert.ok(Math.abs(run.bound_tok_s - run.read_gb_s * 1e9 / run.decode_bytes) <= 1e-6 * run.bound_tok_s);
  }
  // Copy puts the same JSON on the clipboard.
  await page.click("#bench-copy");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.deepEqual(JSON.parse(copied), report);

  // The chat still answers after it.
  await page.fill("#input", "Hello!");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#messages li.assistant .meta").length > 0
    && /tokens?/.test(document.querySelector("#messages li.assistant .meta").textContent), null, { timeout: 120000 });
});

test("engine.benchmark validates its options and stops on a signal", { timeout: 300000 }, async () => {
  const r = await b.page.evaluate(async () => {
    const { createEngine } = await import("./lib/index.js");
    const engine = await createEngine({ model: "models/bitnet-tiny-chat.i2_s.gguf", threads: 2 });
    const out = {};
    try { await engine.benchmark({ promptTokens: 0 }); } catch (e) { out.bad = e.name; }
    const ctl = new AbortController();
    ctl.abort();
    try { await engine.benchmark({ signal: ctl.signal }); } catch (e) { out.aborted = e.name; }
    const seen = [];
    const report = await engine.benchmark({ promptTokens: 8, genTokens: 4, onProgress: (p) => seen.push([p.threads, p.of]) });
    out.seen = seen;
    out.runs = report.runs.map((r) => [r.threads, r.prompt_tokens, r.gen_tokens]);
    out.threads = engine.info.threads;
    await engine.unload();
    return out;
  });
  assert.equal(r.bad, "RangeError");
  assert.equal(r.aborted, "AbortError");
  assert.deepEqual(r.runs, Array.from({ length: r.threads }, (_, i) => [i + 1, 8, 4]));
  assert.deepEqual(r.seen, Array.from({ length: r.threads }, (_, i) => [i + 1, r.threads]));
});
