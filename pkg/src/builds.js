// Which wasm build the worker runs, and on how many threads. One rule, used both to start the engine
// (worker.js `initWasm`) and to estimate a load (`estimate`, which counts a stack per thread), so the
// two cannot disagree.
//
// Four builds: relaxed SIMD or SIMD128 (features.js `simdLevel` decides), each single-threaded or
// threaded. A threaded build needs SharedArrayBuffer, which a browser gives only to a cross-origin
// isolated page (COOP/COEP headers); the SIMD level does not matter, so Safari, which has no relaxed
// SIMD, still runs on every core through the threaded SIMD128 build.

/** Threads to use for `threads: "auto" | n`: every core, up to 8 (memory bandwidth saturates). */
export function threadCount(threads, cores) {
  if (threads === "auto" || threads == null) return Math.min(cores || 1, 8);
  return Math.max(1, Math.floor(Number(threads)) || 1);
}

/**
 * The plan for `threads` (the engine's option) in this browser: `{ simd, threads, note }`, where
 * `simd` is "relaxed" or "simd" (the SIMD level, passed through), `threads` is 1 for a
 * single-threaded build, and `note` says why fewer threads run than were asked for (or is null).
 * `isolated` is `crossOriginIsolated`; `shared` whether `SharedArrayBuffer` exists (WebKitGTK's
 * isolated pages lack it: its JavaScriptCore ships with it off).
 */
export function planBuild({ simd, threads, cores, isolated, shared }) {
  const n = threadCount(threads, cores);
  if (n === 1) return { simd, threads: 1, note: null };
  if (!isolated) {
    return { simd, threads: 1, note: "the page is not cross-origin isolated (serve it with COOP/COEP headers), so it runs on one thread" };
  }
  if (!shared) return { simd, threads: 1, note: "this browser has no SharedArrayBuffer, which threads need; running on one thread" };
  return { simd, threads: n, note: null };
}

/** `planBuild` for the global scope it runs in (a worker's `self`). */
export function planHere(simd, threads, scope = globalThis) {
  return planBuild({
    simd,
    threads,
    cores: scope.navigator?.hardwareConcurrency,
    isolated: scope.crossOriginIsolated === true,
    shared: typeof scope.SharedArrayBuffer === "function",
  });
}
