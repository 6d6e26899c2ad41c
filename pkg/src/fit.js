// Context fitting: which old turns a chat drops so that its prompt and the answer fit the context
// window (`truncation: "auto"`, as OpenAI's Responses API names it). Turns drop whole and oldest
// first, the system prompt always stays, and the prompt always starts with a user message. The
// embedded model's context is 256 tokens, so a chat fills it in a few turns; the page slides its chats
// with this, and so can any app.

/**
 * Room kept for the answer: `max_tokens`, but at most half the context (a long answer would
 * otherwise leave room for no turn at all; it stops with finish_reason "length" when it is full).
 */
export const answerReserve = (contextLength, maxTokens) => Math.min(maxTokens, Math.floor(contextLength / 2));

/**
 * How many messages at the front of `messages` (after the leading system messages) to drop so that
 * the prompt takes at most `contextLength − reserve` tokens, counted by `count(messages)`: the
 * fewest, dropping up to a user message. Dropping turns only shortens a prompt, so the cut is found
 * by bisection over the user messages (a 1,000-turn chat takes about 10 counts, not 500). If even
 * the last user turn does not fit, everything before it is dropped and the engine's
 * ContextFullError says the rest.
 */
export async function dropToFit(messages, contextLength, reserve, count) {
  const sys = messages.findIndex((m) => m.role !== "system");
  if (sys < 0) return 0;
  const head = messages.slice(0, sys);
  const turns = messages.slice(sys);
  const room = contextLength - reserve;
  const fits = async (start) => (await count([...head, ...turns.slice(start)])) <= room;
  if (await fits(0)) return 0;
  // Where the kept turns may start: each user message after the first turn.
  const cuts = turns.flatMap((m, i) => (i > 0 && m.role === "user" ? [i] : []));
  if (!cuts.length) return 0;
  let lo = 0;
  let hi = cuts.length - 1;
  if (!(await fits(cuts[hi]))) return cuts[hi];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (await fits(cuts[mid])) hi = mid;
    else lo = mid + 1;
  }
  return cuts[lo];
}
