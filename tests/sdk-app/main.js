// An app that talks to bitnet-web through the SDKs web developers use with OpenAI: the `openai`
// package and the AI SDK (`ai` + `@ai-sdk/openai-compatible`), both given the engine's `fetch`.
// It also goes through the request surface those SDKs rely on (content parts, fields that change
// nothing, context fitting, text completions, the `ready` phase) on the engine directly, and leaves
// what it saw in window.RESULT for tests/e2e/sdk.test.mjs to check. Expected values come from the
// definitions (the same greedy answer by every route; the API's shapes), not from a run.
import OpenAI from "openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { embed, embedMany, generateObject, generateText, jsonSchema, streamText, tool } from "ai";
import { createEngine, createFetch } from "bitnet-web";

const BASE = "http://bitnet.local/v1";
const hello = [{ role: "user", content: "Hello!" }];
const greedy = { temperature: 0, max_tokens: 16 };
const SCHEMA = {
  type: "object",
  properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer", minimum: 0, maximum: 120 } },
  required: ["name", "age"],
  additionalProperties: false,
};

const WEATHER = {
  type: "object",
  properties: { city: { type: "string", maxLength: 20 }, unit: { enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const ADD = {
  type: "object",
  properties: { a: { type: "integer", minimum: -100, maximum: 100 }, b: { type: "integer", minimum: -100, maximum: 100 } },
  required: ["a", "b"],
  additionalProperties: false,
};
const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "The weather in a city.", parameters: WEATHER } },
  { type: "function", function: { name: "add", description: "Adds two integers.", parameters: ADD } },
];
const askTools = [{ role: "user", content: "What is the weather in Paris, and what is 2 + 3?" }];

/** The error a promise rejects with, as plain data, or null if it resolves. */
async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { name: e.name, ctor: e.constructor?.name, message: e.message, field: e.field, status: e.status ?? e.statusCode, code: e.code, param: e.param };
  }
}

const text = (r) => r.choices[0].message.content;

