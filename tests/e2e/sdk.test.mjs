// Apps written against OpenAI's SDKs, run against bitnet-web as their users would: the packed
// tarball and the real `openai`, `ai` and `@ai-sdk/openai-compatible` packages (pinned, from the npm
// registry) installed into tests/sdk-app, built with Vite, served, and run in headless Chromium. The
// SDKs get `createFetch(engine)` as their fetch. Expected values come from definitions: every route
// gives the same greedy answer, JSON answers validate against their schema (Ajv), and the shapes and
// status codes are OpenAI's.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import Ajv from "ajv";
import { launchChromium } from "../../scripts/chromium.mjs";
import { ROOT } from "./browser.mjs";
import { serve, staticFiles } from "../../scripts/serve.mjs";

const WORK = path.join(ROOT, "target/sdk-app");
let browser;
let server;

const run = (cmd, args, cwd = WORK) => execFileSync(cmd, args, { cwd, stdio: "pipe", encoding: "utf8" });

before(async () => {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(WORK), { recursive: true });
  fs.cpSync(path.join(ROOT, "tests/sdk-app"), WORK, { recursive: true });
  const tarball = run("npm", ["pack", "--silent", "--pack-destination", WORK, path.join(ROOT, "pkg")], ROOT).trim().split("\n").pop();
  const manifest = JSON.parse(fs.readFileSync(path.join(WORK, "package.json"), "utf8"));
  manifest.dependencies["bitnet-web"] = `file:${path.join(WORK, tarball)}`;
  fs.writeFileSync(path.join(WORK, "package.json"), JSON.stringify(manifest, null, 2));
  // The SDKs and Vite come from the npm cache that `npm ci` in the repository filled (same versions).
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"]);
  fs.mkdirSync(path.join(WORK, "public"));
  fs.copyFileSync(path.join(ROOT, "www/models/bitnet-tiny-chat.i2_s.gguf"), path.join(WORK, "public/embedded.gguf"));
  fs.copyFileSync(path.join(ROOT, "tests/fixtures/embedding/qwen3_emb.i2_s.gguf"), path.join(WORK, "public/embedding.gguf"));
  fs.copyFileSync(path.join(ROOT, "tests/fixtures/embedding/qwen3_emb.json"), path.join(WORK, "public/embedding.json"));
  run(process.execPath, ["node_modules/vite/bin/vite.js", "build", "--logLevel", "warn"]);
  server = await serve(path.join(WORK, "dist"), 0, "127.0.0.1", staticFiles(path.join(WORK, "dist")));
  ({ browser } = await launchChromium({ persistent: false }));
  await openApp();
});

after(async () => {
  await browser?.close();
  server?.close();
});

let R;
/** Runs the app once; every test below checks a part of what it saw. */
async function openApp() {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
  await page.goto(`http://127.0.0.1:${server.port}/index.html`);
  await page.waitForFunction(() => document.title === "done", null, { timeout: 300000 });
  R = await page.evaluate(() => window.RESULT);
  assert.equal(R.ok, true, `${R.error}\n${logs.join("\n")}`);
  await page.close();
}

const validate = () => new Ajv({ allErrors: true }).compile(R.schema);

test("content parts are the message's text; fields that change nothing are accepted; the rest is refused by name", () => {
  assert.ok(R.plain.length > 0);
  assert.equal(R.parts, R.plain, "[Hel, lo!] as parts is the message \"Hello!\"");
  assert.equal(R.ignored, R.plain, "user, metadata, store: false, service_tier, prompt_cache_key and safety_identifier change nothing");
  assert.equal(R.imagePart.name, "UnsupportedFieldError");
  assert.equal(R.imagePart.field, "messages[0].content[1]");
  assert.match(R.imagePart.message, /"image_url" part.*text only/);
  assert.deepEqual(R.refused.map((e) => [e.name, e.field ?? null]), [
    ["UnsupportedFieldError", "store"],
    ["UnsupportedFieldError", "messages[0].name"],
    ["TypeError", null],
  ]);
});

