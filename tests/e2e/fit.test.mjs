// The package's context fitting (pkg/src/fit.js) against its definition, written the slow way: drop
// the oldest turn up to the next user message until the prompt fits. The bisection must pick the same
// cut on random chats (any count that only shrinks when turns are dropped), and the browser test
// (tests/e2e/sdk.test.mjs) checks it on the real tokenizer and template.
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerReserve, dropToFit } from "../../pkg/src/fit.js";

async function byDefinition(messages, contextLength, reserve, count) {
  const sys = messages.findIndex((m) => m.role !== "system");
  if (sys < 0) return 0;
  const head = messages.slice(0, sys);
  const turns = messages.slice(sys);
  let start = 0;
  for (;;) {
    if ((await count([...head, ...turns.slice(start)])) <= contextLength - reserve) return start;
    const next = turns.findIndex((m, i) => i > start && m.role === "user");
    if (next < 0) return start;
    start = next;
  }
}

test("dropToFit drops the fewest whole turns, as the definition does, on 3000 random chats", async () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let counts = 0;
  const count = async (ms) => {
    counts++;
    return ms.reduce((n, m) => n + 4 + m.content.length, 1);
  };
  let dropped = 0;
  for (let t = 0; t < 3000; t++) {
    const ms = [];
    for (let s = Math.floor(rand() * 3); s > 0; s--) ms.push({ role: "system", content: "s".repeat(Math.floor(rand() * 20)) });
    for (let i = 1 + Math.floor(rand() * 30); i > 0; i--) ms.push({ role: rand() < 0.55 ? "user" : "assistant", content: "w".repeat(Math.floor(rand() * 40)) });
    const ctx = 16 + Math.floor(rand() * 400);
    const reserve = answerReserve(ctx, Math.floor(rand() * 64));
    const got = await dropToFit(ms, ctx, reserve, count);
    assert.equal(got, await byDefinition(ms, ctx, reserve, count), JSON.stringify({ ms, ctx, reserve }));
    dropped += got > 0;
  }
  assert.ok(dropped > 500, `the random chats exercise dropping (${dropped} of 3000)`);
});

test("the answer's reserve is max_tokens, at most half the context", () => {
  assert.equal(answerReserve(256, 32), 32);
  assert.equal(answerReserve(256, 256), 128);
});
