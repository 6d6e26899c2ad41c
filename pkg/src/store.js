// Models kept for offline use: one interface over two places to keep them, the Origin Private File
// System (store-opfs.js) or, where a browser has no working OPFS, Cache Storage (store-cache.js).
//
// What it promises, in every tab and worker of the origin at once:
// - A model is listed only after a complete, verified download, and a half-written file is never
//   listed or loaded (a write is committed atomically when it ends, or discarded).
// - Nothing listed is lost. Every change to the index (publish, delete, clear, orphan removal)
//   happens under one Web Lock for the store and re-reads the index inside it: two tabs whose
//   downloads end together once lost one entry to an unlocked read-modify-write, and the next
//   engine's orphan removal then deleted that model's file (4 of 6 tries in Chromium).
// - Nothing in use is removed. A download holds its file's lock exclusively from before its first
//   byte until it is published or discarded; an engine reading rows from a kept copy holds that
//   file's lock shared while it reads. A file is removed only by whoever can take its lock
//   exclusively at once, so orphan removal and deletion skip a file another tab is writing or
//   reading (deletion then only unlists it; a later orphan removal takes the file). A lock dies
//   with its tab or worker, so a download cut short by a closed tab leaves an orphan that the next
//   engine removes. This does not rest on the browser's own file locking, which differs by engine.
// - Without Web Locks (see locks.js) nothing could guard the index across tabs: models are then
//   not kept at all.
import * as opfs from "./store-opfs.js";
import * as cacheStorage from "./store-cache.js";
import { hasLocks, hold, withLock } from "./locks.js";
import { QuotaError, StorageError } from "./errors.js";

const INDEX_LOCK = "bitnet-web-models:index";
const fileLock = (name) => `bitnet-web-models:file:${name}`;

/** Where models are kept here: OPFS, else Cache Storage; null when neither works. */
let chosen;
async function backend() {
  if (chosen === undefined) {
    chosen = !hasLocks() ? null
      : (await opfs.isAvailable()) ? opfs
      : (await cacheStorage.isAvailable()) ? cacheStorage
      : null;
  }
  return chosen;
}

/** "opfs", "cache" (Cache Storage) or null: where this browser keeps models. */
export async function where() {
  const b = await backend();
  return b === opfs ? "opfs" : b === cacheStorage ? "cache" : null;
}

export function isAvailable() {
  return hasLocks() && (!!navigator.storage?.getDirectory || typeof caches !== "undefined");
}

export async function fileName(url) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32) + ".gguf";
}

/**
 * The index: { [fileName]: { url, size, sha256, savedAt, i2sLayout? } }; `i2sLayout` is what the layout
 * probe found when that copy was first loaded (`annotate`). An unreadable one counts as empty.
 */
async function readIndex(b) {
  try {
    const index = JSON.parse((await b.readIndex()) ?? "{}");
    return index && typeof index === "object" && !Array.isArray(index) ? index : {};
  } catch {
    return {};
  }
}

/** Changes the index under the store's lock, from a fresh read; `change` may also remove files. */
function changeIndex(b, change) {
  return withLock(INDEX_LOCK, async () => {
    const index = await readIndex(b);
    const result = await change(index);
    await b.writeIndex(JSON.stringify(index));
    return result;
  });
}

/** Removes `name` if no download or reader holds it; call under the index lock. */
async function removeIfFree(b, name) {
  const lock = await hold(fileLock(name), { ifAvailable: true });
  if (!lock) return false;
  try {
    return await b.remove(name);
  } finally {
    lock.release();
  }
}

/** [{ url, size, sha256, savedAt }] of the models kept offline. */
export async function listModels() {
  const b = await backend();
  return b ? Object.values(await readIndex(b)) : [];
}

/** `url`'s kept copy: { entry, file } when it is listed and complete, else null. */
export async function openKept(url) {
  const b = await backend();
  if (!b) return null;
  const name = await fileName(url);
  const entry = (await readIndex(b))[name];
  const file = entry ? await b.open(name) : null;
  return file && file.size === entry.size ? { entry, file } : null;
}

/** The stored File (or Blob) for `url`, or null. */
export async function openModel(url) {
  return (await openKept(url))?.file ?? null;
}

/** `url`'s index entry when its complete copy is kept, else null. */
export async function keptEntry(url) {
  return (await openKept(url))?.entry ?? null;
}

/** Whether a kept model's rows can be read synchronously here (OPFS sync handles: workers only). */
export async function canReadRows() {
  const b = await backend();
  return !!b && b.canReadRows();
}

/**
 * A read-only sync access handle on `url`'s kept copy, as { handle, release }, or null. The file's
 * lock is held shared until `release()` (or until this worker ends), so no tab removes the file
 * while it is read; deleting the model meanwhile only unlists it.
 */
export async function openRows(url) {
  const b = await backend();
  if (!b?.canReadRows()) return null;
  const name = await fileName(url);
  const lock = await hold(fileLock(name), { mode: "shared", ifAvailable: true });
  if (!lock) return null;
  const entry = (await readIndex(b))[name];
  const handle = entry ? await b.openRows(name, entry.size) : null;
  if (!handle) {
    lock.release();
    return null;
  }
  return { handle, release: lock.release };
}

/**
 * Keeps what a load learnt from `url`'s kept copy (`{ i2sLayout }`: the I2_S packing the layout probe
 * found) in that copy's index entry, so that its next loads need not learn it again. `savedAt` names the
 * copy that was read: once it has been replaced or deleted, nothing is noted. Resolves to whether it was.
 */
export async function annotate(url, savedAt, notes) {
  const b = await backend();
  if (!b) return false;
  const name = await fileName(url);
  return changeIndex(b, (index) => {
    const entry = index[name];
    if (!entry || entry.savedAt !== savedAt) return false;
    Object.assign(entry, notes);
    return true;
  });
}