test("truncation: \"auto\" drops the fewest whole old turns that make the prompt and the answer fit, keeping the system prompt", () => {
  const f = R.fit;
  const room = f.contextLength - Math.min(16, Math.floor(f.contextLength / 2));
  assert.ok(f.dropped > 0, "the chat did not fit as it was");
  assert.equal(f.keptStartsWith, "user", "the kept chat starts with a user turn");
  assert.equal(f.promptTokens, f.keptTokens, "the prompt was the system prompt and the kept turns");
  assert.ok(f.keptTokens <= room, `${f.keptTokens} prompt tokens fit in ${room}`);
  assert.ok(f.oneMoreTokens > room, `keeping one more turn (${f.oneMoreTokens} tokens) would not have fitted`);
  assert.notEqual(f.finish, null);
  assert.equal(R.fitStream.dropped, f.dropped, "a stream says it on its first chunk");
  assert.equal(R.fitStream.text, R.fitStream.whole);
  assert.equal(R.notFit.name, "ContextFullError", "without truncation the same chat is refused");
});

test("completions.create: the raw prompt's answer, OpenAI's legacy shape, echo, logprobs, streaming and refusals", () => {
  const c = R.completion;
  assert.equal(c.object, "text_completion");
  assert.match(c.id, /^cmpl-/);
  assert.equal(c.choices[0].text, R.rawChat, "the same answer as a chat request with that prompt");
  assert.ok(c.usage.completion_tokens <= 16 && c.usage.prompt_tokens > 0);
  assert.equal(R.completionDefault.usage.completion_tokens, 16, "max_tokens defaults to OpenAI's 16");
  assert.equal(R.echo.choices[0].text, `Once upon a time${c.choices[0].text}`);
  const lp = R.legacyLogprobs.choices[0].logprobs;
  assert.equal(lp.tokens.length, 8);
  assert.equal(lp.tokens.join(""), R.legacyLogprobs.choices[0].text);
  assert.ok(lp.token_logprobs.every((x) => x <= 0));
  lp.top_logprobs.forEach((alts, i) => {
    const values = Object.values(alts);
    assert.ok(values.length >= 1 && values.length <= 3);
    assert.equal(Math.max(...values), lp.token_logprobs[i], "greedy: the token is the best alternative");
  });
  lp.text_offset.forEach((o, i) => assert.equal(o, lp.tokens.slice(0, i).join("").length));
  const chunks = R.completionChunks;
  assert.ok(chunks.every((x) => x.object === "text_completion"));
  assert.equal(chunks.filter((x) => x.choices.length).map((x) => x.choices[0].text).join(""), c.choices[0].text);
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-1).usage.completion_tokens, c.usage.completion_tokens);
  const aborted = R.completionAborted;
  assert.deepEqual([aborted.object, aborted.choices[0].finish_reason, typeof aborted.choices[0].text], ["text_completion", "abort", "string"]);
  assert.match(aborted.id, /^cmpl-/);
  assert.deepEqual(R.completionRefused.map((e) => [e.name, e.field ?? null]), [
    ["UnsupportedFieldError", "prompt"],
    ["UnsupportedFieldError", "suffix"],
    ["UnsupportedFieldError", "echo"],
    ["RangeError", null],
  ]);
});

test("the load reports a ready phase after the header and the download", () => {
  assert.equal(R.progress.at(-1), "ready");
  assert.ok(R.progress.indexOf("header") < R.progress.indexOf("ready"));
});

test("the openai package talks to the engine through createFetch: create, stream, parts, JSON schema, completions, abort, errors", () => {
  assert.equal(R.whileLoading.status, 503, "503 while the model loads");
  assert.equal(R.whileLoading.code, "model_loading");
  assert.deepEqual(R.sdkModels, [R.model]);
  assert.equal(R.sdkWhole, R.plain);
  assert.equal(R.sdkStreamed, R.plain, "the streamed deltas make the whole answer");
  assert.equal(R.sdkParts, R.plain);
  const ok = validate();
  for (const j of R.sdkJson) {
    assert.equal(j.finish, "stop", JSON.stringify(j));
    assert.ok(ok(JSON.parse(j.text)), `${j.text}: ${JSON.stringify(ok.errors)}`);
  }
  assert.equal(R.sdkCompletion, R.rawChat);
  assert.equal(R.sdkStreamAbort, null, "the SDK ends an aborted stream without an error");
  assert.ok(R.sdkStreamPieces >= 2 && R.sdkStreamPieces < 20, `the stream stopped after ${R.sdkStreamPieces} pieces`);
  assert.equal(R.sdkAbortIsUserAbort, true, JSON.stringify(R.sdkAbort));
  assert.equal(R.sdkAfterAbort, R.plain, "the engine answers after an abort");
  const [n, temperature, overflow, streamed, embeddings] = R.sdkErrors;
  assert.deepEqual([n.status, n.code, n.param], [400, "unsupported_parameter", "n"]);
  assert.deepEqual([temperature.status, temperature.code, temperature.param], [400, "invalid_value", "temperature"]);
  assert.deepEqual([overflow.status, overflow.code], [400, "context_length_exceeded"]);
  assert.deepEqual([streamed.status, streamed.param], [400, "temperature"], "a stream's error has its status too");
  // A chat model has no embeddings: OpenAI's 400 for a model that does not support the endpoint.
  assert.deepEqual([embeddings.status, embeddings.code], [400, "model_not_supported"]);
});

