// Threads in the page: a cross-origin isolated page runs the threaded build on every core (up to 8),
// and a page served without COOP/COEP falls back to one thread, says why, and still chats.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openBrowser } from "./browser.mjs";

async function loadAndAsk(b) {
  const { page, base } = b;
  await page.goto(base);
  await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state), null, { timeout: 60000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), "ready", await page.locator("#error").innerText());
  await page.fill("#input", "Hello!");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#messages li.assistant .meta").length > 0 && document.body.dataset.state === "ready");
  const meta = await page.locator("#messages li.assistant .meta").first().innerText();
  assert.match(meta, /[1-9]\d* tokens?/, "an answer was generated");
  return {
    backend: await page.locator("#stat-backend").innerText(),
    note: await page.locator("#stat-backend").getAttribute("title"),
    isolated: await page.evaluate(() => crossOriginIsolated),
    cores: await page.evaluate(() => Math.min(navigator.hardwareConcurrency || 1, 8)),
  };
}

test("a cross-origin isolated page runs the threaded build on every core", async () => {
  const b = await openBrowser();
  try {
    const r = await loadAndAsk(b);
    assert.equal(r.isolated, true);
    assert.match(r.backend, new RegExp(`relaxed-simd(-i32)? · ${r.cores} threads?$`));
    // The footer's title says why not WebGPU (there is no adapter here) and, if any, why fewer threads.
    assert.equal(r.note.split("\n").filter((l) => !l.startsWith("WebGPU not used")).join(""), "");
  } finally {
    await b.close();
  }
});

test("without COOP/COEP the engine runs on one thread and says why", async () => {
  const b = await openBrowser({ isolated: false });
  try {
    const r = await loadAndAsk(b);
    assert.equal(r.isolated, false);
    assert.match(r.backend, /relaxed-simd(-i32)? · 1 thread$/);
    if (r.cores > 1) assert.match(r.note, /cross-origin isolated/);
  } finally {
    await b.close();
  }
});
