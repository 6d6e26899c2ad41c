// Which models the other tabs of this origin hold in memory. Every tab runs its own engine, so a
// second tab that loads the model a first one holds takes as much memory again (two gigabytes for
// two tabs of 2B4T); a page can say so and let the user choose. Each engine's worker holds a Web
// Lock (locks.js) whose name describes what it holds, for as long as it holds it: the lock goes
// with its worker, so a closed or crashed tab is never counted. `navigator.locks.query()` lists
// them from any tab.
import { hasLocks, hold } from "./locks.js";

const PREFIX = "bitnet-web:engine:";

/** In the engine's worker: says that it holds `model` in `bytes` until `release()`. */
export function announce({ id, model, bytes }) {
  if (!hasLocks()) return Promise.resolve(null);
  return hold(PREFIX + JSON.stringify({ id, model, bytes }), { mode: "shared" });
}

/** [{ id, model, bytes }] of every engine of this origin, in any tab (`skip`: ids to leave out). */
export async function engines(skip = new Set()) {
  if (!hasLocks() || !navigator.locks.query) return [];
  const { held = [] } = await navigator.locks.query();
  const out = [];
  for (const { name } of held) {
    if (!name?.startsWith(PREFIX)) continue;
    try {
      const e = JSON.parse(name.slice(PREFIX.length));
      if (!skip.has(e.id)) out.push(e);
    } catch {
      // not ours after all
    }
  }
  return out;
}
