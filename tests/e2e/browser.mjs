// Shared end-to-end plumbing: serve www/ with COOP/COEP and drive Debian's Chromium with playwright-core.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "../../scripts/serve.mjs";
import { faultyFiles } from "./faults.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = path.join(ROOT, "tests/e2e/artifacts");

/**
 * Starts the server and a fresh headless Chromium profile; returns { base, context, page, close }.
 * `isolated: false` serves without COOP/COEP, as a host that does not set them would.
 */
export async function openBrowser({ flags = [], viewport, isolated = true } = {}) {
  const { server, base, requests } = await serveWww({ isolated });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "bitnet-web-e2e-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PLAYWRIGHT_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--no-first-run", "--disable-quic", ...flags],
    ...(viewport ? { viewport } : {}),
  });
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
      await context.close();
      server.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Serves www/ (with the test-only faults in front) on a free loopback port: { server, base, requests }. */
export async function serveWww({ isolated = true } = {}) {
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
  const server = await serve(path.join(ROOT, "www"), 0, "127.0.0.1", handler);
  return { server, base: `http://127.0.0.1:${server.port}/`, requests: faults.log };
}

export function screenshotPath(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
