// `downloadModel`: keeps a model offline without loading it, on the page's own thread: no engine
// worker, no WebAssembly memory, so an app can fetch a model ahead of time (on Wi-Fi, in a
// settings screen) and load it later from the copy with no network. It is the same download as a
// load's (download.js: progress, stall detection, Range resumption) into the same store, under
// the same locks (store.js), with the same checks: the quota before the first byte, the size at the
// end, and the SHA-256 when one is given, all before the model is listed.
import { download } from "./download.js";
import { AbortError, DownloadError, QuotaError } from "./errors.js";
import { Sha256 } from "./sha256.js";
import * as store from "./store.js";

/** The entry a kept model gets in `listCachedModels`, with `persisted` (see store.persist). */
export async function downloadModel(model, { signal, onProgress, sha256, stallTimeout } = {}) {
  if (typeof model !== "string" && !(model instanceof URL)) throw new TypeError("downloadModel needs a model URL");
  if (sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(String(sha256))) throw new TypeError("sha256 must be 64 hex digits");
  if (stallTimeout !== undefined && !(Number.isFinite(stallTimeout) && stallTimeout > 0)) {
    throw new RangeError("stallTimeout must be a positive number of milliseconds");
  }
  const url = new URL(String(model), globalThis.location?.href).href;
  if (signal?.aborted) throw new AbortError("The download was cancelled.");
  // Another tab (or an engine) downloading the same file: wait for it, and take its copy.
  const writer = await store.beginWrite(url, { wait: true });
  if (writer.kept) return { ...writer.kept, persisted: await store.askPersist() };
  const hasher = sha256 ? new Sha256() : null;
  let size;
  let got = 0;
  try {
    ({ loaded: size } = await download(url, {
      signal,
      onProgress,
      stallTimeout,
      onResponse: ({ total }) => store.checkRoom(url, total),
      onChunk: async (chunk) => {
        hasher?.update(chunk);
        await writer.write(chunk).catch((e) => {
          throw e?.name === "QuotaExceededError"
            ? new QuotaError(`The browser's storage filled up after ${got} bytes of ${url}; nothing was kept. Delete kept models or free disk space, then try again.`)
            : e;
        });
        got += chunk.byteLength;
      },
    }));
  } catch (e) {
    await writer.abort();
    throw e;
  }
  const digest = hasher?.hex() ?? null;
  if (sha256 && digest !== String(sha256).toLowerCase()) {
    await writer.abort();
    throw new DownloadError(`The downloaded file's SHA-256 is ${digest}, not the expected ${sha256}: it is corrupt or a different version. It was not kept.`);
  }
  // Cache Storage learns of a full quota only here, when the copy is committed.
  const committed = await writer.commit({ size, sha256: digest }).catch((e) => {
    throw e?.name === "QuotaExceededError"
      ? new QuotaError(`The browser's storage filled up while keeping ${url} (${size} bytes); nothing was kept. Delete kept models or free disk space, then try again.`)
      : e;
  });
  if (!committed) {
    throw new DownloadError(`${url} did not arrive whole (${size} bytes); nothing was kept. Try again.`);
  }
  onProgress?.({ phase: "kept", loaded: size, total: size });
  return { ...(await store.keptEntry(url)), persisted: await store.askPersist() };
}
