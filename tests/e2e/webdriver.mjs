// The other browser engines over W3C WebDriver (selenium-webdriver): Firefox ESR through geckodriver,
// and WebKitGTK through WebKitWebDriver (under Xvfb: its MiniBrowser has no headless mode). Each
// engine's `missing()` gives the reason to skip it when its driver is not installed (scripts/setup.sh
// installs both); `start(o)` gives { driver, stop }.
import { execFileSync, spawn } from "node:child_process";
import net from "node:net";
import { Builder } from "selenium-webdriver";
import firefox from "selenium-webdriver/firefox.js";

export const which = (bin) => { try { return execFileSync("which", [bin], { encoding: "utf8" }).trim(); } catch { return null; } };
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** WebKitWebDriver on a free port, inside its own Xvfb display, with `env` added: { url, stop }. */
async function startWebKitDriver(env = {}) {
  const port = await freePort();
  const proc = spawn("xvfb-run", ["-a", "WebKitWebDriver", `--port=${port}`], { stdio: "ignore", detached: true, env: { ...process.env, ...env } });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(url + "/status")).ok) break;
    } catch { /* not listening yet */ }
    if (i > 100) throw new Error("WebKitWebDriver did not start");
    await sleep(100);
  }
  return { url, stop: () => { try { process.kill(-proc.pid); } catch { /* gone */ } } };
}

export const ENGINES = {
  firefox: {
    missing: () => (which("geckodriver") && which("firefox-esr") ? null : "geckodriver or firefox-esr is not installed"),
    /** `prefs`: about:config preferences for the profile. */
    async start({ prefs = {} } = {}) {
      const options = new firefox.Options().addArguments("-headless").setBinary(which("firefox-esr"));
      for (const [k, v] of Object.entries(prefs)) options.setPreference(k, v);
      const driver = await new Builder().forBrowser("firefox").setFirefoxOptions(options)
        .setFirefoxService(new firefox.ServiceBuilder(which("geckodriver"))).build();
      return { driver, stop: async () => driver.quit() };
    },
  },
  webkit: {
    missing: () => (which("WebKitWebDriver") && which("xvfb-run") ? null : "WebKitWebDriver or xvfb-run is not installed"),
    /** `env`: variables for the driver, and so for the browser it starts (JSC_* options reach its web process). */
    async start({ env = {} } = {}) {
      const server = await startWebKitDriver(env);
      const driver = await new Builder().usingServer(server.url).withCapabilities({
        browserName: "MiniBrowser",
        "webkitgtk:browserOptions": { binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", args: ["--automation"] },
      }).build();
      return { driver, stop: async () => { await driver.quit().catch(() => {}); server.stop(); } };
    },
  },
};
