// The semantic-search page (www/search.html) in headless Chromium, as a person uses it: choose an
// embedding model file (the tiny BitNet-embedding that Microsoft's converter wrote,
// tests/fixtures/embedding), paste texts, index them, search. Expected values come from the
// definition: a text searched for as it is (no instruction) embeds to its own vector, so it ranks
// first with a score of 1; and nothing the user typed leaves the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ROOT, openBrowser, screenshotPath } from "./browser.mjs";

const MODEL = path.join(ROOT, "tests/fixtures/embedding/qwen3_emb.i2_s.gguf");
const TEXTS = [
  "BitNet b1.58 stores every weight as -1, 0 or +1.",
  "The recipe needs three eggs, flour and a pinch of salt.",
  "WebAssembly runs compiled code in the browser at near-native speed.",
  "Le chat dort sur le canapé depuis ce matin.",
  "Tokyo is the capital of Japan.",
  "A private search index: these words stay on this device. SECRET-7f3a",
];

let b;
before(async () => { b = await openBrowser(); });
after(async () => { await b?.close(); });

const statusText = (page) => page.evaluate(() => document.getElementById("status").textContent);

test("texts are indexed and found by meaning in the worker, and nothing is sent anywhere", async () => {
  const { page, base, requests } = b;
  const sent = [];
  page.on("request", (r) => sent.push({ method: r.method(), url: r.url(), body: r.postData() }));
  await page.goto(base + "search.html");
  await page.setInputFiles("#file", MODEL);
  await page.click("#load");
  await page.waitForFunction(() => /^Ready/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  await page.fill("#docs", TEXTS.join("\n"));
  await page.click("#index");
  await page.waitForFunction(() => /^Indexed \d+ texts in/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  assert.match(await statusText(page), new RegExp(`^Indexed ${TEXTS.length} texts in`));

  for (const [i, text] of TEXTS.entries()) {
    await page.uncheck("#instruct");
    await page.fill("#query", text);
    await page.click("#go");
    await page.waitForFunction((t) => document.querySelector("#results li")?.textContent.endsWith(t) && document.querySelectorAll("#results li").length === 6, text, { timeout: 30000 })
      .catch(() => {});
    const top = await page.evaluate(() => [...document.querySelectorAll("#results li")].map((li) => ({ score: Number(li.querySelector(".score").textContent), text: li.textContent })));
    assert.equal(top.length, TEXTS.length);
    assert.ok(top[0].text.endsWith(text), `text ${i} is not its own best match: ${JSON.stringify(top)}`);
    assert.ok(Math.abs(top[0].score - 1) < 1e-3, `score ${top[0].score}`);
    assert.ok(top.every((r, j) => j === 0 || r.score <= top[j - 1].score), "ranked by score");
  }
  // With the model card's instruction the query is another text: still a ranking of all six.
  await page.check("#instruct");
  await page.fill("#query", "capital city of Japan");
  await page.click("#go");
  await page.waitForFunction(() => document.querySelectorAll("#results li").length === 6, null, { timeout: 30000 });
  await page.screenshot({ path: screenshotPath("search.png"), fullPage: true });

  // The page fetched its own files only, with GETs: the texts went to the worker and nowhere else.
  const own = new URL(base).origin;
  assert.ok(sent.length > 0);
  for (const r of sent) {
    assert.equal(r.method, "GET", `${r.method} ${r.url}`);
    assert.ok(r.url.startsWith(own) || r.url.startsWith("blob:"), r.url);
    assert.ok(!decodeURIComponent(r.url).includes("SECRET-7f3a") && !(r.body ?? "").includes("SECRET-7f3a"), r.url);
  }
  assert.ok(requests.every((r) => !r.path.includes("SECRET")));
});

test("cancelling an indexing keeps what was indexed before, and a chat model is refused with a message", async () => {
  const { page } = b;
  await page.fill("#docs", Array.from({ length: 400 }, (_, i) => `passage ${i}: ${TEXTS[i % TEXTS.length]}`).join("\n"));
  await page.click("#index");
  await page.waitForFunction(() => /^Indexed \d+ of/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  await page.click("#cancel");
  await page.waitForFunction(() => /cancelled/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  assert.match(await statusText(page), new RegExp(`Indexing cancelled; ${TEXTS.length} texts stay indexed`));

  await page.setInputFiles("#file", path.join(ROOT, "www/models/bitnet-tiny-chat.i2_s.gguf"));
  await page.click("#load");
  await page.waitForFunction(() => /^Ready/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  await page.fill("#docs", "one text");
  await page.click("#index");
  await page.waitForFunction(() => /^Indexing failed/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  assert.match(await statusText(page), /not an embedding model/);
});
