// Long chats slide instead of stopping. The embedded model's context is 256 tokens, so a chat fills
// it in a few turns; when the prompt no longer leaves room for an answer, the oldest turns drop out
// (the system prompt always stays) and the page marks where the model's memory now begins. Users
// who prefer the old behaviour choose "stop with an error" in the settings.

/**
 * The index of the first message that still goes to the model, for a prompt made of `system` and
 * `messages` (ending with the user's new message), leaving `reserve` tokens for the answer.
 * Turns drop whole, so the prompt always starts with a user message. If even the last message does
 * not fit, it is returned alone and the engine's ContextFullError says so.
 */
export async function firstInContext(engine, system, messages, reserve) {
  const sys = system ? [{ role: "system", content: system }] : [];
  const room = engine.contextLength - reserve;
  let start = 0;
  for (;;) {
    const n = await engine.countTokens([...sys, ...messages.slice(start)]);
    if (n <= room) return start;
    const next = messages.findIndex((m, i) => i > start && m.role === "user");
    if (next < 0) return start;
    start = next;
  }
}

/** Room kept for the answer: max_tokens, but at most half the context. */
export const answerReserve = (contextLength, maxTokens) => Math.min(maxTokens, Math.floor(contextLength / 2));
