// Web Locks (navigator.locks), which every tab and worker of an origin shares: the offline store's
// guard against two tabs changing it at once. Every browser that runs our SIMD builds has them
// (Chrome 69, Firefox 96, Safari 15.4); where they are missing (an insecure context) nothing can
// guard the store across tabs, so models are not kept there at all (store.isAvailable()).
//
// A lock is released when the code holding it says so, or when its tab or worker goes away (closed,
// crashed, terminated), so a download cut short by a closed tab never pins its file for ever.

export const hasLocks = () => typeof navigator !== "undefined" && typeof navigator.locks?.request === "function";

/** Runs `fn` while holding `name` exclusively, waiting for any other holder first. */
export function withLock(name, fn) {
  return navigator.locks.request(name, () => fn());
}

/**
 * Takes `name` and keeps it until `release()` is called: resolves to `{ release }`, or to null
 * when `ifAvailable` and someone else holds it. `mode: "shared"` lets other shared holders in and
 * keeps exclusive ones out.
 */
export function hold(name, { mode = "exclusive", ifAvailable = false } = {}) {
  return new Promise((resolve, reject) => {
    navigator.locks.request(name, { mode, ifAvailable }, (lock) => {
      if (!lock) return resolve(null);
      return new Promise((release) => {
        let released = false;
        resolve({ release: () => { if (!released) { released = true; release(); } } });
      });
    }).catch(reject);
  });
}
