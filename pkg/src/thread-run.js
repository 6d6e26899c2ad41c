// One kernel thread, whichever threaded build it runs: a Web Worker that instantiates `build` on the
// engine's shared memory and then runs one of rayon's threads for good (src/web/threads.rs says why
// the start-up is ours rather than wasm-bindgen-rayon's). Each threaded build has a tiny entry file
// (threads.js, threads-simd.js) that imports its glue statically, since bundlers follow only literal
// imports, and hands it here.

/** Serves `build` (a threaded build's glue: `initSync`, `runThread`) in this worker. */
export function runKernelThread(build) {
  self.addEventListener("message", ({ data }) => {
    if (data?.type !== "bitnet-web:thread") return;
    build.initSync({ module: data.module, memory: data.memory });
    self.postMessage({ type: "bitnet-web:thread-ready" });
    build.runThread();
  });
}
