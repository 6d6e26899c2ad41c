// The sampling settings and the system prompt, kept in localStorage so they survive a reload. The
// fields are the page's form controls; this module only reads, validates and remembers them.
const KEY = "bitnet-web.settings.v1";
const FIELDS = ["system", "temperature", "top-p", "top-k", "repetition-penalty", "seed", "max-tokens", "on-full", "device", "i2s-layout", "activation"];
const $ = (id) => document.getElementById(id);

/** Restores saved values into the form and saves every later change. */
export function bindSettings() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || "{}"); } catch { /* a broken entry is ignored */ }
  for (const id of FIELDS) {
    if (typeof saved[id] === "string") $(id).value = saved[id];
    $(id).addEventListener("change", save);
    $(id).addEventListener("input", () => {
      const out = $(`${id}-value`);
      if (out) out.textContent = $(id).value;
    });
    const out = $(`${id}-value`);
    if (out) out.textContent = $(id).value;
  }
}

function save() {
  try { localStorage.setItem(KEY, JSON.stringify(Object.fromEntries(FIELDS.map((id) => [id, $(id).value])))); } catch { /* storage full or off */ }
}

const num = (id, fallback) => {
  const v = Number($(id).value);
  return $(id).value.trim() === "" || !Number.isFinite(v) ? fallback : v;
};

/** The sampling fields of a chat request, from the form. */
export function sampling() {
  const seed = num("seed", null);
  return {
    max_tokens: Math.max(1, Math.round(num("max-tokens", 256))),
    temperature: num("temperature", 0.7),
    top_p: num("top-p", 0.9),
    top_k: Math.max(0, Math.round(num("top-k", 40))),
    repetition_penalty: num("repetition-penalty", 1.1),
    ...(seed == null ? {} : { seed: Math.max(0, Math.round(seed)) }),
  };
}

export const systemPrompt = () => $("system").value.trim();
/** Where the engine runs: "auto", "webgpu" or "cpu" (`?device=` in the address wins). */
export const device = () => new URLSearchParams(location.search).get("device") || $("device").value;
/**
 * How to read the model file, over what its bytes and weights decide: the I2_S layout (128 for x86 builds
 * of bitnet.cpp, 64 for its ARM builds, "1x4" for x86 builds without ACT_PARALLEL; unset, the engine tries
 * the weights) and the FFN activation
 * (`createEngine`'s options).
 */
export function fileOptions() {
  const [value, activation] = [$("i2s-layout").value, $("activation").value];
  const layout = value === "1x4" ? value : Number(value);
  return { ...(layout === 64 || layout === 128 || layout === "1x4" ? { i2sLayout: layout } : {}), ...(activation ? { activation } : {}) };
}

/** "slide" (drop the oldest turns) or "error" (stop with ContextFullError). */
export const onContextFull = () => $("on-full").value;
