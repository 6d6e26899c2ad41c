// The bench's HTTP server, shared by bench/run.mjs (chat) and bench/embeddings.mjs: www/ at /, wllama's
// package at /wllama/, the model files at /bench-file/<i>/<name>.gguf, the bandwidth loop's wasm at
// /__bandwidth.wasm and an empty page at /__bench.html. Every response carries COOP/COEP/CORP and
// supports Range requests (scripts/serve.mjs), so the page is crossOriginIsolated and both engines can
// run SharedArrayBuffer threads.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve, staticFiles } from "../../scripts/serve.mjs";
import { withoutRelaxedSimd } from "../../scripts/without-relaxed-simd.mjs";
import { WASM_FILE } from "../bound/bandwidth.mjs";
import { WLLAMA_DIR } from "./wllama.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const BENCH_HTML = `<!doctype html><meta charset="utf-8"><title>bitnet-web bench</title><p>bench page</p>`;

/**
 * The bench's server. `simd`: "auto" lets our engine pick its build as in any browser (Chromium: the
 * relaxed-SIMD builds); "simd128" serves the page as a browser without relaxed SIMD sees it, so the
 * SIMD128 builds run (single-threaded at T=1, threaded above: Safari's builds), through the test-only
 * scripts/without-relaxed-simd.mjs.
 */
export async function startServer(files, simd = "auto") {
  const wwwRoot = path.join(ROOT, "www");
  const www = simd === "simd128" ? withoutRelaxedSimd(staticFiles(wwwRoot), wwwRoot) : staticFiles(wwwRoot);
  const wllama = staticFiles(WLLAMA_DIR);
  const perFile = files.map((f) => staticFiles(path.dirname(path.resolve(f))));
  const bandwidthWasm = staticFiles(path.join(ROOT, path.dirname(WASM_FILE)));
  const requests = [];
  const server = await serve(path.join(ROOT, "www"), 0, "127.0.0.1", (req, res) => {
    const url = req.url.split("?")[0];
    requests.push(`${req.method} ${url} ${req.headers.range || ""}`.trim());
    if (url === "/__bench.html") {
      res.writeHead(200, {
        "Content-Type": "text/html; charset=utf-8",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
        "Cache-Control": "no-store",
      });
      return res.end(BENCH_HTML);
    }
    if (url === "/favicon.ico") return res.writeHead(204).end();
    if (url === "/__bandwidth.wasm") {
      req.url = "/" + path.basename(WASM_FILE);
      return bandwidthWasm(req, res);
    }
    if (url.startsWith("/wllama/")) {
      req.url = url.slice("/wllama".length);
      return wllama(req, res);
    }
    const m = /^\/bench-file\/(\d+)\/[^/]+$/.exec(url);
    if (m && perFile[+m[1]]) {
      req.url = "/" + encodeURIComponent(path.basename(files[+m[1]]));
      return perFile[+m[1]](req, res);
    }
    return www(req, res);
  });
  return { server, requests, base: `http://127.0.0.1:${server.port}`, fileUrl: (i) => `/bench-file/${i}/${encodeURIComponent(path.basename(files[i]))}` };
}

