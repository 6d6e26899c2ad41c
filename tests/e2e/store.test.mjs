// The offline store with two tabs of one origin, the way it lost data: two pages of one browser
// profile (one Chromium context) whose downloads of different models finish together. The server
// holds every response at its last byte until all the pages' requests wait there, then releases
// them in the same tick, so the two stores' publishes race. Before the store took a Web Lock for
// its index, one entry was lost in 4 of 6 such tries and the next engine's orphan removal then
// deleted that model's file. Also: a download in progress while another page starts an engine
// (orphan removal), the same URL downloaded by two pages at once, and a model deleted in one page
// while another reads its rows. Firefox ESR runs the racing publishes too (its own OPFS locking).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./browser.mjs";
import { launchChromium } from "../../scripts/chromium.mjs";
import { ENGINES } from "./webdriver.mjs";
import { serve, staticFiles } from "../../scripts/serve.mjs";

/** Races in Chromium (each: two models finishing together), and in Firefox. */
const REPEATS = 20;
const FIREFOX_REPEATS = 5;
const MODEL = fs.readFileSync(path.join(ROOT, "tests/fixtures/reference/tiny_a.i2_s.gguf"));
const BLANK = "<!doctype html><meta charset=utf-8><title>blank</title>";

/**
 * Serves www/ (the package in www/lib), a blank page, and /held/NAME: the model, held at its last
 * byte until `gate.open(n)` says how many held requests to wait for; they are then released at once.
 */
async function startServer() {
  const files = staticFiles(path.join(ROOT, "www"));
  const log = [];
  let waiting = [];
  let want = Infinity;
  const release = () => {
    if (waiting.length < want) return;
    const now = waiting;
    waiting = [];
    want = Infinity;
    for (const end of now) end();
  };
  const server = await serve(null, 0, "127.0.0.1", (req, res) => {
    const url = new URL(req.url, "http://x");
    log.push(url.pathname + url.search);
    const isolation = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cache-Control": "no-cache" };
    if (url.pathname === "/blank.html") return res.writeHead(200, { ...isolation, "Content-Type": "text/html" }).end(BLANK);
    if (!url.pathname.startsWith("/held/")) return files(req, res);
    res.writeHead(200, { ...isolation, "Cross-Origin-Resource-Policy": "same-origin", "Content-Type": "application/octet-stream", "Content-Length": MODEL.length });
    res.write(MODEL.subarray(0, MODEL.length - 1));
    waiting.push(() => res.end(MODEL.subarray(MODEL.length - 1)));
    release();
  });
  const base = `http://127.0.0.1:${server.port}/`;
  return {
    base,
    log,
    /** Releases the next `n` held requests together, once all `n` wait at their last byte. */
    open(n) {
      want = n;
      release();
    },
    requestsFor: (url) => log.filter((p) => url.endsWith(p)).length,
    close: () => server.close(),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Polls `check` (sync or async) until it is truthy, for at most a minute; resolves with its value. */
async function until(check, what) {
  for (let i = 0; ; i++) {
    const v = await check();
    if (v) return v;
    assert.ok(i < 1200, `${what}, within a minute`);
    await sleep(50);
  }
}

/** In a page: loads `url` (kept offline by default) on one thread and unloads it: what it kept. */
const LOAD = async ([url, opts]) => {
  const { createEngine } = await import("./lib/index.js");
  const warnings = [];
  const engine = await createEngine({ model: url, threads: 1, contextLength: 256, onProgress: (p) => p.phase === "warning" && warnings.push(p.message), ...opts });
  const answer = (await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 4, temperature: 0 })).choices[0].message.content;
  await engine.unload();
  return { kept: engine.kept, answer, warnings };
};

/** In a page: the kept models' URLs, whether each is complete, and the store's files. */
const STATE = async () => {
  const { listCachedModels, hasModel } = await import("./lib/index.js");
  const models = await listCachedModels();
  const complete = await Promise.all(models.map((m) => hasModel(m.url)));
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("bitnet-web-models", { create: true });
  const files = [];
  for await (const name of dir.keys()) if (name.endsWith(".gguf")) files.push(name);
  return { urls: models.map((m) => m.url).sort(), complete, files: files.length };
};

