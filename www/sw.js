// The service worker: keeps the app shell (pages, scripts, the wasm builds) and the embedded model
// in Cache Storage, so that a second visit works with the network off. Pages and scripts are
// network-first (updates show up at once online); models are cache-first (they never change).
const CACHE = "bitnet-web-shell-v13";
/** The package's model store where a browser has no OPFS (lib/store-cache.js): never cleared here. */
const MODELS = "bitnet-web-models";
const SHELL = [
  "./", "index.html", "app.js", "style.css", "inspect.html", "inspect.js", "search.html", "search.js", "models/models.json",
  "conversations.js", "markdown.js", "settings.js", "catalog.js", "benchmark.js",
  "vendor/marked.js", "vendor/purify.js", "vendor/idb-keyval.js",
  "manifest.webmanifest", "icons/icon.svg", "icons/icon-192.png", "icons/icon-512.png",
  "lib/index.js", "lib/worker.js", "lib/threads.js", "lib/spawn.js", "lib/features.js", "lib/download.js", "lib/chunks.js", "lib/errors.js",
  "lib/store.js", "lib/store-cache.js", "lib/store-opfs.js", "lib/locks.js", "lib/keep.js", "lib/sha256.js", "lib/tabs.js", "lib/protocol.js",
  "lib/wasm-relaxed/bitnet_web.js", "lib/wasm-relaxed/bitnet_web_bg.wasm",
  "lib/wasm-simd/bitnet_web.js", "lib/wasm-simd/bitnet_web_bg.wasm",
  "lib/wasm-threads/bitnet_web.js", "lib/wasm-threads/bitnet_web_bg.wasm",
  "lib/threads-simd.js", "lib/thread-run.js", "lib/builds.js", "lib/budget.js", "lib/catalog.js",
  "lib/request.js", "lib/fit.js", "lib/completions.js", "lib/fetch.js", "lib/embeddings.js",
  "lib/wasm-threads-simd/bitnet_web.js", "lib/wasm-threads-simd/bitnet_web_bg.wasm",
];

self.addEventListener("install", (ev) => {
  ev.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    const models = await (await fetch("models/models.json")).json();
    await cache.addAll(models.map((m) => m.url));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE && key !== MODELS) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (ev) => {
  const req = ev.request;
  const url = new URL(req.url);
  // Other origins and resumed downloads (Range) go straight to the network.
  if (req.method !== "GET" || url.origin !== location.origin || req.headers.has("range")) return;
  if (url.pathname.endsWith(".gguf")) {
    ev.respondWith(caches.match(req).then((hit) => hit || fetch(req)));
    return;
  }
  ev.respondWith((async () => {
    try {
      const resp = await fetch(req);
      if (resp.ok) (await caches.open(CACHE)).put(req, resp.clone());
      return resp;
    } catch (e) {
      const hit = await caches.match(req, { ignoreSearch: true });
      if (hit) return hit;
      throw e;
    }
  })());
});
