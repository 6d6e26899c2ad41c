// What a request may hold, checked before it goes to the worker: the fields that change the answer
// (passed on, the engine checks their ranges), the fields that change nothing here (accepted and
// dropped, so that SDK code written for OpenAI runs unchanged), and everything else, refused with an
// UnsupportedFieldError that names it: a caller who asks for `n: 3` or an image must learn it got
// neither.
import { UnsupportedFieldError } from "./errors.js";

/** Fields `chat.completions.create` honours. */
const CHAT_FIELDS = new Set([
  "messages", "prompt", "stream", "stream_options", "signal", "model", "n", "truncation",
  "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
  "repetition_penalty", "frequency_penalty", "presence_penalty", "logit_bias", "seed", "stop",
  "logprobs", "top_logprobs", "response_format", "ignore_eos",
  "tools", "tool_choice", "parallel_tool_calls",
]);

/** Fields `completions.create` honours (OpenAI's legacy text completions, plus our sampling extras). */
const TEXT_FIELDS = new Set([
  "prompt", "stream", "stream_options", "signal", "model", "n", "best_of", "echo", "suffix",
  "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
  "frequency_penalty", "presence_penalty", "logit_bias", "seed", "stop", "logprobs", "ignore_eos",
]);

/**
 * Fields that change nothing about the output, accepted and dropped. Each is about OpenAI's service,
 * not the model's answer: who asks (`user`, `safety_identifier`), bookkeeping (`metadata`, `store:
 * false`), scheduling (`service_tier`) and its prompt cache (`prompt_cache_key`; the engine reuses
 * the last prompt's prefix anyway). `store: true` asks OpenAI to keep the answer, which nothing
 * here does, so it is refused; so is every field that would change the answer.
 */
export const IGNORED_FIELDS = Object.freeze(["user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"]);
const IGNORED = new Set(IGNORED_FIELDS);

/** `stream_options` keys: `include_usage` is honoured; `include_obfuscation` pads chunks against network side channels, which a tab does not have. */
const STREAM_OPTIONS = new Set(["include_usage", "include_obfuscation"]);

/** Message fields: what the chat template reads. */
const MESSAGE_FIELDS = new Set(["role", "content", "tool_calls", "tool_call_id"]);

/** The engine's default answer length for chat; text completions default to OpenAI's 16. */
export const TEXT_DEFAULT_MAX_TOKENS = 16;

function checkCommon(req, fields, what) {
  if (req === null || typeof req !== "object") throw new TypeError(`${what} needs a request object`);
  for (const field of Object.keys(req)) {
    if (req[field] === undefined || req[field] === null) continue;
    if (IGNORED.has(field)) continue;
    if (!fields.has(field)) throw new UnsupportedFieldError(field);
  }
  if (req.store === true) throw new UnsupportedFieldError("store", "`store: true` asks the server to keep the answer; bitnet-web keeps nothing. Leave it out or set it to false.");
  if (req.n != null && req.n !== 1) throw new UnsupportedFieldError("n", "Only `n: 1` is supported: bitnet-web generates one choice per request.");
  if (req.stream_options != null) {
    if (!req.stream) throw new UnsupportedFieldError("stream_options", "`stream_options` needs `stream: true`.");
    for (const k of Object.keys(req.stream_options)) {
      if (!STREAM_OPTIONS.has(k)) throw new UnsupportedFieldError(`stream_options.${k}`);
    }
  }
}

