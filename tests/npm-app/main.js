// A web app that uses bitnet-web the way a user would: installed from the packed tarball into
// node_modules and imported as a plain ES module (no bundler).
import { createEngine, GgufError } from "./node_modules/bitnet-web/dist/index.js";

const $ = (id) => document.getElementById(id);
window.RESULT = {};
try {
  const progress = [];
  const engine = await createEngine({ model: "model.gguf", onProgress: (p) => progress.push(p.phase) });
  $("status").textContent = "loaded";
  const stream = await engine.chat.completions.create({
    messages: [{ role: "user", content: "Hello!" }],
    stream: true,
    max_tokens: 12,
    temperature: 0,
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const text = chunks.map((c) => c.choices[0].delta.content ?? "").join("");
  $("out").textContent = text;
  const whole = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hello!" }], max_tokens: 12, temperature: 0 });
  let typed = null;
  try {
    await createEngine({ model: "index.html", cache: false });
  } catch (e) {
    typed = { name: e.name, isGgufError: e instanceof GgufError };
  }
  window.RESULT = { ok: true, text, chunks, whole, stats: engine.stats(), progress, typed };
  await engine.unload();
} catch (e) {
  window.RESULT = { ok: false, error: `${e.name}: ${e.message}` };
}
document.title = "done";