async function direct(engine, R) {
  R.plain = text(await engine.chat.completions.create({ messages: hello, ...greedy }));
  // Content parts: text parts are the message's text, concatenated.
  R.parts = text(await engine.chat.completions.create({ messages: [{ role: "user", content: [{ type: "text", text: "Hel" }, { type: "text", text: "lo!" }] }], ...greedy }));
  R.imagePart = await failure(engine.chat.completions.create({ messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }] }));
  // Fields that change nothing are accepted and change nothing; the rest is refused.
  R.ignored = text(await engine.chat.completions.create({ messages: hello, ...greedy, user: "u-1", metadata: { app: "x" }, store: false, service_tier: "auto", prompt_cache_key: "k", safety_identifier: "s" }));
  R.refused = await Promise.all([
    failure(engine.chat.completions.create({ messages: hello, store: true })),
    failure(engine.chat.completions.create({ messages: [{ role: "user", content: "Hi", name: "ann" }] })),
    failure(engine.chat.completions.create({ messages: hello, truncation: "middle" })),
  ]);

  // Context fitting: a chat longer than the context drops whole old turns, keeping the system prompt.
  const system = { role: "system", content: "You are a helpful assistant." };
  const turns = [];
  for (let i = 0; turns.length < 40; i++) {
    turns.push({ role: "user", content: `Tell me fact number ${i} about cats and dogs and birds.` });
    turns.push({ role: "assistant", content: `Fact ${i}: cats, dogs and birds are animals that many people keep at home as pets.` });
  }
  turns.push({ role: "user", content: "And one more?" });
  const long = [system, ...turns];
  const fit = await engine.chat.completions.create({ messages: long, ...greedy, truncation: "auto" });
  const d = fit.dropped_messages;
  const earlier = turns.slice(0, d).map((m, i) => (m.role === "user" ? i : -1)).filter((i) => i >= 0).pop();
  R.fit = {
    dropped: d,
    finish: fit.choices[0].finish_reason,
    promptTokens: fit.usage.prompt_tokens,
    keptTokens: await engine.countTokens([system, ...turns.slice(d)]),
    keptStartsWith: turns[d]?.role,
    // One user turn less dropped would not have fitted.
    oneMoreTokens: earlier == null ? null : await engine.countTokens([system, ...turns.slice(earlier)]),
    contextLength: engine.contextLength,
  };
  const fitStream = [];
  for await (const c of await engine.chat.completions.create({ messages: long, ...greedy, truncation: "auto", stream: true })) fitStream.push(c);
  R.fitStream = { dropped: fitStream[0].dropped_messages, text: fitStream.map((c) => c.choices[0]?.delta.content ?? "").join(""), whole: text(fit) };
  R.notFit = await failure(engine.chat.completions.create({ messages: long, ...greedy }));

  // Text completions: the raw prompt, no template.
  const prompt = "Once upon a time";
  R.rawChat = text(await engine.chat.completions.create({ prompt, ...greedy }));
  R.completion = await engine.completions.create({ prompt, ...greedy });
  R.completionDefault = await engine.completions.create({ prompt, temperature: 0, ignore_eos: true });
  R.echo = await engine.completions.create({ prompt, ...greedy, echo: true });
  R.legacyLogprobs = await engine.completions.create({ prompt, temperature: 0, max_tokens: 8, ignore_eos: true, logprobs: 3 });
  const chunks = [];
  for await (const c of await engine.completions.create({ prompt, ...greedy, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
  R.completionChunks = chunks;
  // A whole completion aborted answers with what it had (here nothing: aborted at once).
  const stop = new AbortController();
  const aborting = engine.completions.create({ prompt, temperature: 0, max_tokens: 200, ignore_eos: true, signal: stop.signal });
  stop.abort();
  R.completionAborted = await aborting;
  R.completionRefused = await Promise.all([
    failure(engine.completions.create({ prompt: ["a", "b"] })),
    failure(engine.completions.create({ prompt, suffix: "end" })),
    failure(engine.completions.create({ prompt, echo: true, logprobs: 2 })),
    failure(engine.completions.create({ prompt, logprobs: 9 })),
  ]);
}

/** Tool calls on the engine directly: required and named, greedy and sampled, streamed, auto, tool turns. */
async function tools(engine, R) {
  const call = async (extra) => {
    const r = await engine.chat.completions.create({ messages: askTools, tools: TOOLS, max_tokens: 200, ...extra });
    return { finish: r.choices[0].finish_reason, message: r.choices[0].message };
  };
  R.toolCalls = [];
  for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 1 }, { temperature: 1, seed: 2 }]) {
    R.toolCalls.push({ choice: "required", ...(await call({ ...sampling, tool_choice: "required" })) });
    R.toolCalls.push({ choice: "add", ...(await call({ ...sampling, tool_choice: { type: "function", function: { name: "add" } } })) });
  }
  // Streamed: the deltas, as OpenAI streams them, put back together.
  const chunks = [];
  for await (const c of await engine.chat.completions.create({ messages: askTools, tools: TOOLS, tool_choice: "required", temperature: 0, max_tokens: 200, stream: true })) chunks.push(c);
  R.toolChunks = chunks.map((c) => ({ delta: c.choices[0]?.delta ?? null, finish: c.choices[0]?.finish_reason ?? null }));
  // auto: the first token decides; forced here by logit_bias, since no model we have was tuned for tools.
  const [lt] = await engine.tokenize("<");
  R.autoForced = await call({ temperature: 0, tool_choice: "auto", logit_bias: { [lt]: 100 } });
  R.autoText = await call({ temperature: 0, tool_choice: "auto", logit_bias: { [lt]: -100 } });
  // A whole tool turn: the call made, the tool's answer, then the model answers.
  const made = R.toolCalls[0].message.tool_calls[0];
  const turn = [...askTools, { role: "assistant", content: null, tool_calls: [made] }, { role: "tool", tool_call_id: made.id, content: "21 degrees and sunny" }];
  R.afterTool = await call({ messages: turn, temperature: 0, max_tokens: 16, tool_choice: "none" });
  R.toolErrors = await Promise.all([
    failure(engine.chat.completions.create({ messages: askTools, tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } })),
    failure(engine.chat.completions.create({ messages: [...askTools, { role: "tool", tool_call_id: "call_x", content: "?" }], tools: TOOLS })),
    failure(engine.chat.completions.create({ messages: askTools, tools: [{ type: "function", function: { name: "bad name" } }] })),
    failure(engine.chat.completions.create({ messages: askTools, tools: [{ type: "code_interpreter" }] })),
  ]);
}

