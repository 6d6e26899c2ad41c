// The npm package the way apps consume it: `npm pack` the package, install the tarball into
// examples/app, then build that app with Vite and with webpack, run it on Vite's dev server, and
// serve it without a bundler from its own origin and from a CDN-style second origin. Each setup
// chats in headless Chromium, on one thread without cross-origin isolation and on every core with it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { ROOT } from "./browser.mjs";
import { serve, staticFiles } from "../../scripts/serve.mjs";

const WORK = path.join(ROOT, "target/examples");
const APP = path.join(WORK, "app");
const MODEL = path.join(ROOT, "tests/fixtures/reference/tiny_b.i2_s.gguf");
let browser;
const servers = [];

const run = (cmd, args, cwd = APP) => execFileSync(cmd, args, { cwd, stdio: "pipe", encoding: "utf8" });

before(async () => {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const tarball = run("npm", ["pack", "--silent", "--pack-destination", WORK, path.join(ROOT, "pkg")], ROOT).trim().split("\n").pop();
  fs.cpSync(path.join(ROOT, "examples/app"), APP, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(APP, "package.json"), "utf8"));
  manifest.dependencies["bitnet-web"] = `file:${path.join(WORK, tarball)}`;
  fs.writeFileSync(path.join(APP, "package.json"), JSON.stringify(manifest, null, 2));
  // The bundlers come from the npm cache that `npm ci` in the repository filled (same versions).
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"]);
  fs.mkdirSync(path.join(APP, "public"));
  fs.copyFileSync(MODEL, path.join(APP, "public/model.gguf")); // Vite serves and copies public/
  fs.copyFileSync(MODEL, path.join(APP, "model.gguf")); // for the plain app
  ({ browser } = await launchChromium({ persistent: false }));
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.close?.() ?? s.kill?.();
});

async function serveDir(dir, options) {
  const s = await serve(dir, 0, "127.0.0.1", staticFiles(dir, options));
  servers.push(s);
  return `http://127.0.0.1:${s.port}/`;
}

/**
 * Opens the app, waits for the model, sends "Hello!" and checks what the page showed: an answer, on
 * `threads` threads ("cores": every core up to 8, as `threads: "auto"` asks), from one wasm file.
 */
async function chat(url, { threads }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  const wasm = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
  context.on("request", (r) => new URL(r.url()).pathname.endsWith(".wasm") && wasm.push(r.url()));
  try {
    await page.goto(url);
    if (threads === "cores") threads = await page.evaluate(() => Math.min(navigator.hardwareConcurrency || 1, 8));
    const status = () => page.locator("#status").innerText();
    await page.waitForFunction(() => /^(ready|error)/.test(document.getElementById("status").textContent), null, { timeout: 90000 });
    assert.match(await status(), /^ready/, `${url}: ${await status()}\n${logs.join("\n")}`);
    await page.click("#ask");
    await page.waitForFunction(() => /^(done|error)/.test(document.getElementById("status").textContent), null, { timeout: 90000 });
    const done = await status();
    assert.match(done, new RegExp(`^done: (stop|length), [\\d.]+ tok/s on ${threads} threads?$`), `${url}: ${done}\n${logs.join("\n")}`);
    assert.ok((await page.locator("#out").innerText()).length > 0, "the answer streamed into the page");
    assert.equal(wasm.length, 1, `only the wasm build that runs is downloaded: ${wasm.join(", ")}`);
    return { isolated: await page.evaluate(() => crossOriginIsolated), logs };
  } finally {
    await context.close();
  }
}

/** Starts Vite's dev server on the app and resolves with its URL. */
function viteDev() {
  return new Promise((resolve, reject) => {
    const vite = spawn(process.execPath, ["node_modules/vite/bin/vite.js", "--host", "127.0.0.1", "--port", "0", "--strictPort=false"], { cwd: APP, stdio: ["ignore", "pipe", "pipe"] });
    servers.push(vite);
    let out = "";
    const onData = (d) => {
      out += d;
      // eslint-disable-next-line no-control-regex
      const m = /Local:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ""));
      if (m) resolve(m[1]);
    };
    vite.stdout.on("data", onData);
    vite.stderr.on("data", onData);
    vite.on("exit", (code) => reject(new Error(`vite exited with ${code}: ${out}`)));
  });
}