/** Unlists `url`'s model and removes its file, unless a tab is still reading it (removed later). */
export async function deleteModel(url) {
  const b = await backend();
  if (!b) return;
  const name = await fileName(url);
  await changeIndex(b, async (index) => {
    delete index[name];
    await removeIfFree(b, name);
  });
}

/**
 * Unlists every kept model and removes every file no tab is using. Returns { removed, inUse }:
 * how many files went, and how many are still read or written elsewhere (they go once free).
 */
export async function clearModels() {
  const b = await backend();
  if (!b) return { removed: 0, inUse: 0 };
  return changeIndex(b, async (index) => {
    for (const k of Object.keys(index)) delete index[k];
    let removed = 0;
    let inUse = 0;
    for (const name of await b.names()) {
      if (await removeIfFree(b, name)) removed++;
      else inUse++;
    }
    return { removed, inUse };
  });
}

/** Removes stored files that no index entry describes and no tab is writing or reading. */
export async function removeOrphans() {
  const b = await backend();
  if (!b) return;
  await withLock(INDEX_LOCK, async () => {
    const index = await readIndex(b);
    for (const name of await b.names()) if (!index[name]) await removeIfFree(b, name);
  });
}

/**
 * Refuses a download of `bytes` that the origin's storage cannot hold, before its first byte: a
 * QuotaError that names both sizes. Unknown sizes (no Content-Length, no estimate) pass.
 */
export async function checkRoom(url, bytes) {
  if (!bytes) return;
  const est = await navigator.storage?.estimate?.().catch(() => null);
  if (!est?.quota) return;
  const available = Math.max(0, est.quota - (est.usage ?? 0));
  if (bytes > available) {
    const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
    throw new QuotaError(
      `${url} needs ${mb(bytes)} of browser storage to be kept offline, and this site has ${mb(available)} free (of ${mb(est.quota)}). Delete kept models (clearCachedModels, or the page's "Delete all"), free disk space, or load it without keeping it (cache: "if-room" or cache: false).`,
      { needed: bytes, available },
    );
  }
}

/**
 * Starts keeping `url`'s bytes. Returns { write(chunk), commit({ size, sha256 }), abort() }, or
 * null when another tab or engine is already downloading (or reading) that file: then this
 * download is not kept, and the store keeps one entry. With `wait`, waits for that other holder
 * instead, and resolves to { kept: entry } if it kept the model meanwhile.
 *
 * `commit` checks the size and publishes the index entry, which it resolves to (false if the size was
 * wrong); any failure or `abort` discards everything, so nothing half-written is ever listed.
 */
export async function beginWrite(url, { wait = false } = {}) {
  const b = await backend();
  if (!b) throw new StorageError("This browser cannot keep models offline here (no Origin Private File System or Cache Storage, or no Web Locks to guard them).");
  const name = await fileName(url);
  const lock = await hold(fileLock(name), { ifAvailable: !wait });
  if (!lock) return null;
  if (wait) {
    const entry = await keptEntry(url);
    if (entry) {
      lock.release();
      return { kept: entry };
    }
  }
  let sink;
  try {
    sink = await b.beginWrite(name);
  } catch (e) {
    lock.release();
    throw e;
  }
  let written = 0;
  let over = false;
  const discard = async () => {
    if (over) return;
    over = true;
    await Promise.resolve().then(sink.abort).catch(() => {});
    await withLock(INDEX_LOCK, async () => {
      if (!(await readIndex(b))[name]) await b.remove(name);
    }).catch(() => {});
    lock.release();
  };
  return {
    async write(chunk) {
      if (over) return;
      try {
        await sink.write(chunk);
        written += chunk.byteLength;
      } catch (e) {
        await discard();
        throw e;
      }
    },
    async commit({ size, sha256 }) {
      if (over) return false;
      if (size !== undefined && written !== size) {
        await discard();
        return false;
      }
      const entry = { url, size: written, sha256: sha256 || null, savedAt: new Date().toISOString() };
      try {
        await sink.close();
        await changeIndex(b, (index) => {
          index[name] = entry;
        });
      } catch (e) {
        await discard();
        throw e;
      }
      over = true;
      lock.release();
      return entry;
    },
    abort: discard,
  };
}

/**
 * Asks the browser, once per page, to keep the store through storage pressure
 * (`navigator.storage.persist()`, which only a window has). Resolves to the answer: true (kept
 * until the user clears it), false (the browser may evict it), or null where it cannot be asked.
 */
let persisting = null;
export function persist() {
  if (typeof window === "undefined" || !navigator.storage?.persist) return Promise.resolve(null);
  persisting ??= navigator.storage.persisted()
    .then((already) => already || navigator.storage.persist())
    .catch(() => null);
  return persisting;
}

/**
 * `persist()`'s answer where the browser gives it at once (Chromium decides by itself); where it
 * asks the user (Firefox shows a prompt), the state now, and the answer comes later.
 */
export function askPersist() {
  return Promise.race([persist(), new Promise((r) => setTimeout(r, 1000)).then(persisted)]);
}

/** Whether the store is protected from eviction, without asking: true, false or null (unknown). */
export async function persisted() {
  return navigator.storage?.persisted ? navigator.storage.persisted().catch(() => null) : null;
}

/** { where, usage, quota, persisted, models }: what the page shows about its offline models. */
export async function info() {
  const est = await navigator.storage?.estimate?.().catch(() => null);
  return {
    where: await where(),
    usage: est?.usage ?? null,
    quota: est?.quota ?? null,
    persisted: await persisted(),
    models: await listModels(),
  };
}
