// The chat page in real headless Chromium (playwright-core + Debian's chromium): loading with
// progress, streamed answers, stop, queueing, offline reload, local files, bad downloads, resume.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { openBrowser, screenshotPath, ROOT } from "./browser.mjs";

let b;
before(async () => { b = await openBrowser(); });
after(async () => { await b?.close(); });

const state = (page) => page.evaluate(() => document.body.dataset.state);
const waitState = (page, states, timeout = 60000) =>
  page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });
const models = async (page) => page.evaluate(async () => (await import("./lib/index.js")).listCachedModels());

async function openPage(query = "") {
  const { page, base } = b;
  await page.addInitScript(() => { window.__progress = []; });
  await page.goto(base + query);
  await waitState(page, ["ready", "error"]);
  return page;
}

/** Sets a field inside the (collapsible) settings panel. */
async function setting(page, id, value) {
  await page.evaluate(() => { document.getElementById("settings").open = true; });
  await page.fill(`#${id}`, String(value));
}

/** Sends a message; resolves with its answer's text and status line once the page is idle again. */
async function ask(page, text) {
  const before = await page.locator("#messages li.assistant").count();
  await page.fill("#input", text);
  await page.press("#input", "Enter");
  await page.waitForFunction((n) => document.querySelectorAll("#messages li.assistant").length > n, before);
  await waitState(page, ["ready"]);
  const li = page.locator("#messages li.assistant").nth(before);
  return { text: await li.innerText(), meta: await li.locator(".meta").innerText() };
}

test("the embedded model downloads with monotonic progress, then a message gets a streamed answer", async () => {
  // A long context, so that a long answer can be stopped halfway.
  const page = await openPage("?ctx=4096&ignore_eos=1");
  assert.equal(await state(page), "ready", await page.locator("#error").innerText() + b.logs.join("\n"));
  const progress = await page.evaluate(() => window.__progress);
  assert.ok(progress.length >= 1, "progress events were reported");
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].loaded >= progress[i - 1].loaded, "progress never goes back");
  const last = progress.at(-1);
  assert.equal(last.loaded, last.total, "the whole file arrived");

  // Count how often the answer's text changes while it streams.
  await page.evaluate(() => {
    window.__changes = 0;
    new MutationObserver(() => window.__changes++).observe(document.getElementById("messages"), { subtree: true, characterData: true, childList: true });
  });
  const answer = await ask(page, "Hello!");
  assert.match(answer.meta, /[1-9]\d* tokens?/, "an answer was generated");
  assert.ok(await page.evaluate(() => window.__changes) > 3, "the answer streamed in pieces");
  assert.match(await page.locator("#stat-speed").innerText(), /tok\/s/);
  assert.match(await page.locator("#stat-memory").innerText(), /MB/);
  assert.match(await page.locator("#stat-backend").innerText(), /cpu · relaxed-simd(-i32)? · /);
  assert.equal((await models(page)).length, 1, "the model was kept for offline use");
});

test("stop works mid-stream, and the next message still gets an answer", async () => {
  const page = b.page;
  await setting(page, "max-tokens", 4000);
  await page.fill("#input", "Tell me a long story.");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => {
    const li = [...document.querySelectorAll("#messages li.assistant")].at(-1);
    return li && !li.classList.contains("queued") && li.querySelector(".body").textContent.length > 0;
  });
  await page.screenshot({ path: screenshotPath("chat-mid-answer.png") });
  await page.click("#stop");
  await waitState(page, ["ready"]);
  const stopped = page.locator("#messages li.assistant").last();
  assert.match(await stopped.locator(".meta").innerText(), /stopped/);
  await setting(page, "max-tokens", 24);
  assert.match((await ask(page, "And now?")).meta, /[1-9]\d* tokens?/);
});

test("two messages sent quickly are queued, never interleaved", async () => {
  const page = b.page;
  await page.click("#new-chat");
  await page.evaluate(() => {
    window.__order = [];
    new MutationObserver((records) => {
      for (const r of records) {
        const li = (r.target.nodeType === 1 ? r.target : r.target.parentElement)?.closest("li.assistant");
        if (li && li.querySelector(".body").textContent) window.__order.push([...document.querySelectorAll("#messages li.assistant")].indexOf(li));
      }
    }).observe(document.getElementById("messages"), { subtree: true, characterData: true, childList: true });
  });
  await page.fill("#input", "first");
  await page.press("#input", "Enter");
  await page.fill("#input", "second");
  await page.press("#input", "Enter");
  assert.equal(await page.locator("#messages li.user").count(), 2);
  await page.waitForFunction(() => document.querySelectorAll("#messages li.assistant:not(.queued) .meta").length === 2 &&
    [...document.querySelectorAll("#messages li.assistant .meta")].every((m) => m.textContent), null, { timeout: 60000 });
  const order = (await page.evaluate(() => window.__order)).filter((i) => i >= 0);
  const firstOfSecond = order.indexOf(1);
  assert.ok(firstOfSecond > 0, `the second answer streamed: ${order}`);
  assert.ok(!order.slice(firstOfSecond).includes(0), `answers interleaved: ${order}`);
});

