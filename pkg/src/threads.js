// One kernel thread: a Web Worker that instantiates the threaded build on the engine's shared
// memory and then runs one of rayon's threads for good (src/web/threads.rs says why the start-up
// is ours rather than wasm-bindgen-rayon's).
import { initSync, runThread } from "./wasm-threads/bitnet_web.js";

self.addEventListener("message", ({ data }) => {
  if (data?.type !== "bitnet-web:thread") return;
  initSync({ module: data.module, memory: data.memory });
  self.postMessage({ type: "bitnet-web:thread-ready" });
  runThread();
});
