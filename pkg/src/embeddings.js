// OpenAI's embeddings endpoint, shaped as `engine.embeddings.create` answers it: the request's
// checks before anything is sent to the worker, and the response (float arrays, or OpenAI's base64
// of little-endian float32s, which the `openai` package asks for by default and decodes).

import { UnsupportedFieldError } from "./errors.js";

/** OpenAI's own limit on inputs per request: a bound on one request's work. */
export const MAX_INPUTS = 2048;

/** Fields that change nothing here: who asked (`user`), and the model, which the engine already is. */
const IGNORED = new Set(["model", "user"]);
const KNOWN = new Set(["input", "encoding_format", "dimensions", "truncation", "signal"]);

/**
 * A checked request: `{ input: string[], encodingFormat, dimensions, truncate }`. `input` is a
 * string or an array of strings, each embedded as its own sequence; an input longer than the
 * context is refused (ContextFullError) unless `truncation: "auto"` cuts it to its first tokens.
 */
export function embeddingRequest(req) {
  if (req == null || typeof req !== "object") throw new TypeError("embeddings.create needs a request object, e.g. { input: \"text\" }");
  for (const k of Object.keys(req)) {
    if (!KNOWN.has(k) && !IGNORED.has(k) && req[k] !== undefined) throw new UnsupportedFieldError(k);
  }
  const input = typeof req.input === "string" ? [req.input] : req.input;
  if (!Array.isArray(input) || input.length === 0) throw new TypeError("`input` must be a string or a non-empty array of strings");
  if (input.length > MAX_INPUTS) throw new TypeError(`\`input\` holds ${input.length} texts; at most ${MAX_INPUTS} go in one request`);
  input.forEach((t, i) => {
    if (Array.isArray(t) || typeof t === "number") throw new UnsupportedFieldError("input", `\`input[${i}]\` is token ids; bitnet-web embeds text only, so pass the text`);
    if (typeof t !== "string") throw new TypeError(`\`input[${i}]\` must be a string`);
    if (t.length === 0) throw new TypeError(`\`input[${i}]\` is empty; every input must have text`);
  });
  const encodingFormat = req.encoding_format ?? "float";
  if (encodingFormat !== "float" && encodingFormat !== "base64") throw new TypeError("`encoding_format` must be \"float\" or \"base64\"");
  const dimensions = req.dimensions;
  if (dimensions != null && !(Number.isInteger(dimensions) && dimensions >= 1)) throw new TypeError("`dimensions` must be a positive integer");
  const truncation = req.truncation ?? "disabled";
  if (truncation !== "auto" && truncation !== "disabled") throw new TypeError("`truncation` must be \"auto\" or \"disabled\"");
  return { input, encodingFormat, dimensions: dimensions ?? null, truncate: truncation === "auto" };
}

/** Little-endian float32 bytes as base64, as OpenAI's `encoding_format: "base64"` answers. */
export function toBase64(floats) {
  const bytes = new Uint8Array(floats.length * 4);
  const view = new DataView(bytes.buffer);
  floats.forEach((f, i) => view.setFloat32(4 * i, f, true));
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** The response OpenAI gives, from the worker's `{ embeddings, tokens }`. */
export function embeddingResponse({ embeddings, tokens }, { encodingFormat, model }) {
  return {
    object: "list",
    data: embeddings.map((e, index) => ({
      object: "embedding",
      index,
      embedding: encodingFormat === "base64" ? toBase64(e) : Array.from(e),
    })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
