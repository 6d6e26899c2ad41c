// Typed errors, each with a message a person can act on. The worker sends { name, message };
// `fromWire` turns that back into the matching class.

export class BitnetError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The file is not a valid GGUF model (corrupt, truncated, not GGUF at all). */
export class GgufError extends BitnetError {}
/** A valid GGUF that this runtime cannot run (architecture, tokenizer or weight types). */
export class UnsupportedModelError extends BitnetError {}
/** The model does not fit in memory (WebAssembly addresses at most 4 GiB). */
export class OutOfMemoryError extends BitnetError {}
/** The download failed: HTTP error, network cut that could not be resumed, size mismatch. */
export class DownloadError extends BitnetError {}
/** The request was aborted (AbortSignal or stop button). */
export class AbortError extends BitnetError {}
/** The conversation no longer fits in the context window. */
export class ContextFullError extends BitnetError {}

const CLASSES = { GgufError, UnsupportedModelError, OutOfMemoryError, DownloadError, AbortError, ContextFullError };

/** Serialises any error for postMessage. */
export function toWire(e) {
  return { name: e?.name || "Error", message: String(e?.message ?? e) };
}

/** Rebuilds a typed error from its wire form. */
export function fromWire({ name, message }) {
  const Cls = CLASSES[name];
  if (Cls) return new Cls(message);
  const e = new Error(message);
  e.name = name;
  return e;
}
