// The npm package as a user gets it: `npm pack` the package, `npm install` the tarball into a
// fresh app, serve the app and chat through the OpenAI-style API in headless Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT } from "./browser.mjs";
import { serve } from "../../scripts/serve.mjs";

test("the packed package installs into an app and chats", async () => {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), "bitnet-web-app-"));
  const npm = (...args) => execFileSync("npm", args, { cwd: app, stdio: "pipe", encoding: "utf8" });
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", app, path.join(ROOT, "pkg")], { encoding: "utf8" }).trim().split("\n").pop();
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  npm("install", "--no-audit", "--no-fund", "--offline", path.join(app, tarball));
  for (const f of ["index.html", "main.js"]) fs.copyFileSync(path.join(ROOT, "tests/npm-app", f), path.join(app, f));
  fs.copyFileSync(path.join(ROOT, "tests/fixtures/reference/tiny_b.i2_s.gguf"), path.join(app, "model.gguf"));
  const installed = JSON.parse(fs.readFileSync(path.join(app, "node_modules/bitnet-web/package.json"), "utf8"));
  assert.equal(installed.name, "bitnet-web");
  assert.ok(fs.existsSync(path.join(app, "node_modules/bitnet-web/index.d.ts")), "types ship with the package");

  const server = await serve(app, 0);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "bitnet-web-npm-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PLAYWRIGHT_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--no-first-run", "--disable-quic"],
  });
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    await page.goto(`http://127.0.0.1:${server.port}/index.html`);
    await page.waitForFunction(() => document.title === "done", null, { timeout: 60000 });
    const r = await page.evaluate(() => window.RESULT);
    assert.equal(r.ok, true, r.error);
    assert.equal(r.chunks[0].object, "chat.completion.chunk");
    assert.equal(r.chunks[0].choices[0].delta.role, "assistant");
    assert.ok(["stop", "length"].includes(r.chunks.at(-1).choices[0].finish_reason));
    assert.ok(r.chunks.at(-1).usage.completion_tokens > 0);
    assert.equal(r.whole.object, "chat.completion");
    assert.equal(r.whole.choices[0].message.content, r.text, "greedy: streamed and whole answers agree");
    assert.ok(r.stats.decode_tok_s > 0 && r.stats.memory_bytes > 0 && r.stats.backend === "cpu");
    assert.ok(r.progress.includes("download") && r.progress.includes("header"));
    assert.deepEqual(r.typed, { name: "GgufError", isGgufError: true });
  } finally {
    await ctx.close();
    server.close();
    fs.rmSync(app, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
});
