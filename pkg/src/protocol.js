// The one message protocol between the page (index.js) and the engine's Worker (worker.js); both
// import this module, and the worker's first message carries PROTOCOL_VERSION so that a page and a
// worker from two versions of the package (a stale cache) refuse each other with a clear error.
// Every request carries an `id`; the worker answers with messages carrying the same id.
//
// page → worker
//   { type: "load", id, source, options }   source: { url, sha256? } | { file: File } | { bytes: ArrayBuffer }
//                                           options: { cache, i2sLayout, contextLength, kvCache, lmHead, threads }
//   { type: "estimate", id, source, options } the memory a load would take, from the header alone
//                                           (answered with a "result": estimateMemory's value)
//   { type: "chat", id, request }           request: the OpenAI-style fields the worker's engine takes
//   { type: "abort", target }               the id of a queued or running chat (acts at once, never queued)
//   { type: "reset", id }                   forget the conversation cached in the KV cache
//   { type: "stats", id }                   (answered at once, between tokens)
//   { type: "tokenize", id, text, special } / { type: "detokenize", id, ids } / { type: "countTokens", id, request }
//                                           (answered at once, between tokens)
//
// worker → page
//   { type: "ready", version }                                  the worker has started
//   { type: "header",   id, header }                            the model's header passed the checks
//   { type: "progress", id, phase, loaded, total, rate, eta }   phase: "download" | "cache" | "file"
//   { type: "loaded",   id, header, info, contextLength }
//   { type: "token",    id, text, token, logprobs? }            logprobs: one entry of OpenAI's logprobs.content
//   { type: "done",     id, finish_reason, text, stats }
//   { type: "result",   id, value }
//   { type: "warning",  id, message }                           e.g. the model could not be cached (quota)
//   { type: "error",    id, error: { name, message, field? } }
//
// Loads, chats and resets run one at a time, in the order they arrive (two chats never interleave).
export const PROTOCOL_VERSION = 3;

/** Requests the worker answers at once, without waiting for a running chat to finish. */
export const IMMEDIATE = new Set(["stats", "tokenize", "detokenize", "countTokens"]);