test("a phone-sized viewport has no horizontal scrolling", async () => {
  const page = b.page;
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390));
  await page.screenshot({ path: screenshotPath("chat-phone.png") });
  await page.setViewportSize({ width: 1280, height: 800 });
});

test("with the network off, a reload still loads the page and the model, and chat works", async () => {
  const page = b.page;
  await page.evaluate(() => navigator.serviceWorker.ready);
  await b.context.setOffline(true);
  try {
    await page.reload();
    await waitState(page, ["ready", "error"]);
    assert.equal(await state(page), "ready", await page.locator("#error").innerText());
    await setting(page, "max-tokens", 16);
    assert.match((await ask(page, "Hi again")).meta, /[1-9]\d* tokens?/);
  } finally {
    await b.context.setOffline(false);
  }
});

test("a local file loads through the picker", async () => {
  const page = b.page;
  await page.setInputFiles("#model-file", path.join(ROOT, "tests/fixtures/reference/tiny_a.i2_s.gguf"));
  await page.waitForFunction(() => document.getElementById("stat-model").textContent.includes("tiny_a.i2_s.gguf") && document.body.dataset.state === "ready");
  await setting(page, "max-tokens", 8);
  assert.match((await ask(page, "hi")).meta, /[1-9]\d* tokens?/);
  assert.equal(await page.locator("#error").isHidden(), true);
});

test("a 404, a corrupt file and a truncated file show clear errors, and nothing is cached", async () => {
  const page = b.page;
  const before = (await models(page)).length;
  const load = async (url) => {
    await page.check('input[name=source][value=url]');
    await page.fill("#model-url", new URL(url, b.base).href);
    await page.click("#load");
    await waitState(page, ["error"]);
    return page.locator("#error").innerText();
  };
  assert.match(await load("models/missing.gguf"), /HTTP 404.*check the URL/);
  assert.match(await load("faulty/corrupt/models/bitnet-tiny-chat.i2_s.gguf"), /not a usable GGUF.*not a GGUF file/s);
  assert.match(await load("faulty/truncated/models/bitnet-tiny-chat.i2_s.gguf"), /truncated|ended after/);
  const after = await models(page);
  assert.equal(after.length, before, `nothing new was cached: ${JSON.stringify(after)}`);
});

test("a download cut halfway resumes with a Range request", async () => {
  const page = b.page;
  await page.check('input[name=source][value=url]');
  await page.fill("#model-url", new URL("faulty/cut-once/models/bitnet-tiny-chat.i2_s.gguf", b.base).href);
  await page.click("#load");
  await waitState(page, ["ready", "error"]);
  assert.equal(await state(page), "ready", await page.locator("#error").innerText());
  const ranged = b.requests.filter((r) => r.path.includes("cut-once") && r.range);
  assert.ok(ranged.length >= 1, "a Range request resumed the download");
  assert.match(ranged[0].range, /^bytes=\d+-$/);
});

test("a file that changes on the server mid-download is refused, never spliced or cached", async () => {
  const page = b.page;
  const url = new URL("faulty/changes-once/models/bitnet-tiny-chat.i2_s.gguf", b.base).href;
  await page.check('input[name=source][value=url]');
  await page.fill("#model-url", url);
  await page.click("#load");
  // The page was ready with the last model: wait for this load to start, then to end.
  await page.waitForFunction(() => document.body.dataset.state !== "ready");
  await waitState(page, ["ready", "error"]);
  assert.equal(await state(page), "error", JSON.stringify(b.requests.filter((r) => r.path.includes("changes-once"))));
  assert.match(await page.locator("#error").innerText(), /changed on the server while it was downloading/);
  const resumed = b.requests.filter((r) => r.path.includes("changes-once") && r.range);
  assert.ok(resumed.length >= 1 && resumed[0].ifRange === '"v1"', `the resume named the first version: ${JSON.stringify(resumed)}`);
  const cached = await page.evaluate(async (u) => (await (await import("./lib/index.js")).listCachedModels()).some((m) => m.url === u), url);
  assert.equal(cached, false, "nothing was kept offline");
});

test("the page ran all of the above under its Content-Security-Policy, with no violation", async () => {
  const csp = await b.page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/);
  const violations = b.logs.filter((l) => /Content Security Policy|Refused to/i.test(l));
  assert.deepEqual(violations, []);
});
