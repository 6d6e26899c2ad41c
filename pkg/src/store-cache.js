// The offline model store in Cache Storage, for browsers without a working Origin Private File
// System (WebKitGTK, and Safari in automation). Same contract as store.js: a model is listed only
// after a complete, verified download; a failed or aborted one leaves nothing behind.
//
// The bytes stream into the cache as they arrive (a Response whose body is fed chunk by chunk), so
// the download is never held in memory. Entries live under a path no request ever asks for, so the
// service worker never serves them as pages.
import { fileName, writeSession } from "./store.js";

const CACHE = "bitnet-web-models";
const PREFIX = "/__bitnet-web-models/";

const keyOf = (name) => new Request(new URL(PREFIX + name, self.location.origin).href);

export function isAvailable() {
  return typeof caches !== "undefined";
}

async function readIndex(cache) {
  try {
    return (await (await cache.match(keyOf("index.json")))?.json()) ?? {};
  } catch {
    return {};
  }
}

async function writeIndex(cache, index) {
  await cache.put(keyOf("index.json"), new Response(JSON.stringify(index), { headers: { "Content-Type": "application/json" } }));
}

export async function listModels() {
  if (!isAvailable()) return [];
  return Object.values(await readIndex(await caches.open(CACHE)));
}

export async function openModel(url) {
  if (!isAvailable()) return null;
  const cache = await caches.open(CACHE);
  const name = await fileName(url);
  const entry = (await readIndex(cache))[name];
  const resp = entry && (await cache.match(keyOf(name)));
  if (!resp) return null;
  const blob = await resp.blob();
  return blob.size === entry.size ? blob : null;
}

export async function deleteModel(url) {
  if (!isAvailable()) return;
  const cache = await caches.open(CACHE);
  const name = await fileName(url);
  const index = await readIndex(cache);
  delete index[name];
  await writeIndex(cache, index);
  await cache.delete(keyOf(name));
}

export async function beginWrite(url) {
  const cache = await caches.open(CACHE);
  const name = await fileName(url);
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  const stored = cache.put(keyOf(name), new Response(readable, { headers: { "Content-Type": "application/octet-stream" } }));
  return writeSession({
    // The stream keeps the chunk until cache.put reads it, and the reader reuses its buffer.
    write: (chunk) => writer.write(chunk.slice()),
    close: async () => { await writer.close(); await stored; },
    abort: async () => { await writer.abort().catch(() => {}); await stored.catch(() => {}); },
    remove: async () => { if (!(await readIndex(cache))[name]) await cache.delete(keyOf(name)).catch(() => {}); },
    publish: async (entry) => {
      const index = await readIndex(cache);
      index[name] = { url, ...entry };
      await writeIndex(cache, index);
    },
  });
}

export async function removeOrphans() {
  if (!isAvailable()) return;
  const cache = await caches.open(CACHE);
  const index = await readIndex(cache);
  for (const req of await cache.keys()) {
    const name = new URL(req.url).pathname.slice(PREFIX.length);
    if (name !== "index.json" && !index[name]) await cache.delete(req).catch(() => {});
  }
}
