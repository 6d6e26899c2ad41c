// Tests and the bench only: makes a Chromium page behave as a browser without relaxed SIMD (Safari),
// so that the worker picks the SIMD128 builds, single-threaded or threaded, by its own rule.
//
// Chromium has no switch left for it: relaxed SIMD shipped, and in Chromium 156 neither
// `--js-flags=--no-experimental-wasm-relaxed-simd` nor `--disable-features=WebAssemblyRelaxedSimd`
// changes what `WebAssembly.validate` accepts (both tried). So the server answers `lib/features.js`
// with a copy whose `missingRelaxedOps()` reports every relaxed op missing, which is what that
// function returns in a browser without relaxed SIMD. The package never contains this copy: it
// exists only in the responses of a server that wraps its handler with `withoutRelaxedSimd`.
import fs from "node:fs";
import path from "node:path";

const MARKER = "export function missingRelaxedOps() {";

/** features.js's source with every relaxed op reported missing. */
export function featuresWithoutRelaxedSimd(source) {
  if (!source.includes(MARKER)) throw new Error(`features.js no longer has \`${MARKER}\`: update scripts/without-relaxed-simd.mjs`);
  return source.replace(MARKER, `${MARKER}\n  return Object.keys(RELAXED_OPS).map(Number); // scripts/without-relaxed-simd.mjs`);
}

/**
 * Wraps `handler` (a server's request handler for `root`, www/ or an app) so that any
 * `…/lib/features.js` (and `…/dist/features.js`) is served without relaxed SIMD, with the headers an
 * isolated page needs; every other request goes to `handler`.
 */
export function withoutRelaxedSimd(handler, root) {
  return (req, res) => {
    const pathname = new URL(req.url, "http://x").pathname;
    if (!/\/(lib|dist)\/features\.js$/.test(pathname)) return handler(req, res);
    const file = path.join(root, decodeURIComponent(pathname));
    const body = featuresWithoutRelaxedSimd(fs.readFileSync(file, "utf8"));
    res.writeHead(200, {
      "Content-Type": "text/javascript",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": "no-cache",
    });
    res.end(body);
  };
}
