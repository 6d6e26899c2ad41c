// Shared end-to-end plumbing: serve www/ with COOP/COEP and drive Debian's Chromium with playwright-core.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../../scripts/chromium.mjs";
import { serve, staticFiles } from "../../scripts/serve.mjs";
import { SYNTH_DIR } from "./synth.mjs";
import { faultyFiles } from "./faults.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = path.join(ROOT, "tests/e2e/artifacts");

/**
 * Starts the server and a fresh headless Chromium profile; returns { base, context, page, close }.
 * `isolated: false` serves without COOP/COEP, as a host that does not set them would; `wrap` wraps
 * the server's handler (e.g. scripts/without-relaxed-simd.mjs); `contextOptions` go to Playwright's
 * context (e.g. `userAgent`).
 */
export async function openBrowser({ flags = [], viewport, isolated = true, wrap, contextOptions = {} } = {}) {
  const { server, base, requests } = await serveWww({ isolated, wrap });
  const chromium = await launchChromium({ flags, contextOptions: { ...(viewport ? { viewport } : {}), ...contextOptions } });
  const { context } = chromium;
  const page = context.pages()[0] || (await context.newPage());
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
  return {
    base,
    context,
    page,
    logs,
    requests,
    async close() {
      await chromium.close();
      server.close();
    },
  };
}

/**
 * Serves www/ (with the test-only faults in front) on a free loopback port: { server, base, requests }.
 * `wrap(handler, root)`, if given, wraps the handler.
 */
export async function serveWww({ isolated = true, wrap } = {}) {
  const faults = faultyFiles(path.join(ROOT, "www"));
  const handler = isolated ? faults.handler : (req, res) => {
    const writeHead = res.writeHead.bind(res);
    res.writeHead = (status, headers = {}) => {
      delete headers["Cross-Origin-Opener-Policy"];
      delete headers["Cross-Origin-Embedder-Policy"];
      return writeHead(status, headers);
    };
    faults.handler(req, res);
  };
  const root = path.join(ROOT, "www");
  // The files the tests made (synth.mjs) at /synth/: served to the tests only, from target/.
  const synthFiles = staticFiles(SYNTH_DIR, { isolate: isolated });
  const routed = (req, res) => {
    if (!req.url.startsWith("/synth/")) return handler(req, res);
    req.url = req.url.slice("/synth".length);
    synthFiles(req, res);
  };
  const server = await serve(root, 0, "127.0.0.1", wrap ? wrap(routed, root) : routed);
  return { server, base: `http://127.0.0.1:${server.port}/`, requests: faults.log };
}

export function screenshotPath(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
