// The API from TypeScript, every option and method once; `make test` type-checks it against the
// packed package (`tsc --noEmit`). It is not part of the app's build.
import {
  AbortError,
  BitnetError,
  ContextFullError,
  DownloadError,
  Engine,
  EngineCrashedError,
  EngineUnloadedError,
  GgufError,
  OutOfMemoryError,
  UnsupportedFieldError,
  UnsupportedModelError,
  QuotaError,
  StorageError,
  createEngine,
  createFetch,
  estimateMemory,
  IGNORED_FIELDS,
  clearCachedModels,
  deleteCachedModel,
  downloadModel,
  hasModel,
  listCachedModels,
  storageInfo,
  type CachedModel,
  type StorageInfo,
  type ChatCompletion,
  type ChatCompletionChunk,
  type EngineStats,
  type MemoryEstimate,
  type Progress,
  type TextCompletion,
  type Tool,
  type ToolCall,
  type TextCompletionChunk,
} from "bitnet-web";

export async function everything(file: File): Promise<string> {
  const controller = new AbortController();
  const engine: Engine = await createEngine({
    model: "model.gguf",
    device: "auto",
    threads: "auto",
    lmHead: "shortlist",
    onProgress: (p: Progress) => console.log(p.phase, p.loaded, p.total, p.rate, p.eta, p.header?.nLayer, p.message),
    cache: true,
    sha256: "00",
    i2sLayout: 128,
    contextLength: 2048,
    kvCache: "f16",
    workerUrl: new URL("./worker.js", location.href),
    signal: controller.signal,
  });
  const need: MemoryEstimate = await estimateMemory(file, { contextLength: 4096, kvCache: "f16", embeddings: "auto", memoryLimit: 2 ** 31, signal: controller.signal });
  if (!need.fits) console.log(need.refusal, need.total, need.weights, need.largestTensor, need.kvCache, need.int8Embeddings, need.limit, need.contextLength);
  await createEngine({ model: file, threads: 2, lmHead: "stored" });
  await createEngine({ model: new ArrayBuffer(8), lmHead: "int8" });

  const stream = await engine.chat.completions.create({
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }],
    stream: true,
    stream_options: { include_usage: true },
    model: "ignored",
    n: 1,
    max_tokens: 16,
    temperature: 0.7,
    top_p: 0.9,
    top_k: 40,
    min_p: 0.05,
    repetition_penalty: 1.1,
    frequency_penalty: 0.5,
    presence_penalty: 0.5,
    logit_bias: { 42: -100 },
    seed: 1,
    stop: ["\n\n"],
    logprobs: true,
    top_logprobs: 3,
    response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } },
    ignore_eos: false,
    signal: controller.signal,
  });
  let text = "";
  for await (const chunk of stream) {
    const c: ChatCompletionChunk = chunk;
    text += c.choices[0]?.delta.content ?? "";
    const lp: number | undefined = c.choices[0]?.logprobs?.content[0]?.top_logprobs?.[0]?.logprob;
    void lp;
    if (c.usage) console.log(c.usage.prefill_tok_s, c.usage.decode_tok_s);
  }
  const whole: ChatCompletion = await engine.chat.completions.create({ prompt: "Once", max_completion_tokens: 8, response_format: { type: "json_object" } });
  const reason: "stop" | "length" | "tool_calls" | "abort" = whole.choices[0].finish_reason;
  console.log(reason, whole.usage.total_tokens);
  // @ts-expect-error: a field the API does not have is a type error, as it is an UnsupportedFieldError at run time
  await engine.chat.completions.create({ messages: [], functions: [] });
  // Content parts, fields that change nothing, and context fitting.
  const fitted: ChatCompletion = await engine.chat.completions.create({
    messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
    truncation: "auto",
    user: "u",
    metadata: { app: "typed" },
    store: false,
    service_tier: "auto",
  });
  console.log(fitted.dropped_messages, IGNORED_FIELDS.length);
  // Tool calls and a tool turn.
  const tools: Tool[] = [{ type: "function", function: { name: "add", description: "Adds.", parameters: { type: "object" } } }];
  const called: ChatCompletion = await engine.chat.completions.create({ messages: [{ role: "user", content: "1+2?" }], tools, tool_choice: "required", parallel_tool_calls: false });
  const calls: ToolCall[] = called.choices[0].message.tool_calls ?? [];
  const finish: "stop" | "length" | "tool_calls" | "abort" = called.choices[0].finish_reason;
  await engine.chat.completions.create({
    messages: [
      { role: "user", content: "1+2?" },
      { role: "assistant", content: null, tool_calls: calls },
      { role: "tool", tool_call_id: calls[0].id, content: "3" },
    ],
    tools,
    tool_choice: { type: "function", function: { name: "add" } },
  });
  console.log(finish, await engine.countTokens([{ role: "user", content: "1+2?" }], { tools }));
  // Text completions, whole and streamed.
  const done: TextCompletion = await engine.completions.create({ prompt: "Once", max_tokens: 8, echo: true });
  console.log(done.choices[0].text, done.choices[0].logprobs?.token_logprobs[0]);
  for await (const piece of await engine.completions.create({ prompt: ["Once"], stream: true, logprobs: 2 })) {
    const p: TextCompletionChunk = piece;
    console.log(p.choices[0]?.text, p.choices[0]?.logprobs?.top_logprobs[0]);
  }
  // The fetch an OpenAI SDK takes, from an engine or the promise of one.
  const openaiFetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> = createFetch(createEngine({ model: "model.gguf" }));
  const reply: Response = await createFetch(engine)("http://local/v1/models");
  console.log(openaiFetch, reply.status);

  const ids: number[] = await engine.tokenize("Hello", { special: true });
  const back: string = await engine.detokenize(ids);
  const count: number = await engine.countTokens([{ role: "user", content: back }]);
  const stats: EngineStats = await engine.refreshStats();
  console.log(count, engine.contextLength, engine.header.nVocab, engine.info.threadsNote, stats.lm_head, stats.constraint_ms, engine.stats().decode_tok_s, engine.model);
  await engine.resetConversation();
  await engine.unload();
  for (const m of await listCachedModels()) await deleteCachedModel(m.url);
  const kept: CachedModel & { persisted: boolean | null } = await downloadModel("model.gguf", { signal: controller.signal, onProgress: (p: Progress) => console.log(p.phase), sha256: "00", stallTimeout: 30000 });
  if (await hasModel(new URL(kept.url))) await createEngine({ model: kept.url, cache: "if-room" });
  const where: StorageInfo = await storageInfo();
  console.log(where.where, where.usage, where.quota, where.persisted, where.models.length, engine.kept, engine.stats().persisted);
  const { removed, inUse }: { removed: number; inUse: number } = await clearCachedModels();
  try {
    await downloadModel("big.gguf");
  } catch (e) {
    if (e instanceof QuotaError) console.log(e.needed, e.available, removed, inUse);
    if (e instanceof StorageError) console.log(e.message);
  }

  try {
    await createEngine({ model: "x.gguf" });
  } catch (e) {
    if (e instanceof UnsupportedFieldError) return e.field;
    const typed = [GgufError, UnsupportedModelError, OutOfMemoryError, DownloadError, AbortError, ContextFullError, EngineUnloadedError, EngineCrashedError];
    if (typed.some((t) => e instanceof t) && e instanceof BitnetError) return e.message;
  }
  return text;
}
