// OpenAI's text completions (`completions.create`): a raw prompt in, text out, in the legacy shape
// (`object: "text_completion"`, `choices[].text`, logprobs as parallel arrays). It runs the same
// generation as a chat request with `prompt`; this module only reshapes its chunks.

const completionId = () => `cmpl-${Math.random().toString(36).slice(2)}`;

/** The legacy logprobs of some tokens: { tokens, token_logprobs, top_logprobs, text_offset }. */
function legacyLogprobs(entries, offset) {
  const out = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const e of entries) {
    out.tokens.push(e.token);
    out.token_logprobs.push(e.logprob);
    out.top_logprobs.push(Object.fromEntries((e.top_logprobs ?? []).map((t) => [t.token, t.logprob])));
    out.text_offset.push(offset);
    offset += e.token.length;
  }
  return out;
}

/**
 * Text completion chunks from chat completion chunks. With `echo`, the prompt comes first (in the
 * first chunk). `wantLogprobs` gives each chunk its tokens' legacy logprobs.
 */
export async function* textChunks(chatChunks, { prompt, echo, wantLogprobs, model }) {
  const base = { id: completionId(), object: "text_completion", created: Math.floor(Date.now() / 1000), model };
  let offset = 0;
  let first = true;
  for await (const chunk of chatChunks) {
    if (!chunk.choices.length) {
      yield { ...base, choices: [], usage: chunk.usage };
      continue;
    }
    const c = chunk.choices[0];
    let text = c.delta.content ?? "";
    if (first) {
      first = false;
      if (echo) text = prompt + text;
      // The role chunk a chat stream starts with has no text of its own.
      if (!text && c.finish_reason == null) continue;
    }
    const entries = c.logprobs?.content ?? [];
    const logprobs = wantLogprobs ? legacyLogprobs(entries, offset) : null;
    offset += text.length;
    yield { ...base, choices: [{ text, index: 0, logprobs, finish_reason: c.finish_reason }] };
  }
}

/** One text completion from its chunks: the texts and logprobs joined, the last finish_reason. */
export function joinText(chunks, usage) {
  const [head] = chunks;
  let text = "";
  let finish = null;
  let logprobs = null;
  for (const ch of chunks) {
    const c = ch.choices[0];
    if (!c) continue;
    text += c.text;
    finish = c.finish_reason ?? finish;
    if (c.logprobs) {
      logprobs ??= { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
      for (const k of Object.keys(logprobs)) logprobs[k].push(...c.logprobs[k]);
    }
  }
  return { ...head, choices: [{ text, index: 0, logprobs, finish_reason: finish }], usage };
}

/** A whole text completion that was aborted: the text so far (after the prompt, with `echo`). */
export function abortedText(model, text, usage) {
  const base = { id: completionId(), object: "text_completion", created: Math.floor(Date.now() / 1000), model };
  return { ...base, choices: [{ text, index: 0, logprobs: null, finish_reason: "abort" }], usage };
}