test("the AI SDK (ai + @ai-sdk/openai-compatible) talks to the engine: generateText, streamText, generateObject, an error status", () => {
  assert.equal(R.aiText, R.plain);
  assert.ok(R.aiUsage.inputTokens > 0 && R.aiUsage.outputTokens > 0, JSON.stringify(R.aiUsage));
  assert.equal(R.aiStreamed, R.plain, "streamText with content parts");
  const ok = validate();
  for (const o of R.aiObject) assert.ok(ok(o), `${JSON.stringify(o)}: ${JSON.stringify(ok.errors)}`);
  assert.equal(R.aiError.status, 400);
});

/** Each call's arguments parse and validate (Ajv) against its tool's schema; returns the names. */
function checkCalls(calls, label) {
  assert.ok(calls?.length >= 1, `${label}: no call`);
  for (const c of calls) {
    assert.match(c.id, /^call_[A-Za-z0-9]{24}$/, label);
    assert.equal(c.type, "function", label);
    const schema = R.toolSchemas[c.function.name];
    assert.ok(schema, `${label}: ${c.function.name} is one of the tools`);
    const ok = new Ajv({ allErrors: true }).compile(schema);
    const args = JSON.parse(c.function.arguments);
    assert.ok(ok(args), `${label}: ${c.function.arguments}: ${JSON.stringify(ok.errors)}`);
  }
  return calls.map((c) => c.function.name);
}

test("tool calls: required and named calls validate against their schemas, greedy and sampled; streamed deltas make the whole call; auto; tool turns; refusals", () => {
  assert.equal(R.toolCalls.length, 6);
  for (const [i, t] of R.toolCalls.entries()) {
    assert.equal(t.finish, "tool_calls", JSON.stringify(t));
    assert.equal(t.message.content, null, "a call has no content");
    const names = checkCalls(t.message.tool_calls, `call ${i} (${t.choice})`);
    if (t.choice === "add") assert.deepEqual(names, ["add"], "a named tool is the one called");
  }
  // The stream: one chunk opens each call (index, id, type, name), the rest carry argument pieces.
  const streamed = [];
  for (const { delta } of R.toolChunks) {
    for (const d of delta?.tool_calls ?? []) {
      if (d.id) {
        assert.equal(d.index, streamed.length, "calls open in order");
        assert.equal(d.type, "function");
        streamed.push({ id: d.id, type: "function", function: { name: d.function.name, arguments: d.function.arguments } });
      } else {
        assert.deepEqual(Object.keys(d).sort(), ["function", "index"]);
        streamed[d.index].function.arguments += d.function.arguments;
      }
    }
  }
  assert.equal(R.toolChunks.at(-1).finish, "tool_calls");
  assert.ok(R.toolChunks.filter((c) => c.delta?.tool_calls).length > 2, "the arguments arrive in pieces");
  const greedy = R.toolCalls[0].message.tool_calls;
  assert.deepEqual(streamed.map((c) => c.function), greedy.map((c) => c.function), "the streamed call is the whole answer's");
  checkCalls(R.autoForced.message.tool_calls, "auto, opened by its first token");
  assert.equal(R.autoForced.finish, "tool_calls");
  assert.equal(R.autoText.message.tool_calls, undefined, "auto without a call's opening answers text");
  assert.equal(typeof R.autoText.message.content, "string");
  assert.equal(typeof R.afterTool.message.content, "string", "a conversation with a call and its answer goes on");
  assert.deepEqual(R.toolErrors.map((e) => e.name), ["TypeError", "TypeError", "TypeError", "TypeError"]);
  assert.match(R.toolErrors[0].message, /"nope", which is not one of `tools`/);
  assert.match(R.toolErrors[1].message, /call_x.*no assistant message before it called/);
});