describe("two tabs of one origin in Chromium", () => {
  let srv;
  let chromium;
  const page = async () => {
    const p = await chromium.context.newPage();
    await p.goto(srv.base + "blank.html");
    return p;
  };

  before(async () => {
    srv = await startServer();
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    srv?.close();
  });

  test(`downloads of two models that finish together keep both, ${REPEATS} times; a third page loads every one with no request`, { timeout: 600000 }, async () => {
    const [a, b] = [await page(), await page()];
    const urls = [];
    for (let i = 0; i < REPEATS; i++) {
      const ua = `${srv.base}held/a.gguf?race=${i}`;
      const ub = `${srv.base}held/b.gguf?race=${i}`;
      urls.push(ua, ub);
      srv.open(2);
      const [ra, rb] = await Promise.all([a.evaluate(LOAD, [ua, {}]), b.evaluate(LOAD, [ub, {}])]);
      assert.ok(ra.kept && rb.kept, `race ${i}: both pages kept their model (${JSON.stringify([ra, rb])})`);
    }
    const third = await page();
    // A third page starts an engine: its worker's orphan removal runs first.
    await third.evaluate(LOAD, [`${srv.base}models/bitnet-tiny-chat.i2_s.gguf?third`, { cache: false }]);
    const state = await third.evaluate(STATE);
    assert.deepEqual(state.urls, [...urls].sort(), "every model is still listed");
    assert.ok(state.complete.every(Boolean), "and complete");
    assert.equal(state.files, urls.length, "one file each, nothing else");
    const before = srv.log.length;
    for (const url of urls) {
      const r = await third.evaluate(LOAD, [url, {}]);
      assert.equal(r.kept, true, `${url} loads from the kept copy`);
    }
    const requests = srv.log.slice(before).filter((p) => p.startsWith("/held/"));
    assert.deepEqual(requests, [], "no model was downloaded again");
    for (const p of [a, b, third]) await p.close();
  });

  test("a download in progress survives another page's orphan removal, and is kept complete", { timeout: 120000 }, async () => {
    const [a, b] = [await page(), await page()];
    const url = `${srv.base}held/a.gguf?in-progress`;
    const loading = a.evaluate(LOAD, [url, {}]);
    // Wait until the download holds at its last byte: its file exists, unlisted.
    await until(() => srv.log.includes("/held/a.gguf?in-progress"), "the download started");
    await sleep(300);
    // Another page starts an engine, whose worker removes orphans before it loads.
    await b.evaluate(LOAD, [`${srv.base}models/bitnet-tiny-chat.i2_s.gguf?orphans`, { cache: false }]);
    srv.open(1);
    const r = await loading;
    assert.equal(r.kept, true);
    const state = await b.evaluate(STATE);
    assert.ok(state.urls.includes(url), "listed");
    assert.ok(state.complete[state.urls.indexOf(url)], "complete");
    const n = srv.requestsFor(url);
    assert.equal((await b.evaluate(LOAD, [url, {}])).kept, true, "loads from the kept copy");
    assert.equal(srv.requestsFor(url), n, "with no request");
    for (const p of [a, b]) await p.close();
  });

  test("the same URL downloaded by two pages at once is kept once, and both answer", { timeout: 120000 }, async () => {
    const [a, b] = [await page(), await page()];
    const url = `${srv.base}held/a.gguf?same`;
    srv.open(2);
    const [ra, rb] = await Promise.all([a.evaluate(LOAD, [url, {}]), b.evaluate(LOAD, [url, {}])]);
    assert.equal(ra.answer, rb.answer, "both answer the same");
    assert.equal([ra, rb].filter((r) => r.kept).length, 1, "one page kept it");
    const other = ra.kept ? rb : ra;
    assert.match(other.warnings.join("\n"), /Another tab is already downloading this model/);
    const state = await a.evaluate(STATE);
    assert.equal(state.urls.filter((u) => u === url).length, 1, "one entry");
    for (const p of [a, b]) await p.close();
  });

  test("a model deleted in one page while another reads its rows: unlisted at once, answering on, removed once unused", { timeout: 120000 }, async () => {
    const [a, b] = [await page(), await page()];
    const url = `${srv.base}models/bitnet-tiny-chat.i2_s.gguf?deleted`;
    await a.evaluate(LOAD, [url, {}]); // kept
    const r = await a.evaluate(async (url) => {
      const { createEngine } = await import("./lib/index.js");
      const engine = await createEngine({ model: url, threads: 1, contextLength: 256 });
      window.reader = engine;
      return { kept: engine.kept, inFile: engine.header.embeddingInFile };
    }, url);
    assert.deepEqual(r, { kept: true, inFile: true }, "page a reads the embedding's rows from the kept copy");
    const filesBefore = (await b.evaluate(STATE)).files;
    await b.evaluate(async (url) => (await import("./lib/index.js")).deleteCachedModel(url), url);
    const during = await b.evaluate(STATE);
    assert.ok(!during.urls.includes(url), "unlisted at once");
    assert.equal(during.files, filesBefore, "the file stays while page a reads it");
    const ask = { messages: [{ role: "user", content: "What is a cat?" }], max_tokens: 8, temperature: 0 };
    const text = await a.evaluate(async (ask) => (await window.reader.chat.completions.create(ask)).choices[0].message.content, ask);
    assert.ok(text.length > 0, "page a answers on");
    // Another engine starting now must not remove the file either: page a still reads it.
    await b.evaluate(LOAD, [`${srv.base}models/bitnet-tiny-chat.i2_s.gguf?while-read`, { cache: false }]);
    await a.evaluate(() => window.reader.chat.completions.create({ messages: [{ role: "user", content: "More" }], max_tokens: 4, temperature: 0 }));
    await a.evaluate(() => window.reader.unload());
    await b.evaluate(LOAD, [`${srv.base}models/bitnet-tiny-chat.i2_s.gguf?after`, { cache: false }]);
    assert.equal((await b.evaluate(STATE)).files, filesBefore - 1, "removed once nothing reads it");
    for (const p of [a, b]) await p.close();
  });
});

