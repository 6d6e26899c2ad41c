// What the page offers beyond the embedded demo, and which kept model a visit opens with.

/** The next step after the demo: Microsoft's official 2B4T file (its card gives "1.19 GB"). */
export const RECOMMENDED = {
  name: "BitNet b1.58 2B4T",
  url: "https://huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf",
  size: 1.19e9,
};

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
