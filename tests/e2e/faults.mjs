// Test-only fault injection in front of the static server, to see how the page copes with a
// network that cuts out, a truncated file, a corrupt file and a missing one.
//   /faulty/cut-once/PATH   the first request sends half the file, then drops the connection;
//                           later (Range) requests are served normally.
//   /faulty/truncated/PATH  a complete response holding only the first 60% of the file.
//   /faulty/corrupt/PATH    the file with its first bytes overwritten (not GGUF any more).
//   /faulty/changes-once/PATH  the first request sends half of the file (ETag "v1") and drops the
//                           connection; by the resume the file has "changed" (ETag "v2"), so a
//                           Range with If-Range "v1" gets the whole file, as a real server answers.
//   /faulty/wrong-length/PATH  a Content-Length 4096 bytes past the file's end: the body stops short,
//                           and a resume asks for bytes the file does not have (416).
//   /faulty/status-500/PATH a server error.
//   /faulty/416-on-resume/PATH  half the file, then every Range request is refused with 416.
//   /faulty/stall/PATH      half the file, then nothing (the connection stays open); a resume gets
//                           its headers and then nothing either.
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
    const m = /^\/faulty\/(cut-once|truncated|corrupt|changes-once|wrong-length|status-500|416-on-resume|stall)(\/.*)$/.exec(url.pathname);
    if (!m) return plain(req, res);
    const [, kind, rest] = m;
    const file = path.join(path.resolve(root), decodeURIComponent(rest));
    const headers = { "Cross-Origin-Resource-Policy": "same-origin", "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes" };
    if (kind === "cut-once" && (cut.has(rest) || req.headers.range)) {
      req.url = rest;
      return plain(req, res);
    }
    const bytes = fs.readFileSync(file);
    const half = (status, extra) => {
      res.writeHead(status, { ...headers, ...extra });
      res.write(bytes.subarray(0, bytes.length >> 1));
    };
    if (kind === "status-500") return res.writeHead(500, { "Content-Type": "text/plain" }).end("internal error");
    if (kind === "wrong-length") {
      if (req.headers.range) {
        req.url = rest;
        return plain(req, res);
      }
      res.writeHead(200, { ...headers, "Content-Length": bytes.length + 4096 });
      return res.write(bytes, () => setTimeout(() => res.destroy(), 50));
    }
    if (kind === "416-on-resume") {
      if (req.headers.range) return res.writeHead(416, { ...headers, "Content-Range": `bytes */${bytes.length}` }).end();
      half(200, { "Content-Length": bytes.length });
      return setTimeout(() => res.destroy(), 50);
    }
    if (kind === "stall") {
      if (req.headers.range) return res.writeHead(206, { ...headers, "Content-Range": `bytes ${req.headers.range.slice(6)}${bytes.length - 1}/${bytes.length}` }).flushHeaders();
      return half(200, { "Content-Length": bytes.length });
    }
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
