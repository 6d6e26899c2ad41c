// Test-only fault injection in front of the static server, to see how the page copes with a
// network that cuts out, a truncated file, a corrupt file and a missing one.
//   /faulty/cut-once/PATH   the first request sends half the file, then drops the connection;
//                           later (Range) requests are served normally.
//   /faulty/truncated/PATH  a complete response holding only the first 60% of the file.
//   /faulty/corrupt/PATH    the file with its first bytes overwritten (not GGUF any more).
//   /faulty/changes-once/PATH  the first request sends half of the file (ETag "v1") and drops the
//                           connection; by the resume the file has "changed" (ETag "v2"), so a
//                           Range with If-Range "v1" gets the whole file, as a real server answers.
import fs from "node:fs";
import path from "node:path";
import { staticFiles } from "../../scripts/serve.mjs";

export function faultyFiles(root) {
  const plain = staticFiles(root);
  const cut = new Set();
  const changed = new Set();
  const log = [];
  const handler = (req, res) => {
    const url = new URL(req.url, "http://x");
    log.push({ path: url.pathname, range: req.headers.range || null });
    log.at(-1).ifRange = req.headers["if-range"] || null;
    const m = /^\/faulty\/(cut-once|truncated|corrupt|changes-once)(\/.*)$/.exec(url.pathname);
    if (!m) return plain(req, res);
    const [, kind, rest] = m;
    const file = path.join(path.resolve(root), decodeURIComponent(rest));
    const headers = { "Cross-Origin-Resource-Policy": "same-origin", "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes" };
    if (kind === "cut-once" && (cut.has(rest) || req.headers.range)) {
      req.url = rest;
      return plain(req, res);
    }
    const bytes = fs.readFileSync(file);
    if (kind === "changes-once") {
      const first = !changed.has(rest);
      changed.add(rest);
      res.writeHead(200, { ...headers, ETag: first ? '"v1"' : '"v2"', "Content-Length": bytes.length });
      if (first) return res.write(bytes.subarray(0, bytes.length >> 1), () => setTimeout(() => res.destroy(), 50));
      return res.end(bytes);
    }
    if (kind === "cut-once") {
      cut.add(rest);
      res.writeHead(200, { ...headers, "Content-Length": bytes.length });
      res.write(bytes.subarray(0, bytes.length >> 1), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    const body = kind === "truncated" ? bytes.subarray(0, Math.floor(bytes.length * 0.6)) : Buffer.concat([Buffer.from("<html>oops</html>"), bytes.subarray(17)]);
    res.writeHead(200, { ...headers, "Content-Length": body.length });
    res.end(body);
  };
  return { handler, log };
}
