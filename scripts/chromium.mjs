// The one way every test and bench starts Chromium: Debian's (or $PLAYWRIGHT_CHROMIUM) through
// playwright-core, headless, with the flags every run needs (no sandbox as root, no first-run UI,
// no QUIC to loopback servers) and, for a persistent profile, a temporary directory that close()
// removes (chromedriver's leftovers once filled CI's disk: scripts/own-tmp.sh).
//
//   const { context, close } = await launchChromium();             // a persistent profile: one origin's storage
//   const { browser, close } = await launchChromium({ persistent: false }); // fresh contexts on demand
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.PLAYWRIGHT_CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--no-sandbox", "--no-first-run", "--disable-quic"];

/**
 * @param {{ persistent?: boolean, flags?: string[], contextOptions?: object, headless?: boolean }} [o]
 *   flags: extra command-line switches; contextOptions: Playwright's (viewport, userAgent, …), for a
 *   persistent profile.
 * @returns {Promise<{ context?: import("playwright-core").BrowserContext, browser?: import("playwright-core").Browser, profile?: string, pid: () => number | null, close: () => Promise<void> }>}
 */
export async function launchChromium({ persistent = true, flags = [], contextOptions = {}, headless = true } = {}) {
  const args = [...ARGS, ...flags];
  if (!persistent) {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless, args });
    return { browser, pid: () => null, close: () => browser.close() };
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "bitnet-web-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless, args, ...contextOptions });
  return {
    context,
    profile,
    /** The browser process (the one started with this profile), for memory readings. */
    pid() {
      for (const p of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).sort((x, y) => x - y)) {
        try {
          const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
          if (cmd.includes(`--user-data-dir=${profile}`) && !cmd.some((c) => c.startsWith("--type="))) return Number(p);
        } catch { /* gone */ }
      }
      return null;
    },
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
