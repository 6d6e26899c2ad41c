/**
 * This file's own URL, the base for the package's files when a worker has to start from a blob.
 * It is written as the `new URL(…, import.meta.url)` asset pattern on purpose: webpack replaces a
 * bare `import.meta.url` with the build machine's `file://` path, while this pattern it rewrites to
 * the URL the file is served at (a bundle never needs the blob path, but must not carry that path).
 */
const here = new URL("./spawn.js", import.meta.url);

/**
 * Starts the package's module worker `file` from a same-origin blob that imports it. A script on
 * another origin (a CDN) cannot be a worker itself, so `new Worker` refuses it with a SecurityError;
 * imported from the blob, the script keeps its own `import.meta.url`, and so does every path it
 * resolves from it.
 */
export function blobWorker(file, name) {
  const src = `import ${JSON.stringify(new URL(file, here).href)};`;
  return new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), { type: "module", name });
}
