// The per-token cost of structured output in the browser: the same model answers the same request
// as free text, as `json_object`, as `json_schema` and as a required tool call (the same schema as
// the tool's parameters, inside the call's syntax), in headless Chromium through the package
// (www/lib), and the engine's own mask time is divided by the tokens generated.
//   make bench-structured   (a 1-layer 2B4T-shape model: the real 128,256-token Llama-3 vocabulary,
//                            which is what the mask walks; the layers only change decode speed)
//   node bench/structured.mjs MODEL.gguf [THREADS=1]
import path from "node:path";
import { launchChromium } from "../scripts/chromium.mjs";
import { serve, staticFiles } from "../scripts/serve.mjs";

const [model, threads = "1"] = process.argv.slice(2);
if (!model) throw new Error("usage: node bench/structured.mjs MODEL.gguf [THREADS]");
const www = staticFiles(path.resolve("www"));
const file = path.resolve(model);
const server = await serve("www", 0, "127.0.0.1", (req, res) => {
  if (req.url.startsWith("/__model.gguf")) return staticFiles(path.dirname(file))({ ...req, url: `/${path.basename(file)}`, headers: req.headers, method: req.method }, res);
  return www(req, res);
});
const { browser } = await launchChromium({ persistent: false });
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.port}/index.html?bench`);
const rows = await page.evaluate(async (threads) => {
  const { createEngine } = await import("/lib/index.js");
  const engine = await createEngine({ model: "/__model.gguf", cache: false, threads: Number(threads) });
  const schema = {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 24 },
      priority: { enum: ["low", "medium", "high"] },
      steps: { type: "array", items: { type: "object", properties: { n: { type: "integer" }, text: { type: "string", maxLength: 16 } }, required: ["n", "text"] }, maxItems: 4 },
    },
    required: ["name", "priority", "steps"],
  };
  const formats = {
    text: {},
    json_object: { response_format: { type: "json_object" } },
    json_schema: { response_format: { type: "json_schema", json_schema: { name: "plan", schema } } },
    tool_call: {
      tools: [{ type: "function", function: { name: "plan", description: "Plans a trip.", parameters: schema } }],
      tool_choice: "required",
      parallel_tool_calls: false,
    },
  };
  const out = [];
  const ask = async (seed, extra) => {
    const t0 = performance.now();
    const r = await engine.chat.completions.create({
      messages: [{ role: "user", content: "Plan a trip as JSON." }],
      max_tokens: 48, temperature: 0.7, seed, ...extra,
    });
    const s = await engine.refreshStats();
    const m = r.choices[0].message;
    return { wall_ms: performance.now() - t0, tokens: s.completion_tokens, decode: s.decode_tok_s, mask_ms: s.constraint_ms, text: m.content ?? JSON.stringify(m.tool_calls) };
  };
  for (const [name, extra] of Object.entries(formats)) {
    // The same seed twice gives the same tokens: the first run also builds the vocabulary's trie
    // (once per engine), so the difference of the two walls is that one-off cost.
    let seed = 1;
    let first = await ask(seed, extra);
    // A random model may close a bare object at once ("{}"); take a seed that says something.
    while (first.tokens < 16 && seed < 8) first = await ask(++seed, extra);
    const again = await ask(seed, extra);
    out.push({ name, seed, ...again, first_extra_ms: first.wall_ms - again.wall_ms });
  }
  return { rows: out, info: engine.info };
}, threads);
console.log(`kernel ${rows.info.kernel}, ${rows.info.threads} thread(s)`);
console.log("| format | tokens | decode tok/s | mask ms/token | first request's extra ms |\n|---|---|---|---|---|");
for (const r of rows.rows) {
  const perToken = r.mask_ms ? (r.mask_ms / r.tokens).toFixed(3) : "—";
  console.log(`| ${r.name} | ${r.tokens} | ${r.decode.toFixed(2)} | ${perToken} | ${r.name === "text" ? "—" : r.first_extra_ms.toFixed(0)} |`);
}
await browser.close();
server.close();
