// Models kept for offline use, in the Origin Private File System, or in Cache Storage where a
// browser has no OPFS (WebKitGTK and Safari under automation, older Safari: store-cache.js).
//
// A model is stored only after a complete, verified download: bytes are written through a
// FileSystemWritableFileStream, which the browser commits atomically on close(); on any failure
// (network, corrupt file, quota) the stream is aborted and the entry removed, so nothing
// half-written is ever listed or loaded. index.json maps each stored file to its URL, size and hash.
import * as cacheStore from "./store-cache.js";

const DIR = "bitnet-web-models";
const INDEX = "index.json";

/** Whether OPFS works here: it can exist and still refuse (WebKit's ephemeral sessions). */
let opfs = null;
async function useOpfs() {
  if (opfs === null) {
    opfs = typeof navigator !== "undefined" && !!navigator.storage?.getDirectory &&
      (await navigator.storage.getDirectory().then(() => true, () => false));
  }
  return opfs;
}

async function dir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

async function readIndex(d) {
  try {
    const f = await (await d.getFileHandle(INDEX)).getFile();
    return JSON.parse(await f.text());
  } catch {
    return {};
  }
}

async function writeIndex(d, index) {
  const w = await (await d.getFileHandle(INDEX, { create: true })).createWritable();
  await w.write(JSON.stringify(index));
  await w.close();
}

export async function fileName(url) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32) + ".gguf";
}

export function isAvailable() {
  return typeof navigator !== "undefined" && (!!navigator.storage?.getDirectory || cacheStore.isAvailable());
}

/** [{ url, size, sha256, savedAt }] of the models kept offline. */
export async function listModels() {
  if (!(await useOpfs())) return cacheStore.listModels();
  return Object.values(await readIndex(await dir()));
}

/** The stored File for `url`, or null. */
export async function openModel(url) {
  if (!(await useOpfs())) return cacheStore.openModel(url);
  const d = await dir();
  const name = await fileName(url);
  const entry = (await readIndex(d))[name];
  if (!entry) return null;
  try {
    const file = await (await d.getFileHandle(name)).getFile();
    return file.size === entry.size ? file : null;
  } catch {
    return null;
  }
}

/**
 * Whether a kept model's rows can be read synchronously here: OPFS with sync access handles, which
 * only workers have (the engine's worker reads the token embedding's rows from the kept copy).
 */
export async function canReadRows() {
  return (await useOpfs()) && typeof FileSystemFileHandle !== "undefined" && "createSyncAccessHandle" in FileSystemFileHandle.prototype;
}

/**
 * A read-only sync access handle on `url`'s kept copy, or null. Read-only handles share the file
 * with other readers; while one is open the file cannot be removed (`deleteModel` then only
 * unlists it, and `removeOrphans` removes it later).
 */
export async function openRows(url) {
  if (!(await canReadRows())) return null;
  const d = await dir();
  const name = await fileName(url);
  const entry = (await readIndex(d))[name];
  if (!entry) return null;
  try {
    const handle = await (await d.getFileHandle(name)).createSyncAccessHandle({ mode: "read-only" });
    if (handle.getSize() === entry.size) return handle;
    handle.close();
  } catch {
    // Another tab holds the file where read-only handles are not supported: hold the embedding.
  }
  return null;
}

export async function deleteModel(url) {
  if (!(await useOpfs())) return cacheStore.deleteModel(url);
  const d = await dir();
  const name = await fileName(url);
  const index = await readIndex(d);
  delete index[name];
  await writeIndex(d, index);
  await d.removeEntry(name).catch(() => {});
}

/**
 * Starts writing `url`'s bytes. Returns { write(chunk), commit({ size, sha256 }), abort() };
 * commit checks the size and publishes the file, abort discards everything.
 */
export async function beginWrite(url) {
  if (!(await useOpfs())) return cacheStore.beginWrite(url);
  const d = await dir();
  const name = await fileName(url);
  const stream = await (await d.getFileHandle(name, { create: true })).createWritable();
  return writeSession({
    write: (chunk) => stream.write(chunk),
    close: () => stream.close(),
    abort: () => stream.abort(),
    remove: async () => { if (!(await readIndex(d))[name]) await d.removeEntry(name).catch(() => {}); },
    publish: async (entry) => {
      const index = await readIndex(d);
      index[name] = { url, ...entry };
      await writeIndex(d, index);
    },
  });
}

/**
 * The write contract both stores keep: bytes go to `sink` as they arrive; `commit` checks the size,
 * closes the sink and publishes the index entry; any failure or `abort` discards everything, so
 * nothing half-written is ever listed.
 */
export function writeSession(sink) {
  let written = 0;
  let failed = false;
  const discard = async () => {
    if (failed) return;
    failed = true;
    await Promise.resolve().then(sink.abort).catch(() => {});
    await sink.remove();
  };
  return {
    async write(chunk) {
      if (failed) return;
      try {
        await sink.write(chunk);
        written += chunk.byteLength;
      } catch (e) {
        await discard();
        throw e;
      }
    },
    async commit({ size, sha256 }) {
      if (failed) return false;
      if (size !== undefined && written !== size) {
        await discard();
        return false;
      }
      await sink.close();
      await sink.publish({ size: written, sha256: sha256 || null, savedAt: new Date().toISOString() });
      return true;
    },
    abort: discard,
  };
}

/** Removes stored files that no index entry describes (a tab closed mid-download). */
export async function removeOrphans() {
  if (!(await useOpfs())) return cacheStore.removeOrphans();
  const d = await dir();
  const index = await readIndex(d);
  for await (const [name] of d.entries()) {
    if (name !== INDEX && !index[name]) await d.removeEntry(name).catch(() => {});
  }
}
