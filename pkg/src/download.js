// Streams a URL chunk by chunk, with progress and resumption: when the connection drops, it asks
// for the rest with an HTTP Range request and carries on where it stopped. Nothing accumulates
// here: each chunk goes to `onChunk` (the wasm loader, the cache writer) and is then dropped.
import { AbortError, DownloadError } from "./errors.js";

const RETRIES = 5;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function describe(resp, url) {
  const hint = resp.status === 404 ? " (check the URL)" : resp.status === 403 || resp.status === 401 ? " (the file is not public)" : "";
  return `Download failed: HTTP ${resp.status} ${resp.statusText || ""} for ${url}${hint}`.replace("  ", " ");
}

/**
 * @param {string} url
 * @param {{ onChunk: (c: Uint8Array) => (void|Promise<void>), onProgress?: (p) => void, signal?: AbortSignal }} o
 * @returns {Promise<{ loaded: number, total: number, resumed: number }>}
 */
export async function download(url, { onChunk, onProgress, signal }) {
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
  for (;;) {
    if (signal?.aborted) throw new AbortError("The download was cancelled.");
    let resp;
    try {
      const headers = loaded ? { Range: `bytes=${loaded}-`, ...(validator && { "If-Range": validator }) } : {};
      resp = await fetch(url, { signal, headers });
    } catch (e) {
      if (signal?.aborted) throw new AbortError("The download was cancelled.");
      if (loaded === 0 && failures === 0) {
        throw new DownloadError(`Cannot reach ${url}: ${e.message}. Check the address and your connection.`);
      }
      if (++failures > RETRIES) throw new DownloadError(`The connection to ${url} keeps failing after ${loaded} bytes; try again later.`);
      await sleep(250 * failures);
      continue;
    }
    if (loaded === 0) {
      if (!resp.ok) throw new DownloadError(describe(resp, url));
      total = Number(resp.headers.get("Content-Length")) || 0;
      const etag = resp.headers.get("ETag");
      validator = etag && !etag.startsWith("W/") ? etag : resp.headers.get("Last-Modified");
    } else if (resp.status === 200 && validator) {
      throw new DownloadError(
        `${url} changed on the server while it was downloading (the resumed request got a different file), so nothing was kept. Load it again.`,
      );
    } else if (resp.status !== 206 || !(resp.headers.get("Content-Range") || "").startsWith(`bytes ${loaded}-`)) {
      throw new DownloadError(
        `The connection to ${url} dropped after ${loaded} bytes and the server cannot resume (no HTTP Range support). Try again.`,
      );
    } else {
      resumed++;
    }
    report();
    const reader = resp.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await onChunk(value);
        loaded += value.byteLength;
        failures = 0;
        report();
      }
    } catch (e) {
      if (signal?.aborted) throw new AbortError("The download was cancelled.");
      if (e instanceof DownloadError || e?.name && e.name !== "TypeError") throw e; // from onChunk: not a network error
      if (++failures > RETRIES) throw new DownloadError(`The connection to ${url} keeps dropping after ${loaded} bytes; try again later.`);
      await sleep(250 * failures);
      continue;
    }
    if (total && loaded < total) {
      if (++failures > RETRIES) throw new DownloadError(`${url} ended after ${loaded} of ${total} bytes.`);
      continue; // the body ended early: ask for the rest
    }
    return { loaded, total: total || loaded, resumed };
  }
}
