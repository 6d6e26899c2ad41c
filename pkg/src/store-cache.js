// The offline store's files in Cache Storage, for browsers without a working Origin Private File
// System (WebKitGTK, Safari in automation, and Safari versions without createWritable). Same
// calls as store-opfs.js; store.js decides when and under which lock each runs.
//
// The bytes stream into the cache as they arrive (a Response whose body is fed chunk by chunk), so
// a download is never held in memory, and `cache.put` makes the entry appear only once its body is
// complete. Entries live under a path no request ever asks for, so the service worker never serves
// them as pages.

const CACHE = "bitnet-web-models";
const PREFIX = "/__bitnet-web-models/";
export const INDEX = "index.json";

const keyOf = (name) => new Request(new URL(PREFIX + name, self.location.origin).href);
const cache = () => caches.open(CACHE);

export async function isAvailable() {
  return typeof caches !== "undefined" && (await caches.open(CACHE).then(() => true, () => false));
}

export async function readIndex() {
  const resp = await (await cache()).match(keyOf(INDEX));
  return resp ? resp.text() : null;
}

export async function writeIndex(text) {
  await (await cache()).put(keyOf(INDEX), new Response(text, { headers: { "Content-Type": "application/json" } }));
}

export async function open(name) {
  const resp = await (await cache()).match(keyOf(name));
  return resp ? resp.blob() : null;
}

export async function remove(name) {
  await (await cache()).delete(keyOf(name));
  return true;
}

export async function names() {
  return (await (await cache()).keys())
    .map((req) => new URL(req.url).pathname)
    .filter((p) => p.startsWith(PREFIX))
    .map((p) => p.slice(PREFIX.length))
    .filter((name) => name !== INDEX);
}

export async function beginWrite(name) {
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  const stored = (await cache()).put(keyOf(name), new Response(readable, { headers: { "Content-Type": "application/octet-stream" } }));
  stored.catch(() => {}); // seen by close() or abort()
  return {
    // The stream keeps the chunk until cache.put reads it, and the reader reuses its buffer.
    write: (chunk) => writer.write(chunk.slice()),
    close: async () => { await writer.close(); await stored; },
    abort: async () => { await writer.abort().catch(() => {}); await stored.catch(() => {}); },
  };
}

/** Rows are never read from here: a Blob has no synchronous reader fast enough (file_rows.rs). */
export const canReadRows = () => false;
export const openRows = async () => null;
