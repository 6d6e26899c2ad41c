// The offline store's files in the Origin Private File System (store.js decides when and under
// which lock each of these runs; this file only moves bytes).
//
// A file is written through a FileSystemWritableFileStream, which the browser commits atomically
// on close() (it writes a swap file until then), so the index and a model file are each either the
// old version or the new one, never half of each.

const DIR = "bitnet-web-models";
export const INDEX = "index.json";

/** Whether OPFS works here: it can exist and still refuse (WebKit's ephemeral sessions). */
let works = null;
export async function isAvailable() {
  if (works === null) {
    works = typeof navigator !== "undefined" && !!navigator.storage?.getDirectory &&
      (await navigator.storage.getDirectory().then(() => true, () => false));
  }
  return works;
}

async function dir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

/** The index's text, or null when there is none yet. */
export async function readIndex() {
  try {
    return await (await (await (await dir()).getFileHandle(INDEX)).getFile()).text();
  } catch (e) {
    if (e?.name === "NotFoundError") return null;
    throw e;
  }
}

export async function writeIndex(text) {
  const w = await (await (await dir()).getFileHandle(INDEX, { create: true })).createWritable();
  try {
    await w.write(text);
    await w.close();
  } catch (e) {
    await w.abort().catch(() => {});
    throw e;
  }
}

/** The stored File called `name`, or null. */
export async function open(name) {
  try {
    return await (await (await dir()).getFileHandle(name)).getFile();
  } catch {
    return null;
  }
}

/** Removes `name`; false when the browser refused (a handle open on it elsewhere). */
export async function remove(name) {
  try {
    await (await dir()).removeEntry(name);
    return true;
  } catch (e) {
    return e?.name === "NotFoundError";
  }
}

/** The names of every stored model file (the index left out). */
export async function names() {
  const out = [];
  for await (const name of (await dir()).keys()) if (name !== INDEX) out.push(name);
  return out;
}

/** A sink writing `name`: { write(chunk), close(), abort() }; nothing shows until close(). */
export async function beginWrite(name) {
  const stream = await (await (await dir()).getFileHandle(name, { create: true })).createWritable();
  return {
    write: (chunk) => stream.write(chunk),
    close: () => stream.close(),
    abort: () => stream.abort(),
  };
}

/** Whether a kept file's rows can be read synchronously here (sync access handles: workers only). */
export function canReadRows() {
  return typeof FileSystemFileHandle !== "undefined" && "createSyncAccessHandle" in FileSystemFileHandle.prototype;
}

/**
 * A read-only sync access handle on `name`, or null. Read-only handles share the file with other
 * readers; while one is open the browser may refuse to remove the file (store.js keeps a reader's
 * lock besides, since not every browser refuses).
 */
export async function openRows(name, size) {
  try {
    const handle = await (await (await dir()).getFileHandle(name)).createSyncAccessHandle({ mode: "read-only" });
    if (handle.getSize() === size) return handle;
    handle.close();
  } catch {
    // The file is gone, or held in a mode that excludes readers: the engine holds the embedding.
  }
  return null;
}