test("TypeScript: an app that uses every option type-checks against the packed package's types", () => {
  run(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."]);
});

test("Vite: the production build chats, on every core when isolated and 1 when not", async () => {
  run(process.execPath, ["node_modules/vite/bin/vite.js", "build", "--outDir", "dist-vite", "--logLevel", "warn"]);
  const dist = path.join(APP, "dist-vite");
  const wasm = fs.readdirSync(path.join(dist, "assets")).filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 4, `the four wasm builds are emitted (only the one a browser runs is fetched): ${wasm}`);
  assert.equal((await chat(await serveDir(dist, { isolate: true }), { threads: "cores" })).isolated, true);
  assert.equal((await chat(await serveDir(dist, { isolate: false }), { threads: 1 })).isolated, false);
});

test("Vite: the dev server chats on every core (COOP/COEP from vite.config.js)", async () => {
  const r = await chat(await viteDev(), { threads: "cores" });
  assert.equal(r.isolated, true);
});

test("webpack 5: the production build chats, on every core when isolated and 1 when not", async () => {
  run(process.execPath, ["node_modules/webpack-cli/bin/cli.js", "--no-stats"]);
  const dist = path.join(APP, "dist-webpack");
  fs.copyFileSync(MODEL, path.join(dist, "model.gguf"));
  for (const f of fs.readdirSync(dist).filter((f) => f.endsWith(".js"))) {
    assert.ok(!fs.readFileSync(path.join(dist, f), "utf8").includes("file://"), `no build-machine paths in ${f}`);
  }
  assert.equal((await chat(await serveDir(dist, { isolate: true }), { threads: "cores" })).isolated, true);
  assert.equal((await chat(await serveDir(dist, { isolate: false }), { threads: 1 })).isolated, false);
});

test("plain ESM: the app without a bundler chats from its own origin", async () => {
  assert.equal((await chat(await serveDir(APP, { isolate: true }), { threads: "cores" })).isolated, true);
  assert.equal((await chat(await serveDir(APP, { isolate: false }), { threads: 1 })).isolated, false);
});

test("a thread pool that cannot start falls back to one thread at once, and says why", async () => {
  const files = staticFiles(APP, { isolate: true });
  const s = await serve(APP, 0, "127.0.0.1", (req, res) => (req.url.endsWith("/threads.js") ? res.writeHead(404).end() : files(req, res)));
  servers.push(s);
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const t0 = Date.now();
    await page.goto(`http://127.0.0.1:${s.port}/`);
    await page.waitForFunction(() => /^(ready|error)/.test(document.getElementById("status").textContent), null, { timeout: 90000 });
    const status = await page.locator("#status").innerText();
    assert.match(status, /^ready: relaxed-simd(-i32)?, 1 thread \(the threaded build failed to start \(a thread's worker failed to start.*\); running on one thread\)$/);
    // "At once": a failed thread rejects on its error event (worker.js, startThreads), so the page is
    // ready in the time a load takes, where a pool that never started would leave it waiting out the 90 s
    // above. That load takes 7.3 s run alone on the 2-core VM, and took 8.4-16.6 s in `make test`, where
    // node runs the other e2e files beside it (2026-12-07).
    assert.ok(Date.now() - t0 < 30000, `the fallback took ${Date.now() - t0} ms`);
  } finally {
    await context.close();
  }
});

test("CDN: the package served from another origin chats, threads included", async () => {
  const cdn = await serveDir(APP, { cors: true });
  const page = path.join(WORK, "cdn-page");
  fs.mkdirSync(page, { recursive: true });
  const html = fs.readFileSync(path.join(APP, "index.html"), "utf8").replace("./node_modules/bitnet-web/dist/index.js", `${cdn}node_modules/bitnet-web/dist/index.js`);
  assert.ok(html.includes(cdn), "the import map points at the other origin");
  fs.writeFileSync(path.join(page, "index.html"), html);
  fs.copyFileSync(path.join(APP, "main.js"), path.join(page, "main.js"));
  fs.copyFileSync(MODEL, path.join(page, "model.gguf"));
  assert.equal((await chat(await serveDir(page, { isolate: true }), { threads: "cores" })).isolated, true);
  assert.equal((await chat(await serveDir(page, { isolate: false }), { threads: 1 })).isolated, false);
});
