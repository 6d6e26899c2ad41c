// A small static file server for www/: COOP/COEP headers (cross-origin isolation, which wasm threads
// need), HTTP Range requests with ETag / If-Range (resumable downloads), and loopback only.
//
//   node scripts/serve.mjs [ROOT=www] [PORT=8080]
//   import { serve } from "./serve.mjs"; const srv = await serve(root, 0); srv.port; srv.close();
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css",
  ".svg": "image/svg+xml", ".png": "image/png", ".webmanifest": "application/manifest+json",
};

/**
 * A request handler serving files under `root`.
 * @param {{ isolate?: boolean, cors?: boolean }} [o]  isolate: send COOP/COEP (default true);
 *     cors: serve to any origin, as a CDN does (Access-Control-Allow-Origin: *)
 */
export function staticFiles(root, { isolate = true, cors = false } = {}) {
  root = path.resolve(root);
  return (req, res) => {
    const headers = {
      ...(isolate && { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }),
      "Cross-Origin-Resource-Policy": cors ? "cross-origin" : "same-origin",
      ...(cors && { "Access-Control-Allow-Origin": "*" }),
      "Cache-Control": "no-cache",
    };
    let file;
    try {
      file = path.join(root, decodeURIComponent(new URL(req.url, "http://x").pathname));
    } catch {
      res.writeHead(400, headers).end();
      return;
    }
    if (file !== root && !file.startsWith(root + path.sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, "index.html");
        try { st = fs.statSync(file); } catch (e) { err = e; }
      }
      if (err || !st.isFile()) {
        res.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end("not found");
        return;
      }
      headers["Content-Type"] = TYPES[path.extname(file)] || "application/octet-stream";
      headers["Accept-Ranges"] = "bytes";
      headers.ETag = `"${st.size}-${Math.floor(st.mtimeMs)}"`;
      // A Range with an If-Range that no longer matches gets the whole (changed) file (RFC 9110 §13.1.5).
      const ifRange = req.headers["if-range"];
      const range = (!ifRange || ifRange === headers.ETag) && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || "");
      let start = 0, end = st.size - 1, status = 200;
      if (range) {
        start = range[1] ? +range[1] : Math.max(0, st.size - +range[2]);
        end = range[1] && range[2] ? Math.min(+range[2], st.size - 1) : st.size - 1;
        if (start > end || start >= st.size) {
          res.writeHead(416, { ...headers, "Content-Range": `bytes */${st.size}` }).end();
          return;
        }
        status = 206;
        headers["Content-Range"] = `bytes ${start}-${end}/${st.size}`;
      }
      headers["Content-Length"] = end - start + 1;
      res.writeHead(status, headers);
      if (req.method === "HEAD") return res.end();
      fs.createReadStream(file, { start, end }).pipe(res);
    });
  };
}

/** Serves `root` (or any handler) on `host:port`; port 0 picks a free one (`server.port`). */
export function serve(root, port = 8080, host = "127.0.0.1", handler = staticFiles(root)) {
  const server = http.createServer(handler);
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      server.port = server.address().port;
      resolve(server);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [root = "www", port = "8080"] = process.argv.slice(2);
  const srv = await serve(root, +port);
  console.log(`serving ${path.resolve(root)} at http://127.0.0.1:${srv.port}/ (COOP/COEP on; Ctrl+C stops)`);
}
