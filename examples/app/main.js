// A minimal chat on bitnet-web: one source for every example app (Vite, webpack, plain ESM, CDN).
// The model is `model.gguf` next to the page, or the one named by `?model=URL`.
import { createEngine } from "bitnet-web";

const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);

async function main() {
  const model = new URLSearchParams(location.search).get("model") || "model.gguf";
  const engine = await createEngine({
    model,
    onProgress: (p) => p.total && status(`loading ${Math.round((100 * p.loaded) / p.total)}%`),
  });
  const { kernel, threads, threadsNote } = engine.info;
  status(`ready: ${kernel}, ${threads} thread${threads > 1 ? "s" : ""}${threadsNote ? ` (${threadsNote})` : ""}`);
  $("ask").disabled = false;
  $("form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("ask").disabled = true;
    $("out").textContent = "";
    const stream = await engine.chat.completions.create({
      messages: [{ role: "user", content: $("prompt").value }],
      max_tokens: 24,
      temperature: 0,
      stream: true,
    });
    let finish = null;
    for await (const chunk of stream) {
      $("out").textContent += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    status(`done: ${finish}, ${engine.stats().decode_tok_s.toFixed(1)} tok/s on ${threads} thread${threads > 1 ? "s" : ""}`);
    $("ask").disabled = false;
  });
}

main().catch((e) => status(`error: ${e.name}: ${e.message}`));
