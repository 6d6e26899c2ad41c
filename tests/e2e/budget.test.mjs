// The default memory budget (pkg/src/budget.js). First the rule against stand-in browsers (the user
// agents are real ones); the expected budgets are the rule's documented figures: half of
// deviceMemory up to wasm32's 3.5 GiB, 1 GiB for a phone or tablet that does not say its memory,
// else 3.5 GiB. Then end to end in Chromium posing as an iPhone (its user agent, and no
// navigator.deviceMemory, as Safari has none): a 2B4T-shape model is refused at its header with the
// usual OutOfMemoryError, having downloaded little more than the header, while the same browser
// without the pose would load it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, openBrowser } from "./browser.mjs";
import { MOBILE_LIMIT, WASM32_LIMIT, memoryBudget, mobileReason } from "../../pkg/src/budget.js";

const GiB = 2 ** 30;
const UA = {
  iphone: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
  // iPadOS 13+ Safari asks for desktop sites by default: a Mac's user agent.
  ipadDesktop: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
  macSafari: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
  firefoxAndroid: "Mozilla/5.0 (Android 14; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0",
  firefoxLinux: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
  chromeAndroid: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36",
};

test("the budget rule, browser by browser", () => {
  const cases = [
    // [what, env, budget]
    ["iPhone Safari (no deviceMemory)", { navigator: { userAgent: UA.iphone, maxTouchPoints: 5 }, screen: { width: 393, height: 852 } }, 1 * GiB],
    ["iPhone Safari in a worker (no screen, no touch points)", { navigator: { userAgent: UA.iphone } }, 1 * GiB],
    ["iPad Safari, desktop user agent", { navigator: { userAgent: UA.ipadDesktop, maxTouchPoints: 5 }, screen: { width: 820, height: 1180 } }, 1 * GiB],
    ["Mac Safari (no touch screen)", { navigator: { userAgent: UA.macSafari, maxTouchPoints: 0 }, screen: { width: 1512, height: 982 } }, 3.5 * GiB],
    ["Firefox on Android (no deviceMemory)", { navigator: { userAgent: UA.firefoxAndroid, maxTouchPoints: 5 } }, 1 * GiB],
    ["Firefox on Linux", { navigator: { userAgent: UA.firefoxLinux, maxTouchPoints: 0 }, screen: { width: 1920, height: 1080 } }, 3.5 * GiB],
    ["a touch laptop, desktop user agent", { navigator: { userAgent: UA.firefoxLinux, maxTouchPoints: 10 }, screen: { width: 1366, height: 768 } }, 3.5 * GiB],
    ["a phone asking for desktop sites (small touch screen)", { navigator: { userAgent: UA.firefoxLinux, maxTouchPoints: 5 }, screen: { width: 412, height: 915 } }, 1 * GiB],
    ["UA-CH says mobile, no deviceMemory", { navigator: { userAgent: UA.firefoxLinux, userAgentData: { mobile: true } } }, 1 * GiB],
    // Where the browser says the device's memory, that decides, phone or not.
    ["Chrome on Android, 4 GB", { navigator: { userAgent: UA.chromeAndroid, deviceMemory: 4, userAgentData: { mobile: true } } }, 2 * GiB],
    ["Chrome on Android, 1 GB", { navigator: { userAgent: UA.chromeAndroid, deviceMemory: 1, userAgentData: { mobile: true } } }, 0.5 * GiB],
    ["Chrome on a desktop, 8 GB (reported at most)", { navigator: { userAgent: UA.firefoxLinux, deviceMemory: 8 } }, 3.5 * GiB],
    ["nothing known", {}, 3.5 * GiB],
  ];
  for (const [what, env, budget] of cases) assert.equal(memoryBudget(env), budget, what);
  assert.equal(MOBILE_LIMIT, GiB);
  assert.equal(WASM32_LIMIT, 3.5 * GiB);
  assert.equal(mobileReason({ navigator: { userAgent: UA.ipadDesktop, maxTouchPoints: 5 } }), "iPadOS (a Mac user agent on a touch screen)");
  assert.equal(mobileReason({ navigator: { userAgent: UA.iphone } }), "an iPhone user agent");
});

const BIN = path.join(ROOT, "target/release/bitnet-web");

/**
 * The header of a 2B4T-shape I2_S file: `synth --header-only` writes a sparse file of the full length
 * (1.19 GB, its tensor data unwritten zeros); the bytes before its data offset (`inspect --json`) are
 * the header.
 */