test("tool calls through the openai package and the AI SDK", () => {
  assert.equal(R.sdkToolWhole.finish, "tool_calls");
  checkCalls(R.sdkToolWhole.message.tool_calls, "openai, whole");
  assert.equal(R.sdkToolStreamed.finish, "tool_calls");
  assert.deepEqual(R.sdkToolStreamed.calls.map((c) => ({ name: c.name, arguments: c.arguments })),
    R.sdkToolWhole.message.tool_calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })), "openai, streamed");
  assert.equal(R.sdkToolError.status, 400);
  assert.equal(R.aiToolFinish, "tool-calls");
  assert.ok(R.aiToolCalls.length >= 1);
  for (const c of R.aiToolCalls) {
    assert.equal(c.toolName, "add");
    const ok = new Ajv().compile(R.toolSchemas.add);
    assert.ok(ok(c.input), JSON.stringify(c));
  }
});

/** Cosine similarity of two vectors. */
function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** OpenAI's base64 embedding: little-endian float32s. */
const fromBase64 = (s) => Array.from(new Float32Array(new Uint8Array(Buffer.from(s, "base64")).buffer));

test("embeddings.create gives HF's vectors for a model Microsoft's converter wrote, in OpenAI's shape", () => {
  const b = R.embBatch;
  assert.equal(b.object, "list");
  assert.equal(b.model, "embedding.gguf");
  assert.equal(b.data.length, R.embExpected.length);
  const tokens = R.embExpected.reduce((n, e) => n + e.tokens, 0);
  assert.deepEqual(b.usage, { prompt_tokens: tokens, total_tokens: tokens });
  let exact = 0;
  b.data.forEach((d, i) => {
    assert.equal(d.object, "embedding");
    assert.equal(d.index, i);
    assert.equal(d.embedding.length, R.embExpected[i].embedding.length);
    // As tests/suite/embedding.rs: every input at 0.9995 (an int8 rounding on a tie may flip, which
    // in a 128-wide model costs up to 2.3e-4), and at least two at HF's vector to float noise.
    const cos = cosine(d.embedding, R.embExpected[i].embedding);
    assert.ok(cos >= 0.9995, `input ${i}: cosine ${cos}`);
    exact += cos >= 0.99999;
  });
  assert.ok(exact >= 2, `only ${exact} inputs at cosine 0.99999`);
  // One input alone is what it is in a batch: each is its own sequence.
  assert.deepEqual(R.embOne, b.data[1].embedding);
  assert.deepEqual(fromBase64(R.embBase64), b.data[1].embedding.map((x) => Math.fround(x)));
  assert.equal(R.embDims.length, 16);
  assert.ok(Math.abs(Math.hypot(...R.embDims) - 1) < 1e-5);
  assert.ok(cosine(R.embDims, b.data[1].embedding.slice(0, 16)) > 0.99999);
});

test("embeddings: over-long input, bad requests, the wrong kind of model and abort are typed errors", () => {
  assert.equal(R.embTruncated.prompt_tokens, R.embContext, "truncation: auto runs the context's worth");
  assert.deepEqual(R.embErrors.map((e) => [e?.name, e?.field ?? null]), [
    ["ContextFullError", null],
    ["TypeError", null],
    ["UnsupportedFieldError", "input"],
    ["TypeError", null],
    ["TypeError", null],
    ["RangeError", null],
    ["UnsupportedFieldError", "stream"],
    ["ModelKindError", null],
    ["ModelKindError", null],
  ]);
  assert.match(R.embErrors[7].message, /embedding model/);
  assert.match(R.embErrors[8].message, /not an embedding model/);
  assert.equal(R.embAborted?.name, "AbortError");
  assert.deepEqual(R.embAfterAbort, R.embBatch.data[1].embedding);
});

test("the openai package and the AI SDK embed through createFetch", () => {
  const want = R.embBatch.data.slice(0, 3).map((d) => d.embedding.map((x) => Math.fround(x)));
  // The openai package asks for base64 and decodes it to the same float32 values.
  assert.deepEqual(R.sdkEmb.map((e) => e.map((x) => Math.fround(x))), want);
  assert.deepEqual(R.sdkEmbFloat, R.embBatch.data[1].embedding);
  assert.deepEqual(R.aiEmb.map((e) => e.map((x) => Math.fround(x))), want);
  assert.deepEqual(R.aiEmbOne, R.embBatch.data[1].embedding);
  assert.ok(R.aiEmbUsage.tokens > 0);
  assert.equal(R.sdkEmbOfChatModel.status, 400);
  assert.equal(R.sdkEmbOfChatModel.code, "model_not_supported");
  assert.equal(R.sdkChatOfEmbModel.status, 400);
  assert.equal(R.sdkChatOfEmbModel.code, "model_not_supported");
});
