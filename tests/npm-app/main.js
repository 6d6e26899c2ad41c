// A web app that uses bitnet-web the way a user would: installed from the packed tarball into
// node_modules and imported as a plain ES module (no bundler). It goes through every point of the
// API and leaves what it saw in window.RESULT for tests/e2e/npm-package.test.mjs to check.
import {
  AbortError,
  ContextFullError,
  Engine,
  EngineUnloadedError,
  GgufError,
  UnsupportedFieldError,
  createEngine,
} from "./node_modules/bitnet-web/dist/index.js";

const $ = (id) => document.getElementById(id);
const hello = [{ role: "user", content: "Hello!" }];

/** The error a promise rejects with, as { name, field?, isX }, or null if it resolves. */
async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { name: e.name, message: e.message, field: e.field };
  }
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

async function run() {
  const progress = [];
  const engine = await createEngine({ model: "model.gguf", onProgress: (p) => progress.push(p.phase) });
  $("status").textContent = "loaded";
  const R = { progress, isEngine: engine instanceof Engine, contextLength: engine.contextLength };

  // Streaming, with and without the usage chunk.
  R.chunks = await collect(await engine.chat.completions.create({ messages: hello, stream: true, max_tokens: 12, temperature: 0 }));
  R.text = R.chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  R.usageChunks = await collect(await engine.chat.completions.create({ messages: hello, stream: true, max_tokens: 12, temperature: 0, stream_options: { include_usage: true } }));
  R.whole = await engine.chat.completions.create({ messages: hello, max_tokens: 12, temperature: 0 });
  R.stats = engine.stats();

  // Greedy with log-probabilities: each token and its 5 best alternatives.
  R.greedy = await engine.chat.completions.create({ messages: hello, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 5, ignore_eos: true });
  // The same with a presence penalty, and with OpenAI's frequency penalty.
  R.presence = await engine.chat.completions.create({ messages: hello, max_tokens: 16, temperature: 0, presence_penalty: 2, logprobs: true, top_logprobs: 20, ignore_eos: true });
  R.frequency = await engine.chat.completions.create({ messages: hello, max_tokens: 16, temperature: 0, frequency_penalty: 1.5, logprobs: true, top_logprobs: 20, ignore_eos: true });
  // logit_bias: ban the greedy first token; force another.
  const first = R.greedy.choices[0].logprobs.content[0];
  const firstId = (await engine.tokenize(first.token, { special: true }))[0];
  R.firstId = firstId;
  R.banned = await engine.chat.completions.create({ messages: hello, max_tokens: 1, temperature: 0, logprobs: true, logit_bias: { [firstId]: -100 } });
  R.forcedId = 42;
  R.forced = await engine.chat.completions.create({ messages: hello, max_tokens: 1, temperature: 0, logprobs: true, logit_bias: { 42: 100 } });
  R.forcedText = await engine.detokenize([42]);
  // Seeds make sampling repeatable.
  const sampled = (seed) => engine.chat.completions.create({ messages: hello, max_tokens: 16, temperature: 1, top_k: 0, top_p: 1, min_p: 0, seed });
  R.seeded = [(await sampled(7)).choices[0].message.content, (await sampled(7)).choices[0].message.content];

  // Tokens.
  R.tokens = await engine.tokenize("Hello world, 123!");
  R.roundTrip = await engine.detokenize(R.tokens);
  R.counted = await engine.countTokens(hello);
  R.badDetokenize = await failure(engine.detokenize([1e9]));

  // Strictness: unknown or unsupported fields, and values out of range.
  R.unsupported = await Promise.all([
    failure(engine.chat.completions.create({ messages: hello, audio: { voice: "alloy", format: "wav" } })),
    failure(engine.chat.completions.create({ messages: hello, functions: [] })),
    failure(engine.chat.completions.create({ messages: hello, n: 2 })),
    failure(engine.chat.completions.create({ messages: hello, stream: true, stream_options: { include_reasoning: true } })),
  ]);
  R.outOfRange = await Promise.all([
    failure(engine.chat.completions.create({ messages: hello, temperature: 5 })),
    failure(engine.chat.completions.create({ messages: hello, logprobs: true, top_logprobs: 50 })),
    failure(engine.chat.completions.create({ messages: hello, logit_bias: { "-3": 1 } })),
    failure(engine.chat.completions.create({ messages: hello, stop: ["a", "b", "c", "d", "e"] })),
    failure(engine.chat.completions.create({ messages: hello, stop: "x".repeat(2000) })),
  ]);
  R.badFormat = await failure(engine.chat.completions.create({ messages: hello, response_format: { type: "xml" } }));
  R.badSchema = await failure(engine.chat.completions.create({ messages: hello, response_format: { type: "json_schema", json_schema: { name: "x", schema: { $ref: "https://example.com/s.json" } } } }));

  // Structured output, on this model and on the embedded one, greedy and sampled, whole and streamed.
  const schema = await (await fetch("schema.json")).json();
  const embedded = await createEngine({ model: "embedded.gguf" });
  const task = [{ role: "user", content: "Plan a task as JSON." }];
  R.structured = [];
  for (const [name, e] of [["model.gguf", engine], ["embedded.gguf", embedded]]) {
    for (const temperature of [0, 1]) {
      const r = await e.chat.completions.create({ messages: task, max_tokens: 400, temperature, seed: 3, response_format: { type: "json_schema", json_schema: { name: "task", schema } } });
      R.structured.push({ name, temperature, text: r.choices[0].message.content, finish: r.choices[0].finish_reason, constraint_ms: e.stats().constraint_ms });
    }
    const chunks = await collect(await e.chat.completions.create({ messages: task, max_tokens: 400, temperature: 0, stream: true, response_format: { type: "json_schema", json_schema: { name: "task", schema } } }));
    R.structured.push({ name, streamed: true, text: chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), finish: chunks.at(-1).choices[0].finish_reason });
  }
  await embedded.unload();

  R.contextFull = await failure(engine.chat.completions.create({ prompt: "word ".repeat(engine.contextLength * 2), max_tokens: 4 }));

  // Aborts: a whole answer aborted returns what it had; a stream aborted throws.
  const c1 = new AbortController();
  const aborting = engine.chat.completions.create({ messages: hello, max_tokens: 64, ignore_eos: true, temperature: 0, signal: c1.signal });
  c1.abort();
  R.abortedWhole = await aborting;
  const c2 = new AbortController();
  const stream = await engine.chat.completions.create({ messages: hello, max_tokens: 64, ignore_eos: true, temperature: 0, stream: true, signal: c2.signal });
  R.abortedStream = await failure((async () => {
    for await (const c of stream) if (c.choices[0]?.delta.content) c2.abort();
  })());

  // A load can be cancelled: once the download started, and before it.
  const c3 = new AbortController();
  R.cancelledLoad = await failure(createEngine({ model: "model.gguf", cache: false, signal: c3.signal, onProgress: (p) => p.phase === "download" && c3.abort() }));
  R.cancelledEarly = await failure(createEngine({ model: "model.gguf", cache: false, signal: AbortSignal.abort() }));

  // Unload: the pending request rejects with AbortError, later calls with EngineUnloadedError.
  const pending = failure(engine.chat.completions.create({ messages: hello, max_tokens: 200, ignore_eos: true, temperature: 0 }));
  await engine.unload();
  R.pendingOnUnload = await pending;
  R.afterUnload = [await failure(engine.chat.completions.create({ messages: hello })), await failure(engine.tokenize("x"))];

  // A bad file is a typed error.
  R.typed = await failure(createEngine({ model: "index.html", cache: false }));
  // Decided at the header: a TL1 file is a model to convert; a lying layer count is refused.
  R.tl1 = await failure(createEngine({ model: "tl1.gguf", cache: false }));
  R.lyingLayers = await failure(createEngine({ model: "layers.gguf", cache: false }));
  return R;
}

window.RESULT = {};
// ?idle: only the import, for tests that drive the engine themselves.
(location.search === "?idle" ? Promise.resolve({}) : run())
  .then((r) => (window.RESULT = { ok: true, ...r }))
  .catch((e) => (window.RESULT = { ok: false, error: `${e.name}: ${e.message}\n${e.stack}` }))
  .finally(() => (document.title = "done"));
// The error classes the test checks by name are also importable.
void [AbortError, ContextFullError, EngineUnloadedError, GgufError, UnsupportedFieldError];