describe("two tabs of one origin in Firefox ESR", { skip: ENGINES.firefox.missing() ?? false }, () => {
  test(`downloads of two models that finish together keep both, ${FIREFOX_REPEATS} times`, { timeout: 600000 }, async () => {
    const srv = await startServer();
    const { driver, stop } = await ENGINES.firefox.start();
    try {
      await driver.get(srv.base + "blank.html");
      const tabA = await driver.getWindowHandle();
      await driver.switchTo().newWindow("tab");
      await driver.get(srv.base + "blank.html");
      const tabB = await driver.getWindowHandle();
      // Starts a load in a tab without waiting; its result lands in window.result.
      const start = async (tab, url, opts = {}) => {
        await driver.switchTo().window(tab);
        await driver.executeScript(`window.result = null; (${LOAD})(arguments[0]).then((r) => { window.result = r; }, (e) => { window.result = { error: String(e) }; });`, [url, opts]);
      };
      const result = async (tab) => {
        await driver.switchTo().window(tab);
        return until(() => driver.executeScript("return window.result"), "the load ends");
      };
      const urls = [];
      for (let i = 0; i < FIREFOX_REPEATS; i++) {
        const ua = `${srv.base}held/a.gguf?ff=${i}`;
        const ub = `${srv.base}held/b.gguf?ff=${i}`;
        urls.push(ua, ub);
        srv.open(2);
        await start(tabA, ua);
        await start(tabB, ub);
        const [ra, rb] = [await result(tabA), await result(tabB)];
        assert.ok(ra.kept && rb.kept, `race ${i}: both tabs kept their model (${JSON.stringify([ra, rb])})`);
      }
      await start(tabA, `${srv.base}models/bitnet-tiny-chat.i2_s.gguf?ff`, { cache: false });
      await result(tabA);
      const state = await driver.executeAsyncScript(`const done = arguments[arguments.length - 1]; (${STATE})().then(done, (e) => done({ error: String(e) }));`);
      assert.deepEqual(state.urls, [...urls].sort(), `every model is still listed (${JSON.stringify(state)})`);
      assert.ok(state.complete.every(Boolean), "and complete");
    } finally {
      await stop().catch(() => {});
      srv.close();
    }
  });
});