async function openai(fetch, engine, R) {
  const client = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch, dangerouslyAllowBrowser: true, maxRetries: 0 });
  R.sdkModels = (await client.models.list()).data.map((m) => m.id);
  R.sdkWhole = text(await client.chat.completions.create({ model: engine.model, messages: hello, ...greedy }));
  let streamed = "";
  for await (const c of await client.chat.completions.create({ model: engine.model, messages: hello, ...greedy, stream: true })) streamed += c.choices[0]?.delta?.content ?? "";
  R.sdkStreamed = streamed;
  R.sdkParts = text(await client.chat.completions.create({ model: engine.model, messages: [{ role: "user", content: [{ type: "text", text: "Hel" }, { type: "text", text: "lo!" }] }], ...greedy, user: "someone" }));
  R.sdkJson = [];
  for (const temperature of [0, 1]) {
    const r = await client.chat.completions.create({
      model: engine.model, messages: [{ role: "user", content: "Give me a person as JSON." }], temperature, seed: 3, max_tokens: 96,
      response_format: { type: "json_schema", json_schema: { name: "person", schema: SCHEMA, strict: true } },
    });
    R.sdkJson.push({ text: text(r), finish: r.choices[0].finish_reason });
  }
  R.sdkCompletion = (await client.completions.create({ model: engine.model, prompt: "Once upon a time", ...greedy })).choices[0].text;
  // Abort mid-stream: the SDK ends the stream where it was (it swallows the AbortError), and the
  // generation stops; a whole answer aborted rejects with the SDK's APIUserAbortError.
  const controller = new AbortController();
  const stream = await client.chat.completions.create({ model: engine.model, messages: hello, temperature: 0, max_tokens: 200, ignore_eos: true, stream: true }, { signal: controller.signal });
  let pieces = 0;
  R.sdkStreamAbort = await failure((async () => {
    for await (const c of stream) if (c.choices[0]?.delta?.content && ++pieces === 2) controller.abort();
  })());
  R.sdkStreamPieces = pieces;
  const whole = new AbortController();
  const pending = failure(client.chat.completions.create({ model: engine.model, messages: hello, temperature: 0, max_tokens: 200, ignore_eos: true }, { signal: whole.signal }));
  setTimeout(() => whole.abort(), 100);
  R.sdkAbort = await pending;
  R.sdkAbortIsUserAbort = R.sdkAbort?.ctor === OpenAI.APIUserAbortError.name;
  R.sdkAfterAbort = text(await client.chat.completions.create({ model: engine.model, messages: hello, ...greedy }));
  // Errors: OpenAI's status codes and error JSON.
  R.sdkErrors = await Promise.all([
    failure(client.chat.completions.create({ model: engine.model, messages: hello, n: 2 })),
    failure(client.chat.completions.create({ model: engine.model, messages: hello, temperature: 7 })),
    failure(client.chat.completions.create({ model: engine.model, prompt: "word ".repeat(engine.contextLength * 2) })),
    failure(client.chat.completions.create({ model: engine.model, messages: hello, stream: true, temperature: 7 })),
    failure(client.embeddings.create({ model: engine.model, input: "x" })),
  ]);
}

