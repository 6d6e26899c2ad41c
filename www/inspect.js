// The inspector page: stream a GGUF from a URL or a local file into the wasm reader and print its
// header. Reading stops as soon as the header is complete, so a 1 GB model costs a few megabytes.
import init, { GgufInspector } from "./lib/wasm-simd/bitnet_web.js";

const $ = (id) => document.getElementById(id);
const size = (n) => (n < 1e6 ? (n / 1e3).toFixed(1) + " KB" : (n / 1e6).toFixed(1) + " MB");

function showProgress(loaded, total) {
  $("progress").hidden = false;
  $("bar").value = total ? loaded / total : 0;
  $("progress-text").textContent = total ? `${size(loaded)} of ${size(total)}` : size(loaded);
}

/** Feeds a ReadableStream of bytes to the inspector until the header is complete. */
async function inspectStream(stream, total) {
  const insp = new GgufInspector(total || undefined);
  const reader = stream.getReader();
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        insp.finish(); // throws a clear error if the file was cut short
        break;
      }
      loaded += value.length;
      showProgress(loaded, total);
      if (insp.feed(value)) break;
    }
    return insp.headerText();
  } finally {
    reader.cancel().catch(() => {});
    insp.free?.();
  }
}

async function run(source) {
  $("error").hidden = true;
  $("output").textContent = "";
  document.body.dataset.state = "loading";
  try {
    let text;
    if (source instanceof File) {
      text = await inspectStream(source.stream(), source.size);
    } else {
      const resp = await fetch(source);
      if (!resp.ok) throw new Error(`Download failed: ${resp.status} ${resp.statusText} for ${source}`);
      text = await inspectStream(resp.body, +resp.headers.get("Content-Length") || 0);
    }
    $("output").textContent = text;
    document.body.dataset.state = "done";
  } catch (e) {
    $("error").textContent = String(e.message || e);
    $("error").hidden = false;
    document.body.dataset.state = "error";
  }
}

await init();
$("source").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const file = $("file").files[0];
  run(file || $("url").value.trim() || $("bundled").value);
});
$("file").addEventListener("change", () => $("file").files[0] && run($("file").files[0]));
run($("bundled").value);
