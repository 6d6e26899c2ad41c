// The one message protocol between a page (client.js) and the engine's Worker (worker.js).
// Every request carries an `id`; the worker answers with messages carrying the same id.
//
// page → worker
//   { type: "load",   id, source, options }   source: { url, sha256? } | { file: File } | { bytes: ArrayBuffer }
//                                             options: { cache, i2sLayout, contextLength, kvCache, memoryLimit }
//   { type: "chat",   id, request }           request: OpenAI-style { messages | prompt, max_tokens, temperature, ... }
//   { type: "abort",  target }                the id of a queued or running chat (handled at once, never queued)
//   { type: "reset",  id }                    forget the conversation cached in the KV cache
//   { type: "stats",  id }
//   { type: "cache:list", id } / { type: "cache:delete", id, url }
//
// worker → page
//   { type: "ready" }                                           the worker has started
//   { type: "header",   id, header }                            the model's header passed the checks
//   { type: "progress", id, phase, loaded, total, rate, eta }   phase: "download" | "cache" | "file"
//   { type: "loaded",   id, header, info }                      header: the model's summary; info: backend etc.
//   { type: "token",    id, text, token }
//   { type: "done",     id, finish_reason, text, stats }
//   { type: "result",   id, value }
//   { type: "warning",  id, message }                           e.g. the model could not be cached (quota)
//   { type: "error",    id, error: { name, message } }
//
// Requests run one at a time, in the order they arrive (two chats never interleave); "abort" is
// the exception and acts immediately.
export const PROTOCOL_VERSION = 1;
