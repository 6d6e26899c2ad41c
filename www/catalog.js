// What the page offers beyond the embedded demo, and which kept model a visit opens with.

import { catalog, estimateMemory } from "./lib/index.js";

/** The next step after the demo: Microsoft's official 2B4T file (the package's catalog, first entry). */
export const RECOMMENDED = catalog[0];

export { catalog };

const MiB = (n) => `${Math.round(n / 2 ** 20)} MiB`;

/**
 * Whether `entry` fits this device, from its header alone (`estimateMemory` stops the download once the
 * header is in): { fits, text }, `text` a sentence for a person. A file that could not load at all says
 * why; so does a network failure.
 */
export async function checkFit(entry, options = {}) {
  try {
    const e = await estimateMemory(entry.url, options);
    if (!e.fits) return { fits: false, text: `Does not fit this device: ${e.refusal}` };
    const warnings = e.model.conflicts.map((c) => ` Warning: ${c}.`).join("");
    return {
      fits: true,
      text: `Fits this device: needs about ${MiB(e.total)} of the ${MiB(e.limit)} a tab may use here (${e.model.family}).${warnings}`,
    };
  } catch (err) {
    return { fits: false, text: `Cannot be used here: ${err.message}` };
  }
}

const duration = (s) => (s < 90 ? `${Math.max(1, Math.round(s))} s` : `${Math.round(s / 60)} min`);

/**
 * How long `bytes` take to download, in words: at two common speeds, and at the browser's own
 * estimate of this connection where it gives one (Chromium's Network Information API; it caps
 * the figure at 10 Mbit/s, so it is a floor, said as such).
 */
export function downloadTime(bytes) {
  const at = (mbit) => duration(bytes / (mbit * 125000));
  const base = `about ${at(100)} at 100 Mbit/s, ${at(20)} at 20 Mbit/s`;
  const downlink = globalThis.navigator?.connection?.downlink;
  return downlink ? `${base} (your browser estimates at least ${downlink} Mbit/s: at most ${at(downlink)})` : base;
}

/**
 * The model a visit opens with, among those kept offline: the recommended model, else the one
 * loaded last, else the largest other than the embedded demo; null when only the demo (or
 * nothing) is kept.
 */
export function bestKept(kept, embeddedUrl, lastUrl) {
  const others = kept.filter((m) => m.url !== embeddedUrl);
  return others.find((m) => m.url === RECOMMENDED.url)
    ?? others.find((m) => m.url === lastUrl)
    ?? others.sort((a, b) => b.size - a.size)[0]
    ?? null;
}
