// Reads a byte stream (a fetch body, a File) into one buffer that every read reuses.
//
// Why: a plain reader hands out a fresh ArrayBuffer per chunk, and the chunks of a 1.2 GB model
// became garbage faster than a worker collects it. `bench/memory.mjs` on the 2B4T-shape TQ2_0 file
// (1.20 GB, one thread, Chromium 156): the renderer peaked at 1880 MiB with 1371 MiB of wasm memory,
// and its RSS swung by 400 MiB while the file streamed. Reading into a reused buffer ("BYOB")
// leaves no garbage per chunk; the figures after the change are in bench/RESULTS.md.
//
// A chunk is valid until the next read: whoever keeps it must copy it (store-cache.js does; the
// OPFS writer copies by specification). Streams that are not byte streams get a plain reader.

/** Bytes read at most per chunk. */
export const CHUNK_BYTES = 1 << 20;

/** A reader of `stream` whose `read()` resolves to `{ done, value }` like a stream reader's. */
export function reusingReader(stream, size = CHUNK_BYTES) {
  let reader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    return stream.getReader(); // not a byte stream
  }
  let buffer = new ArrayBuffer(size);
  return {
    async read() {
      const r = await reader.read(new Uint8Array(buffer, 0, size));
      if (r.value) buffer = r.value.buffer; // the same memory, handed back
      return r.done ? { done: true, value: undefined } : r;
    },
    cancel: (reason) => reader.cancel(reason),
    releaseLock: () => reader.releaseLock(),
  };
}