/** What goes to the worker: the honoured fields, without the ones the package itself handles. */
function passOn(req, handledHere) {
  const out = {};
  for (const [k, v] of Object.entries(req)) {
    if (v === undefined || v === null || IGNORED.has(k) || handledHere.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/**
 * A message's text. `content` is a string, or OpenAI's array of content parts: text parts are
 * concatenated with nothing between them, as HF's multimodal chat templates (Qwen2-VL, Gemma 3)
 * concatenate a message's text items; any other part (an image, audio, a file, a refusal) is refused,
 * naming its type, since the models here read text only.
 */
export function messageText(content, at) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) throw new TypeError(`\`${at}.content\` must be a string or an array of content parts`);
  let text = "";
  content.forEach((part, j) => {
    if (part === null || typeof part !== "object") throw new TypeError(`\`${at}.content[${j}]\` must be a content part object`);
    if (part.type !== "text") {
      throw new UnsupportedFieldError(`${at}.content[${j}]`, `\`${at}.content[${j}]\` is a ${JSON.stringify(part.type)} part; bitnet-web's models read text only, so only "text" parts are supported.`);
    }
    if (typeof part.text !== "string") throw new TypeError(`\`${at}.content[${j}].text\` must be a string`);
    text += part.text;
  });
  return text;
}

/** The messages as the worker takes them: `{ role, content }` with content as a string. */
export function plainMessages(messages) {
  if (!Array.isArray(messages)) throw new TypeError("`messages` must be an array");
  return messages.map((m, i) => {
    const at = `messages[${i}]`;
    if (m === null || typeof m !== "object") throw new TypeError(`\`${at}\` must be a message object`);
    for (const k of Object.keys(m)) {
      if (m[k] !== undefined && m[k] !== null && !MESSAGE_FIELDS.has(k)) throw new UnsupportedFieldError(`${at}.${k}`);
    }
    // An assistant's calls may come with `content: null`, as OpenAI sends them.
    const calls = m.tool_calls ?? undefined;
    const content = m.content == null && calls ? "" : messageText(m.content, at);
    return { role: m.role, content, ...(calls ? { tool_calls: calls } : {}), ...(m.tool_call_id != null ? { tool_call_id: m.tool_call_id } : {}) };
  });
}

/** Checks a chat request; returns what goes to the worker (the engine checks the ranges). */
export function chatRequest(req) {
  checkCommon(req, CHAT_FIELDS, "chat.completions.create");
  if (req.max_tokens != null && req.max_completion_tokens != null) {
    throw new TypeError("Give `max_tokens` or `max_completion_tokens`, not both.");
  }
  if (!req.messages === !req.prompt) throw new TypeError("A request needs either `messages` or `prompt`.");
  if (req.truncation != null && !["auto", "disabled"].includes(req.truncation)) {
    throw new TypeError(`\`truncation\` must be "auto" or "disabled", not ${JSON.stringify(req.truncation)}`);
  }
  if (req.truncation === "auto" && !req.messages) throw new TypeError("`truncation: \"auto\"` drops old messages, so it needs `messages`.");
  const out = passOn(req, ["stream", "stream_options", "signal", "model", "n", "max_completion_tokens", "truncation"]);
  if (req.max_completion_tokens != null) out.max_tokens = req.max_completion_tokens;
  if (out.messages) out.messages = plainMessages(out.messages);
  return out;
}

/**
 * Checks a text completion request (`completions.create`); returns what goes to the worker. The
 * legacy `logprobs` is a number (0-5 alternatives per token); `echo` puts the prompt before the
 * answer. Several prompts, token-id prompts, `suffix` and `best_of` > 1 are refused.
 */
export function textRequest(req) {
  checkCommon(req, TEXT_FIELDS, "completions.create");
  let prompt = req.prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === "string") prompt = prompt[0];
  if (typeof prompt !== "string") {
    throw new UnsupportedFieldError("prompt", "`prompt` must be one string (bitnet-web runs one prompt per request, as text).");
  }
  if (req.suffix != null && req.suffix !== "") throw new UnsupportedFieldError("suffix", "`suffix` (fill in the middle) is not supported by these models.");
  if (req.best_of != null && req.best_of !== 1) throw new UnsupportedFieldError("best_of", "Only `best_of: 1` is supported.");
  if (req.logprobs != null && !(Number.isInteger(req.logprobs) && req.logprobs >= 0 && req.logprobs <= 5)) {
    throw new RangeError("`logprobs` must be an integer from 0 to 5 (alternatives per token)");
  }
  if (req.echo != null && typeof req.echo !== "boolean") throw new TypeError("`echo` must be true or false");
  if (req.echo && req.logprobs != null) {
    throw new UnsupportedFieldError("echo", "`echo` with `logprobs` would need the prompt's log-probabilities, which bitnet-web does not compute; ask for one or the other.");
  }
  const out = passOn(req, ["stream", "stream_options", "signal", "model", "n", "best_of", "echo", "suffix", "logprobs"]);
  out.prompt = prompt;
  out.max_tokens ??= TEXT_DEFAULT_MAX_TOKENS;
  if (req.logprobs != null) {
    out.logprobs = true;
    out.top_logprobs = req.logprobs;
  }
  return out;
}
