// Streams a URL chunk by chunk, with progress and resumption: when the connection drops, it asks
// for the rest with an HTTP Range request and carries on where it stopped. Nothing accumulates
// here: each chunk goes to `onChunk` (the wasm loader, the cache writer), in one reused buffer
// (chunks.js), so a chunk is valid only until `onChunk` resolves.
import { reusingReader } from "./chunks.js";
import { AbortError, DownloadError } from "./errors.js";

const RETRIES = 5;
/** A connection that delivers nothing for this long is dropped and resumed (Range), like a cut one. */
export const STALL_TIMEOUT_MS = 30000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The error message for a failed response, with what a person can do about it. */
export function describe(resp, url) {
  const hint = resp.status === 404 ? " (check the URL)"
    : resp.status === 403 || resp.status === 401 ? " (the file is not public)"
    : resp.status >= 500 ? " (the server failed; try again later)"
    : "";
  return `Download failed: HTTP ${resp.status} ${resp.statusText || ""} for ${url}${hint}`.replace("  ", " ");
}

/**
 * @param {string} url
 * `onResponse({ total })` sees the size the server announces (0 when it does not) before the first
 * byte is read, and may refuse the download by throwing (the offline store's quota check).
 *
 * @param {{ onChunk: (c: Uint8Array) => (void|Promise<void>), onResponse?: (r: { total: number }) => (void|Promise<void>), onProgress?: (p) => void, signal?: AbortSignal, stallTimeout?: number }} o
 * @returns {Promise<{ loaded: number, total: number, resumed: number }>}
 */
export async function download(url, { onChunk, onResponse, onProgress, signal, stallTimeout = STALL_TIMEOUT_MS }) {
  let loaded = 0;
  let total = 0;
  let resumed = 0;
  let failures = 0;
  // The first response's validator: a resume asks for the rest only of that same file (If-Range),
  // so a file replaced on the server mid-download is never spliced from two versions.
  let validator = null;
  const t0 = performance.now();
  const report = () => {
    const seconds = (performance.now() - t0) / 1000;
    const rate = seconds > 0 ? loaded / seconds : 0;
    const eta = total && rate ? (total - loaded) / rate : null;
    onProgress?.({ phase: "download", loaded, total, rate, eta });
  };
  let stalls = 0;
  for (;;) {
    if (signal?.aborted) throw new AbortError("The download was cancelled.");
    // Each attempt has its own signal: the caller's abort, or the watchdog when nothing arrives.
    const attempt = new AbortController();
    const forward = () => attempt.abort();
    signal?.addEventListener("abort", forward, { once: true });
    let stalled = false;
    let timer = null;
    const watch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { stalled = true; attempt.abort(); }, stallTimeout);
    };
    /** After a failed attempt: an error to give up with, or null to try again. */
    const giveUp = (message) => {
      if (signal?.aborted) return new AbortError("The download was cancelled.");
      if (stalled) stalls++;
      if (++failures <= RETRIES) return null;
      return new DownloadError(stalled
        ? `No data came from ${url} for ${stallTimeout / 1000} s, ${stalls} times (after ${loaded} bytes): the server or the connection is stuck. Try again later.`
        : message);
    };
    try {
      let resp;
      try {
        watch();
        const headers = loaded ? { Range: `bytes=${loaded}-`, ...(validator && { "If-Range": validator }) } : {};
        resp = await fetch(url, { signal: attempt.signal, headers });
      } catch (e) {
        if (loaded === 0 && failures === 0 && !stalled && !signal?.aborted) {
          throw new DownloadError(`Cannot reach ${url}: ${e.message}. Check the address and your connection.`);
        }
        const err = giveUp(`The connection to ${url} keeps failing after ${loaded} bytes; try again later.`);
        if (err) throw err;
        if (!stalled) await sleep(250 * failures);
        continue;
      }
      if (loaded === 0) {
        if (!resp.ok) throw new DownloadError(describe(resp, url));
        total = Number(resp.headers.get("Content-Length")) || 0;
        const etag = resp.headers.get("ETag");
        validator = etag && !etag.startsWith("W/") ? etag : resp.headers.get("Last-Modified");
        if (onResponse) {
          clearTimeout(timer);
          try {
            await onResponse({ total });
          } catch (e) {
            resp.body?.cancel().catch(() => {});
            throw e;
          }
        }
      } else if (resp.status === 200 && validator) {
        throw new DownloadError(
          `${url} changed on the server while it was downloading (the resumed request got a different file), so nothing was kept. Load it again.`,
        );
      } else if (resp.status === 416) {
        throw new DownloadError(
          `The server refused to resume ${url} at byte ${loaded} (HTTP 416, range not satisfiable): the file is shorter than the server said${total ? ` (${total} bytes)` : ""}, or it changed. Nothing was kept; load it again.`,
        );
      } else if (resp.status !== 206 || !(resp.headers.get("Content-Range") || "").startsWith(`bytes ${loaded}-`)) {
        throw new DownloadError(
          `The connection to ${url} dropped after ${loaded} bytes and the server cannot resume (no HTTP Range support). Try again.`,
        );
      } else {
        resumed++;
      }
      report();
      const reader = reusingReader(resp.body);
      try {
        for (;;) {
          watch();
          const { done, value } = await reader.read();
          clearTimeout(timer);
          if (done) break;
          await onChunk(value);
          loaded += value.byteLength;
          failures = 0;
          report();
        }
      } catch (e) {
        // From onChunk (a bad header, a failed write): not a network error.
        if (!stalled && !signal?.aborted && (e instanceof DownloadError || (e?.name && e.name !== "TypeError"))) throw e;
        const err = giveUp(`The connection to ${url} keeps dropping after ${loaded} bytes; try again later.`);
        if (err) throw err;
        if (!stalled) await sleep(250 * failures);
        continue;
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    }
    if (total && loaded < total) {
      if (++failures > RETRIES) {
        throw new DownloadError(`${url} ended after ${loaded} of the ${total} bytes its server announced, ${failures} times: the file on the server is incomplete, or the server misreports its size. Nothing was kept.`);
      }
      continue; // the body ended early: ask for the rest
    }
    return { loaded, total: total || loaded, resumed };
  }
}
