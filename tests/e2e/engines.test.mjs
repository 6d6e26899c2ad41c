// The chat page's core in the other browser engines, over W3C WebDriver (selenium-webdriver):
// Firefox ESR through geckodriver, and WebKitGTK through WebKitWebDriver (under Xvfb: its
// MiniBrowser has no headless mode). In each: the embedded model loads with progress, an answer
// streams, Stop works, a reload with the server gone still loads the page and the model, and a
// local file loads through the picker. Chromium runs the same and more in chat.test.mjs.
//
// An engine whose driver is not installed is skipped with the reason (scripts/setup.sh installs
// both); `xvfb-run` is found on PATH for WebKit. webdriver.mjs starts them.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { By, Key } from "selenium-webdriver";
import { ROOT, screenshotPath, serveWww } from "./browser.mjs";
import { ENGINES, sleep } from "./webdriver.mjs";

for (const [name, engine] of Object.entries(ENGINES)) {
  describe(`the chat page in ${name}`, { skip: engine.missing() ?? false }, () => {
    let www;
    let session;
    let driver;
    const js = (script, ...args) => driver.executeScript(script, ...args);
    const state = () => js("return document.body.dataset.state");
    const waitState = async (states, ms = 120000) => {
      const end = Date.now() + ms;
      for (;;) {
        const s = await state();
        if (states.includes(s)) return s;
        if (Date.now() > end) throw new Error(`still "${s}" after ${ms} ms: ${await js("return document.getElementById('error').textContent")}`);
        await sleep(100);
      }
    };
    const shot = async (file) => fs.writeFileSync(screenshotPath(`${name}-${file}`), await driver.takeScreenshot(), "base64");
    const ask = async (text) => {
      const before = await js("return document.querySelectorAll('#messages li.assistant').length");
      await driver.findElement(By.id("input")).sendKeys(text, Key.ENTER);
      const end = Date.now() + 120000;
      while (await js("return document.querySelectorAll('#messages li.assistant').length") <= before) {
        if (Date.now() > end) throw new Error("no answer appeared");
        await sleep(50);
      }
      await waitState(["ready"]);
      return js("const li = [...document.querySelectorAll('#messages li.assistant')].at(-1); return { text: li.innerText, meta: li.querySelector('.meta').textContent }");
    };
    const setting = (id, value) => js("document.getElementById('settings').open = true; const e = document.getElementById(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true }));", id, String(value));

    before(async () => {
      www = await serveWww();
      session = await engine.start();
      driver = session.driver;
    });
    after(async () => {
      await session?.stop();
      www?.server.close();
    });

    test("the embedded model loads with progress, and an answer streams", async () => {
      await driver.get(www.base + "?ctx=4096&ignore_eos=1");
      // Progress is shown while the model downloads (the page's bar), then the page is ready.
      await waitState(["ready", "error"]);
      assert.equal(await state(), "ready", await js("return document.getElementById('error').textContent"));
      await js("window.__changes = 0; new MutationObserver(() => window.__changes++).observe(document.getElementById('messages'), { subtree: true, characterData: true, childList: true });");
      const answer = await ask("Hello!");
      assert.match(answer.meta, /[1-9]\d* tokens?/);
      assert.ok(await js("return window.__changes") > 3, "the answer streamed in pieces");
      const backend = await js("return document.getElementById('stat-backend').textContent + ' | ' + (document.getElementById('stat-backend').title || '')");
      console.log(`${name}: ${backend}`);
      assert.match(backend, /cpu · (relaxed-simd|relaxed-simd-i32|simd128) · \d+ threads?/);
      // Where OPFS has sync access handles (Firefox), the kept model's embedding is read from the copy;
      // WebKit keeps models in Cache Storage, which has none, and holds it.
      const memory = await js("return document.getElementById('stat-memory').title");
      if (name === "firefox") assert.match(memory, /read from the copy kept offline/);
      else assert.equal(memory, "");
      await shot("chat.png");
    });

    test("Stop ends an answer mid-stream, and the next message gets an answer", async () => {
      await setting("max-tokens", 4000);
      const before = await js("return document.querySelectorAll('#messages li.assistant').length");
      await driver.findElement(By.id("input")).sendKeys("Tell me a long story.", Key.ENTER);
      const end = Date.now() + 120000;
      // The new answer (not the previous one) has started streaming.
      while (!(await js("const all = document.querySelectorAll('#messages li.assistant'); const li = all[arguments[0]]; return !!li && !li.classList.contains('queued') && li.querySelector('.body').textContent.length > 0", before))) {
        if (Date.now() > end) throw new Error("the answer did not start");
        await sleep(50);
      }
      await driver.findElement(By.id("stop")).click();
      await waitState(["ready"]);
      assert.match(await js("return [...document.querySelectorAll('#messages li.assistant .meta')].at(-1).textContent"), /stopped/);
      await setting("max-tokens", 16);
      assert.match((await ask("And now?")).meta, /[1-9]\d* tokens?/);
    });

    test("Benchmark this device fills one row per thread count and gives the report", async () => {
      await js("document.getElementById('settings').open = true; document.getElementById('bench-run').click();");
      const end = Date.now() + 240000;
      while (!["done", "failed"].includes(await js("return document.body.dataset.bench"))) {
        if (Date.now() > end) throw new Error(`the benchmark did not end: ${await js("return document.getElementById('bench-status').textContent")}`);
        await sleep(200);
      }
      assert.equal(await js("return document.body.dataset.bench"), "done", await js("return document.getElementById('bench-status').textContent"));
      const report = JSON.parse(await js("return document.getElementById('bench-json').textContent"));
      console.log(`${name}: ${JSON.stringify(report.runs.map((r) => [r.threads, Math.round(r.prefill_tok_s), Math.round(r.decode_tok_s), +r.read_gb_s.toFixed(1)]))}`);
      assert.equal(report.runs.length, report.engine.threads);
      assert.equal(await js("return document.querySelectorAll('#bench-table tbody tr').length"), report.engine.threads);
      // No tab reads even its cache at a terabyte a second: a pass timed by a coarse clock as 0 ms would.
      for (const r of report.runs) assert.ok(r.prefill_tok_s > 0 && r.decode_tok_s > 0 && r.read_gb_s > 0 && r.read_gb_s < 1000 && r.bound_tok_s > 0, JSON.stringify(r));
      await js("document.getElementById('settings').open = false;");
      assert.match((await ask("And after?")).meta, /[1-9]\d* tokens?/);
    });

    test("with the server gone, a reload still loads the page and the model from the offline cache", async () => {
      const store = await js("return navigator.storage?.getDirectory ? navigator.storage.getDirectory().then(() => 'OPFS', () => 'Cache Storage') : 'Cache Storage'");
      console.log(`${name}: models kept offline in ${store}`);
      await js("return navigator.serviceWorker.ready.then(() => true)");
      const cached = await js("return import('./lib/index.js').then((m) => m.listCachedModels()).then((l) => l.length)");
      assert.ok(cached >= 1, "the embedded model was kept for offline use");
      www.server.closeAllConnections?.();
      await new Promise((r) => www.server.close(r));
      try {
        // A navigation, not a refresh: a WebDriver refresh may bypass the service worker.
        await driver.get(www.base + "?ctx=4096&ignore_eos=1");
        await waitState(["ready", "error"]);
        assert.equal(await state(), "ready", await js("return document.getElementById('error').textContent"));
        // The conversations of before the reload were saved (IndexedDB), and reopen with their Markdown replies.
        const saved = await js("return [...document.querySelectorAll('#conversation-list button')].map((b) => b.textContent)");
        assert.ok(saved.includes("Hello!"), `saved conversations: ${saved}`);
        await js("[...document.querySelectorAll('#conversation-list button')].find((b) => b.textContent === 'Hello!').click()");
        const end = Date.now() + 10000;
        while (await js("return document.querySelectorAll('#messages li.assistant .body.markdown p').length") < 1) {
          if (Date.now() > end) throw new Error("the saved conversation did not reopen");
          await sleep(50);
        }
        await setting("max-tokens", 16);
        assert.match((await ask("Hi again")).meta, /[1-9]\d* tokens?/);
        // With the server gone, estimateMemory reads the kept model's header from the offline store.
        const estimate = await js("return import('./lib/index.js').then(async (m) => { const [kept] = await m.listCachedModels(); const e = await m.estimateMemory(kept.url); return [e.fits, e.total, e.weights + e.largestTensor + e.kvCache + e.runtime]; })");
        assert.equal(estimate[0], true);
        assert.ok(estimate[1] > 0 && estimate[1] === estimate[2], `${estimate}`);
      } finally {
        const port = Number(new URL(www.base).port);
        const { serve } = await import("../../scripts/serve.mjs");
        const { faultyFiles } = await import("./faults.mjs");
        www.server = await serve(path.join(ROOT, "www"), port, "127.0.0.1", faultyFiles(path.join(ROOT, "www")).handler);
      }
    });

    test("a local file loads through the picker", async () => {
      await driver.findElement(By.id("model-file")).sendKeys(path.join(ROOT, "tests/fixtures/reference/tiny_a.i2_s.gguf"));
      const end = Date.now() + 60000;
      while (!(await js("return document.getElementById('stat-model').textContent.includes('tiny_a.i2_s.gguf') && document.body.dataset.state === 'ready'"))) {
        if (Date.now() > end) throw new Error(`the file did not load: ${await js("return document.getElementById('error').textContent")}`);
        await sleep(100);
      }
      await setting("max-tokens", 8);
      assert.match((await ask("hi")).meta, /[1-9]\d* tokens?/);
    });
  });
}