async function openaiTools(fetch, engine, R) {
  const client = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch, dangerouslyAllowBrowser: true, maxRetries: 0 });
  const ask = { model: engine.model, messages: askTools, tools: TOOLS, tool_choice: "required", temperature: 0, max_tokens: 200 };
  const whole = await client.chat.completions.create(ask);
  R.sdkToolWhole = { finish: whole.choices[0].finish_reason, message: whole.choices[0].message };
  const calls = [];
  let finish = null;
  for await (const c of await client.chat.completions.create({ ...ask, stream: true })) {
    for (const d of c.choices[0]?.delta?.tool_calls ?? []) {
      calls[d.index] ??= { id: d.id, name: d.function?.name, arguments: "" };
      calls[d.index].arguments += d.function?.arguments ?? "";
    }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  R.sdkToolStreamed = { calls, finish };
  R.sdkToolError = await failure(client.chat.completions.create({ ...ask, tool_choice: { type: "function", function: { name: "nope" } } }));
}

async function aiSdk(fetch, engine, R) {
  const provider = createOpenAICompatible({ name: "bitnet", baseURL: BASE, fetch, supportsStructuredOutputs: true, includeUsage: true });
  const model = provider(engine.model);
  const gen = await generateText({ model, prompt: "Hello!", temperature: 0, maxOutputTokens: 16, maxRetries: 0 });
  R.aiText = gen.text;
  R.aiUsage = gen.usage;
  const s = streamText({ model, messages: [{ role: "user", content: [{ type: "text", text: "Hel" }, { type: "text", text: "lo!" }] }], temperature: 0, maxOutputTokens: 16, maxRetries: 0 });
  let streamed = "";
  for await (const t of s.textStream) streamed += t;
  R.aiStreamed = streamed;
  R.aiObject = [];
  for (const temperature of [0, 1]) {
    const o = await generateObject({ model, schema: jsonSchema(SCHEMA), prompt: "Give me a person as JSON.", temperature, seed: 5, maxOutputTokens: 96, maxRetries: 0 });
    R.aiObject.push(o.object);
  }
  R.aiError = await failure(generateText({ model, prompt: "word ".repeat(engine.contextLength * 2), maxRetries: 0 }));
}

async function aiSdkTools(fetch, engine, R) {
  const provider = createOpenAICompatible({ name: "bitnet", baseURL: BASE, fetch, supportsStructuredOutputs: true });
  const r = await generateText({
    model: provider(engine.model),
    prompt: "What is 2 + 3?",
    tools: { add: tool({ description: "Adds two integers.", inputSchema: jsonSchema(ADD) }) },
    toolChoice: "required",
    temperature: 0,
    maxOutputTokens: 200,
    maxRetries: 0,
  });
  R.aiToolCalls = r.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input }));
  R.aiToolFinish = r.finishReason;
}

/**
 * An embedding model (tests/fixtures/embedding: Microsoft's converter, HF's vectors in
 * embedding.json) through `engine.embeddings.create`, the `openai` package (which asks for base64
 * and decodes it) and the AI SDK's embed/embedMany; and each kind of model refusing the other's work.
 */
