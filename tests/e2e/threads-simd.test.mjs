// The threaded SIMD128 build: what a cross-origin isolated page gets in a browser with
// SharedArrayBuffer but no relaxed SIMD (Safari). On two threads it must give the greedy answer the
// single-thread SIMD128 build gives, report 2 threads and the SIMD128 kernel, and say no reason for
// fewer threads. Run in three engines:
//   - Firefox ESR with relaxed SIMD off by its own preference (javascript.options.wasm_relaxed_simd);
//   - Chromium, which has no switch for it, served a features.js that reports relaxed SIMD missing
//     (scripts/without-relaxed-simd.mjs says why; the package never contains that copy);
//   - WebKitGTK, which has no relaxed dot product and, by default, no SharedArrayBuffer: JavaScriptCore's
//     own option (JSC_useSharedArrayBuffer=1 in the driver's environment, which its web process inherits)
//     turns it on; without it the page is isolated but cannot share memory, and runs on one thread
//     (checked last).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { openBrowser, serveWww } from "./browser.mjs";
import { ENGINES } from "./webdriver.mjs";
import { withoutRelaxedSimd } from "../../scripts/without-relaxed-simd.mjs";

const MODEL = "models/bitnet-tiny-chat.i2_s.gguf";

/**
 * In the page: loads the embedded model on `threads` threads (not kept offline, so the storage plays
 * no part), answers greedily, and returns the engine's info with the answer.
 */
const RUN = `async (threads) => {
  const { createEngine } = await import("./lib/index.js");
  const features = await import("./lib/features.js");
  const engine = await createEngine({ model: ${JSON.stringify(MODEL)}, threads, cache: false });
  try {
    const out = await engine.chat.completions.create({
      messages: [{ role: "user", content: "Tell me about the sea." }], max_tokens: 24, temperature: 0, ignore_eos: true,
    });
    const { kernel, threads: running, threadsNote } = engine.info;
    return { simd: features.simdLevel(), isolated: self.crossOriginIsolated, kernel, threads: running, threadsNote,
      text: out.choices[0].message.content, tokens: out.usage.completion_tokens };
  } finally {
    await engine.unload();
  }
}`;

function check(name, one, two) {
  console.log(`${name}: 1 thread: ${JSON.stringify(one)}\n${name}: 2 threads: ${JSON.stringify(two)}`);
  assert.equal(one.simd, "simd", "the browser reports no relaxed SIMD");
  assert.equal(one.kernel, "simd128");
  assert.equal(one.threads, 1);
  assert.equal(two.isolated, true);
  assert.equal(two.threadsNote, null, "no reason for fewer threads");
  assert.equal(two.threads, 2);
  assert.equal(two.kernel, "simd128", "the threaded build without relaxed SIMD runs the SIMD128 kernel");
  assert.equal(two.tokens, 24);
  assert.equal(two.text, one.text, "two threads give the single-thread greedy answer");
}

test("Chromium without relaxed SIMD: the threaded SIMD128 build on 2 threads gives the 1-thread answer", { timeout: 300000 }, async () => {
  const b = await openBrowser({ wrap: withoutRelaxedSimd });
  try {
    await b.page.goto(b.base + "inspect.html");
    const one = await b.page.evaluate(`(${RUN})(1)`);
    const two = await b.page.evaluate(`(${RUN})(2)`);
    check("chromium", one, two);
    // The wasm files fetched: the single-thread SIMD128 build, then the threaded one; never a relaxed build.
    const wasm = b.requests.map((r) => r.path).filter((p) => p.endsWith(".wasm"));
    assert.deepEqual([...new Set(wasm)], ["/lib/wasm-simd/bitnet_web_bg.wasm", "/lib/wasm-threads-simd/bitnet_web_bg.wasm"]);
  } finally {
    await b.close();
  }
});

const WEBDRIVER = {
  firefox: { prefs: { "javascript.options.wasm_relaxed_simd": false } },
  webkit: { env: { JSC_useSharedArrayBuffer: "1" } },
};

for (const [name, options] of Object.entries(WEBDRIVER)) {
  const engine = ENGINES[name];
  describe(`${name} without relaxed SIMD`, { skip: engine.missing() ?? false }, () => {
    let www;
    let session;
    before(async () => {
      www = await serveWww();
      session = await engine.start(options);
    });
    after(async () => {
      await session?.stop();
      www?.server.close();
    });

    test("the threaded SIMD128 build on 2 threads gives the 1-thread answer", { timeout: 300000 }, async () => {
      const { driver } = session;
      await driver.manage().setTimeouts({ script: 240000 });
      await driver.get(www.base + "inspect.html");
      const run = (threads) => driver.executeScript(`return (${RUN})(arguments[0])`, threads);
      const one = await run(1);
      const two = await run(2);
      check(name, one, two);
    });
  });
}

// WebKitGTK as it ships: the page is cross-origin isolated, yet SharedArrayBuffer is missing and a
// shared memory cannot be posted to a worker (DataCloneError), so the engine runs on one thread, says
// why, and still answers.
describe("webkit as shipped (SharedArrayBuffer off)", { skip: ENGINES.webkit.missing() ?? false }, () => {
  let www;
  let session;
  before(async () => {
    www = await serveWww();
    session = await ENGINES.webkit.start();
  });
  after(async () => {
    await session?.stop();
    www?.server.close();
  });

  test("an isolated page runs on one thread and says SharedArrayBuffer is missing", { timeout: 300000 }, async () => {
    const { driver } = session;
    await driver.manage().setTimeouts({ script: 240000 });
    await driver.get(www.base + "inspect.html");
    const r = await driver.executeScript(`return (${RUN})(2)`);
    console.log(`webkit as shipped, 2 threads asked: ${JSON.stringify(r)}`);
    assert.equal(r.isolated, true);
    assert.equal(r.threads, 1);
    assert.match(r.threadsNote, /no SharedArrayBuffer/);
    assert.equal(r.kernel, "simd128");
    assert.equal(r.tokens, 24);
  });
});