function header2b4t() {
  if (!fs.existsSync(BIN)) execFileSync("cargo", ["build", "--release", "--bin", "bitnet-web"], { cwd: ROOT, stdio: "inherit" });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bitnet-web-budget-"));
  try {
    const file = path.join(dir, "2b4t-header.gguf");
    execFileSync(BIN, ["synth", file, "--shape", "2b4t", "--header-only"], { stdio: "pipe" });
    const { data_offset: size } = JSON.parse(execFileSync(BIN, ["inspect", file, "--json"], { maxBuffer: 256 * 2 ** 20 }).toString());
    const header = Buffer.alloc(size);
    const fd = fs.openSync(file, "r");
    try { fs.readSync(fd, header, 0, size, 0); } finally { fs.closeSync(fd); }
    return header;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Serves `/__phone/model.gguf`: the header, then zeros in 64 KiB pieces every 5 ms, as a slow
 * network would bring the weights, with no Content-Length (so the header's offsets are not held to
 * a file length: only the memory check can refuse it). `sent()` gives the bytes written so far.
 */
function slowModel(header) {
  let sent = 0;
  const wrap = (handler) => (req, res) => {
    if (new URL(req.url, "http://x").pathname !== "/__phone/model.gguf") return handler(req, res);
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store" });
    res.write(header);
    sent += header.length;
    const zeros = Buffer.alloc(64 * 1024);
    const timer = setInterval(() => {
      if (res.destroyed || sent > 2 * GiB) return clearInterval(timer);
      res.write(zeros);
      sent += zeros.length;
    }, 5);
    res.on("close", () => clearInterval(timer));
  };
  return { wrap, sent: () => sent };
}

test("posing as an iPhone, a 2B4T-shape model is refused at its header with the usual memory error", { timeout: 300000 }, async () => {
  const header = header2b4t();
  const model = slowModel(header);
  const b = await openBrowser({ wrap: model.wrap, contextOptions: { userAgent: UA.iphone } });
  try {
    // Safari has no navigator.deviceMemory; Chromium's is removed before any page script runs.
    await b.context.addInitScript(() => { delete Navigator.prototype.deviceMemory; });
    await b.page.goto(b.base + "inspect.html");
    const r = await b.page.evaluate(async () => {
      const { createEngine, estimateMemory } = await import("./lib/index.js");
      const estimate = await estimateMemory("/__phone/model.gguf", { cache: false, threads: 1 });
      try {
        await createEngine({ model: "/__phone/model.gguf", cache: false, threads: 1 });
        return { estimate, loaded: true };
      } catch (e) {
        return { estimate, name: e.name, message: e.message, ua: navigator.userAgent, deviceMemory: "deviceMemory" in navigator };
      }
    });
    console.log(`refused: ${r.message}\nserved: ${model.sent()} bytes (header ${header.length})`);
    assert.equal(r.deviceMemory, false);
    assert.equal(r.estimate.limit, MOBILE_LIMIT, "the phone budget is the one compared with");
    assert.equal(r.estimate.fits, false);
    assert.ok(r.estimate.total > MOBILE_LIMIT && r.estimate.total < WASM32_LIMIT, `a 2B4T-shape model needs ${r.estimate.total} bytes`);
    assert.equal(r.name, "OutOfMemoryError");
    assert.match(r.message, new RegExp(`^This model needs about ${r.estimate.total >> 20} MB of memory, more than the ${MOBILE_LIMIT >> 20} MB available here; `, "i"));
    // The download stopped at the header: a few pieces past it at most (each request of the two, the
    // estimate and the load, may have had some in flight), against the 1.1 GB of weights.
    await new Promise((res) => setTimeout(res, 500));
    const after = model.sent();
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(model.sent(), after, "nothing more is sent once the load was refused");
    assert.ok(after < 2 * header.length + 64 * 2 ** 20, `${after} bytes were served for a ${header.length}-byte header`);
  } finally {
    await b.close();
  }
});

test("the same browser without the pose would load it: the estimate fits its budget", { timeout: 300000 }, async () => {
  const model = slowModel(header2b4t());
  const b = await openBrowser({ wrap: model.wrap });
  try {
    await b.page.goto(b.base + "inspect.html");
    const r = await b.page.evaluate(async () => {
      const { estimateMemory } = await import("./lib/index.js");
      return { estimate: await estimateMemory("/__phone/model.gguf", { cache: false }), deviceMemory: navigator.deviceMemory ?? null };
    });
    const budget = r.deviceMemory ? Math.min(WASM32_LIMIT, (r.deviceMemory / 2) * GiB) : WASM32_LIMIT;
    assert.equal(r.estimate.limit, budget);
    assert.equal(r.estimate.fits, r.estimate.total <= budget);
    if (budget >= 2 * GiB) assert.equal(r.estimate.fits, true, `${r.estimate.total} bytes within ${budget}`);
  } finally {
    await b.close();
  }
});