async function embeddings(chatEngine, chatFetch, R) {
  const ref = await (await window.fetch("embedding.json")).json();
  const texts = ref.cases.map((c) => c.text);
  R.embExpected = ref.cases.map((c) => ({ embedding: c.embedding, tokens: c.ids.length }));
  const engine = await createEngine({ model: "embedding.gguf" });
  R.embContext = engine.contextLength;
  const batch = await engine.embeddings.create({ input: texts, model: "ignored", user: "u-1" });
  R.embBatch = batch;
  R.embOne = (await engine.embeddings.create({ input: texts[1] })).data[0].embedding;
  R.embBase64 = (await engine.embeddings.create({ input: texts[1], encoding_format: "base64" })).data[0].embedding;
  R.embDims = (await engine.embeddings.create({ input: texts[1], dimensions: 16 })).data[0].embedding;
  const long = "BitNet embeds text on the device, one ternary weight at a time. ".repeat(200);
  R.embTruncated = (await engine.embeddings.create({ input: long, truncation: "auto" })).usage;
  R.embErrors = await Promise.all([
    failure(engine.embeddings.create({ input: long })),
    failure(engine.embeddings.create({ input: [] })),
    failure(engine.embeddings.create({ input: [[1, 2, 3]] })),
    failure(engine.embeddings.create({ input: ["fine", ""] })),
    failure(engine.embeddings.create({ input: "a", encoding_format: "binary" })),
    failure(engine.embeddings.create({ input: "a", dimensions: 100000 })),
    failure(engine.embeddings.create({ input: "a", stream: true })),
    failure(engine.chat.completions.create({ messages: hello })),
    failure(chatEngine.embeddings.create({ input: "a" })),
  ]);
  const stop = new AbortController();
  const pending = engine.embeddings.create({ input: Array(400).fill(texts[texts.length - 1]), signal: stop.signal });
  setTimeout(() => stop.abort(), 30);
  R.embAborted = await failure(pending);
  R.embAfterAbort = (await engine.embeddings.create({ input: texts[1] })).data[0].embedding;

  const fetch = createFetch(engine);
  const client = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch, dangerouslyAllowBrowser: true, maxRetries: 0 });
  R.sdkEmb = (await client.embeddings.create({ model: engine.model, input: texts.slice(0, 3) })).data.map((d) => d.embedding);
  R.sdkEmbFloat = (await client.embeddings.create({ model: engine.model, input: texts[1], encoding_format: "float" })).data[0].embedding;
  const chatClient = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch: chatFetch, dangerouslyAllowBrowser: true, maxRetries: 0 });
  R.sdkEmbOfChatModel = await failure(chatClient.embeddings.create({ model: "m", input: "a" }));
  R.sdkChatOfEmbModel = await failure(client.chat.completions.create({ model: engine.model, messages: hello }));
  const provider = createOpenAICompatible({ name: "bitnet", baseURL: BASE, fetch });
  const many = await embedMany({ model: provider.embeddingModel(engine.model), values: texts.slice(0, 3), maxRetries: 0 });
  R.aiEmb = many.embeddings;
  R.aiEmbUsage = many.usage;
  R.aiEmbOne = (await embed({ model: provider.embeddingModel(engine.model), value: texts[1], maxRetries: 0 })).embedding;
  await engine.unload();
}

async function run() {
  const progress = [];
  // The fetch is made before the model loads: requests in between are answered 503 "model_loading".
  const loading = createEngine({ model: "embedded.gguf", contextLength: 256, onProgress: (p) => progress.push(p.phase) });
  const fetch = createFetch(loading);
  const R = {};
  const early = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch, dangerouslyAllowBrowser: true, maxRetries: 0 });
  R.whileLoading = await failure(early.chat.completions.create({ model: "m", messages: hello }));
  const engine = await loading;
  R.progress = progress;
  R.model = engine.model;
  document.getElementById("status").textContent = "loaded";
  await direct(engine, R);
  await openai(fetch, engine, R);
  await aiSdk(fetch, engine, R);
  await embeddings(engine, fetch, R);
  // The tool prompts are longer than the embedded model's 256-token training context.
  const wide = await createEngine({ model: "embedded.gguf", contextLength: 2048 });
  await tools(wide, R);
  const wideFetch = createFetch(wide);
  await openaiTools(wideFetch, wide, R);
  await aiSdkTools(wideFetch, wide, R);
  R.schema = SCHEMA;
  R.toolSchemas = { get_weather: WEATHER, add: ADD };
  return R;
}

window.RESULT = {};
run()
  .then((r) => (window.RESULT = { ok: true, ...r }))
  .catch((e) => (window.RESULT = { ok: false, error: `${e.name}: ${e.message}\n${e.stack}` }))
  .finally(() => (document.title = "done"));
