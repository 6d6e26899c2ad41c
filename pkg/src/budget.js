// The default memory budget (`memoryLimit` when none is given): what a model may take before the
// header check refuses it with an OutOfMemoryError, rather than the browser killing the tab.
//
// The rule, in order:
//   1. `navigator.deviceMemory` (GiB; Chromium, including Android): half of it, since a browser kills
//      a tab long before the device runs out.
//   2. Otherwise a phone or tablet gets MOBILE_LIMIT (1 GiB). Without deviceMemory (Safari, every iOS
//      browser, Firefox) a phone is known by `navigator.userAgentData.mobile`, an iPhone, iPod, iPad or
//      Android user agent, iPadOS's desktop ("Macintosh") user agent on a touch screen
//      (`maxTouchPoints > 1`: no Mac has one), or a touch screen whose short side is under 600 CSS
//      pixels (a phone in a browser's "desktop site" mode).
//   3. Otherwise wasm32's own limit, WASM32_LIMIT.
// Whatever the rule gives is capped at WASM32_LIMIT. `performance.memory` is not used: only Chromium
// has it, and Chromium has deviceMemory.
//
// Why 1 GiB for a phone: iOS gives no figure and kills (jetsam) the tab's WebContent process with no
// error a page can catch. What others found: WebKit bug 268816 (cited in mlc-ai/web-llm#753, iOS 26:
// a ~2 GB model's tab killed once its download completed, a 135M model fine) puts the WebContent
// limit near 1.5 GB; Aztec's bb.js caps iOS at 1 GB ("we expect the mobile iOS browser to kill us
// >=1GB", AztecProtocol/aztec-packages#15001, 2025); needle-tools/usd-viewer#11 caps mobile at 1 GiB;
// emscripten#24078 (2025) found about 600 MB the most an iPhone would reserve, and
// google-deepmind/mujoco#3529 (2026) ships 512 MiB for iOS; reports on older iPhones go as low as
// 300-450 MB. The budget counts the wasm heap only, and the tab needs more than that (the page, the
// download's chunks, the wasm code), so 1 GiB keeps about 0.5 GB under the 1.5 GB a recent iPhone
// allows; an older phone may still be killed, and `memoryLimit` overrides the rule either way.

/** wasm32 addresses 4 GiB; keep room for scratch buffers, the tokenizer and the allocator. */
export const WASM32_LIMIT = 4 * 2 ** 30 - 512 * 2 ** 20;
/** A phone's or tablet's budget where the browser does not say how much memory the device has. */
export const MOBILE_LIMIT = 2 ** 30;

/** Touch screens whose short side is below this many CSS pixels are phones (tablets start at 744). */
const PHONE_SCREEN = 600;

/**
 * Why `env` (a window or worker global, or a stand-in for tests: `{ navigator, screen }`) is a phone
 * or tablet, or null when nothing says so.
 */
export function mobileReason(env = globalThis) {
  const nav = env?.navigator ?? {};
  if (nav.userAgentData?.mobile === true) return "navigator.userAgentData.mobile";
  const ua = String(nav.userAgent ?? "");
  const device = /\b(iPhone|iPod|iPad|Android)\b/.exec(ua);
  if (device) return `an ${device[1]} user agent`;
  const touch = Number(nav.maxTouchPoints) || 0;
  if (/\bMacintosh\b/.test(ua) && touch > 1) return "iPadOS (a Mac user agent on a touch screen)";
  const w = Number(env?.screen?.width);
  const h = Number(env?.screen?.height);
  if (touch > 0 && w > 0 && h > 0 && Math.min(w, h) < PHONE_SCREEN) return "a small touch screen";
  return null;
}

/** The default budget in bytes for `env` (see the rule above). */
export function memoryBudget(env = globalThis) {
  const gib = Number(env?.navigator?.deviceMemory);
  if (gib > 0) return Math.min(WASM32_LIMIT, (gib / 2) * 2 ** 30);
  return mobileReason(env) ? MOBILE_LIMIT : WASM32_LIMIT;
}
