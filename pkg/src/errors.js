// Typed errors, each with a message a person can act on. The worker sends { name, message, field };
// `fromWire` turns that back into the matching class.

export class BitnetError extends Error {}
/** The file is not a valid GGUF model (corrupt, truncated, not GGUF at all). */
export class GgufError extends BitnetError {}
/** A valid GGUF that this runtime cannot run (architecture, tokenizer or weight types). */
export class UnsupportedModelError extends BitnetError {}
/** The model does not fit in memory (WebAssembly addresses at most 4 GiB). */
export class OutOfMemoryError extends BitnetError {}
/** The download failed: HTTP error, network cut that could not be resumed, size mismatch. */
export class DownloadError extends BitnetError {}
/** The request or the load was aborted (AbortSignal, stop button, `unload()`). */
export class AbortError extends BitnetError {}
/** The conversation no longer fits in the context window. */
export class ContextFullError extends BitnetError {}
/** A request field this runtime does not support; `field` names it. */
export class UnsupportedFieldError extends BitnetError {
  constructor(field, message) {
    super(message ?? `The request field \`${field}\` is not supported by bitnet-web; remove it (the README lists the supported fields).`);
    this.field = field;
  }
}
/** `device: "webgpu"` was asked for, and this browser has no WebGPU adapter that can run the model. */
export class WebGpuUnavailableError extends BitnetError {}
/**
 * The copy kept offline, which the token embedding is read from a row at a time, can no longer be
 * read: load the model again.
 */
export class ModelFileError extends BitnetError {}
/**
 * The browser's storage cannot hold the model being kept offline: `needed` and `available` bytes
 * (refused before the download's first byte where the server announces the size).
 */
export class QuotaError extends BitnetError {
  constructor(message, { needed, available } = {}) {
    super(message);
    this.needed = needed ?? null;
    this.available = available ?? null;
  }
}
/** This browser cannot keep models offline here (no usable storage, or no Web Locks to guard it). */
export class StorageError extends BitnetError {}
/**
 * The model loaded cannot do what was asked: chat of an embedding model (BitNet-embedding), or
 * embeddings of a chat model. Load the other kind of model for it.
 */
export class ModelKindError extends BitnetError {}
/** The engine was unloaded; create a new one with createEngine(). */
export class EngineUnloadedError extends BitnetError {}
/** The engine's worker died (a crash in the engine, or the browser killed it); the Engine restarts it. */
export class EngineCrashedError extends BitnetError {}

const CLASSES = {
  GgufError,
  UnsupportedModelError,
  OutOfMemoryError,
  DownloadError,
  AbortError,
  ContextFullError,
  EngineUnloadedError,
  EngineCrashedError,
  WebGpuUnavailableError,
  ModelFileError,
  StorageError,
  ModelKindError,
};

// Each class's `name` is written out, not taken from the class: minifiers rename classes (a Vite
// production build turned AbortError into "ZJ"), and callers, SDKs included, test `e.name`.
for (const [name, Cls] of Object.entries({ BitnetError, UnsupportedFieldError, QuotaError, ...CLASSES })) {
  Object.defineProperty(Cls.prototype, "name", { value: name, writable: true, configurable: true });
}

/** Serialises any error for postMessage. */
export function toWire(e) {
  return { name: e?.name || "Error", message: String(e?.message ?? e), field: e?.field, crashed: e?.crashed, needed: e?.needed, available: e?.available };
}

/** Rebuilds a typed error from its wire form. */
export function fromWire({ name, message, field, crashed, needed, available }) {
  if (name === "UnsupportedFieldError") return new UnsupportedFieldError(field, message);
  if (name === "QuotaError") return new QuotaError(message, { needed, available });
  const Cls = CLASSES[name] ?? { TypeError, RangeError }[name];
  if (Cls) {
    const e = new Cls(message);
    // The worker's engine trapped (out of memory): the worker is replaced, as after any crash.
    if (crashed) e.crashed = true;
    return e;
  }
  const e = new Error(message);
  e.name = name;
  return e;
}
