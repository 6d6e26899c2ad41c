// The chat page as a place people keep open (issue 18), in headless Chromium: an honest first run,
// Markdown that never becomes live HTML, saved conversations, per-message actions, safe loading,
// sliding context, settings, offline and install, accessibility (axe-core) and the screenshots of
// light, dark and phone.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { openBrowser, screenshotPath, ROOT } from "./browser.mjs";
import { SYNTH_DIR } from "./synth.mjs";

const HOSTILE = path.join(SYNTH_DIR, "bitnet-tiny-chat-hostile.i2_s.gguf");
const TQ2 = path.join(ROOT, "www/models/bitnet-tiny-chat.tq2_0.gguf");
const RECOMMENDED = "https://huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf";

let b;
before(async () => {
  // A model whose vocabulary is <script>, <img onerror>, <iframe>, <svg onload>, javascript: links and
  // Markdown (tests/fixtures/make_hostile_vocab.py, through gguf-py): every answer it gives is hostile.
  if (!fs.existsSync(HOSTILE)) {
    fs.mkdirSync(path.dirname(HOSTILE), { recursive: true });
    execFileSync(path.join(ROOT, ".venv/bin/python"), ["tests/fixtures/make_hostile_vocab.py", "www/models/bitnet-tiny-chat.i2_s.gguf", HOSTILE + ".part"], { cwd: ROOT, stdio: "inherit" });
    fs.renameSync(HOSTILE + ".part", HOSTILE);
  }
  b = await openBrowser();
  await b.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: b.base.slice(0, -1) });
  await b.page.addInitScript(() => {
    window.__csp = [];
    addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
});
after(async () => { await b?.close(); });

const page = () => b.page;
const state = () => page().evaluate(() => document.body.dataset.state);
const waitState = (states, timeout = 60000) =>
  page().waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });
const text = (sel) => page().locator(sel).innerText();

async function open(query = "") {
  await page().goto(b.base + query);
  await waitState(["ready", "error"]);
  assert.equal(await state(), "ready", await text("#error"));
}

/** Sets a settings field as a person would (input and change events fire). */
async function setting(id, value) {
  await page().evaluate(() => { document.getElementById("settings").open = true; });
  if (id === "on-full") await page().selectOption("#on-full", value);
  else await page().fill(`#${id}`, String(value));
  await page().dispatchEvent(`#${id}`, "change");
}

/** Sends a message and waits for its answer; resolves with the reply's Markdown source, text and meta. */
async function ask(message) {
  const n = await page().locator("#messages li.assistant").count();
  await page().fill("#input", message);
  await page().press("#input", "Enter");
  await page().waitForFunction((k) => document.querySelectorAll("#messages li.assistant").length > k, n);
  await waitState(["ready"]);
  return lastReply();
}

async function lastReply() {
  const li = page().locator("#messages li.assistant").last();
  return { body: await li.locator(".body").innerText(), meta: await li.locator(".meta").innerText() };
}

const conversations = () => page().locator("#conversation-list button").allInnerTexts();

test("first run: the page says the embedded model is a demo, and offers 2B4T with its size and time", async () => {
  await open();
  assert.equal(await page().locator("#first-run").isVisible(), true);
  const intro = await text("#first-run");
  assert.match(intro, /4 MB demo model/);
  assert.match(intro, /gets facts wrong/);
  assert.match(intro, /BitNet b1\.58 2B4T/);
  assert.match(intro, /about 1\.19 GB/);
  assert.match(intro, /about \d+ (s|min) at 100 Mbit\/s/);
  await page().screenshot({ path: screenshotPath("chat-first-run.png") });
});

test("Markdown renders, and a model made of <script> and onerror tokens never becomes live HTML", async () => {
  // The renderer on a fixed text first: formatting kept, HTML shown as text, scripts and handlers gone.
  const fixed = await page().evaluate(async () => {
    const { renderMarkdown } = await import("./markdown.js");
    const div = document.createElement("div");
    div.append(renderMarkdown("# T\n\n**b** *i* `x<y`\n\n```js\nif (a < b) {}\n```\n\n- one\n- two\n\n<script>window.__xss=1</script> <img src=x onerror=\"window.__xss=1\"> [l](javascript:window.__xss=1)\n\n<div onclick=x>d</div>"));
    const all = [...div.querySelectorAll("*")];
    return {
      html: div.innerHTML,
      text: div.textContent,
      tags: all.map((e) => e.tagName.toLowerCase()),
      unsafe: all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)).map((a) => a.name)),
    };
  });
  for (const t of ["h1", "strong", "em", "code", "pre", "ul", "li"]) assert.ok(fixed.tags.includes(t), `${t} in ${fixed.html}`);
  for (const t of ["script", "img", "div"]) assert.ok(!fixed.tags.includes(t), `no ${t}: ${fixed.html}`);
  assert.match(fixed.text, /<script>window.__xss=1<\/script>/);
  assert.match(fixed.text, /if \(a < b\)/);
  assert.deepEqual(fixed.unsafe, [], fixed.html);

  // Then the model's own output, streamed into the page.
  await page().setInputFiles("#model-file", HOSTILE);
  await page().waitForFunction(() => document.getElementById("stat-model").textContent.includes("hostile") && document.body.dataset.state === "ready");
  await setting("max-tokens", 64);
  await setting("temperature", 0);
  for (const q of ["Hello!", "Tell me a story.", "What is a cat?"]) await ask(q);
  await setting("temperature", 0.7);
  await setting("seed", 7);
  await ask("Hello!");
  await setting("seed", "");
  const seen = await page().evaluate(() => {
    const replies = [...document.querySelectorAll("#messages li.assistant .body")];
    const all = replies.flatMap((r) => [...r.querySelectorAll("*")]);
    return {
      text: replies.map((r) => r.textContent).join("\n"),
      tags: [...new Set(all.map((e) => e.tagName.toLowerCase()))],
      handlers: all.filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
      jsLinks: all.filter((e) => /^\s*javascript:/i.test(e.getAttribute("href") || "")).length,
      xss: window.__xss ?? null,
      csp: window.__csp,
    };
  });
  assert.match(seen.text, /<script>window.__xss=1<\/script>/, "the script tag shows as text");
  assert.match(seen.text, /onerror=/, "the handler shows as text");
  for (const t of ["script", "img", "iframe", "svg", "details", "b"]) assert.ok(!seen.tags.includes(t), `no live <${t}>: ${seen.tags}`);
  assert.ok(seen.tags.includes("li") && seen.tags.includes("code"), `Markdown rendered from the model: ${seen.tags}`);
  assert.equal(seen.handlers, 0);
  assert.equal(seen.jsLinks, 0);
  assert.equal(seen.xss, null);
  // The CSP would block an inline script anyway, so a blocked attempt counts as a failure too.
  assert.deepEqual(seen.csp, []);
  await page().screenshot({ path: screenshotPath("chat-hostile-markdown.png") });
});

test("conversations are saved, listed, reopened, renamed, exported as JSON and deleted", async () => {
  const hostile = await page().locator("#conversation-title").innerText();
  await page().click("#new-chat");
  assert.equal(await page().locator("#messages li").count(), 0);
  await setting("max-tokens", 24);
  await ask("Hi!");
  await page().waitForFunction(() => document.querySelectorAll("#conversation-list button").length >= 2);

  // A reload (the embedded model comes back) keeps both, newest first.
  await open();
  const listed = await conversations();
  assert.deepEqual(listed.slice(0, 2), ["Hi!", hostile]);
  await page().locator("#conversation-list button", { hasText: hostile }).click();
  await page().waitForFunction(() => document.querySelectorAll("#messages li.assistant").length >= 4);
  assert.match(await page().locator("#messages li.assistant .body").first().innerText(), /<script>/);

  // Rename, and the name survives a reload.
  await page().click("#rename");
  await page().fill("#rename-input", "Hostile vocabulary");
  await page().press("#rename-input", "Enter");
  assert.equal(await text("#conversation-title"), "Hostile vocabulary");
  await page().waitForFunction(() => [...document.querySelectorAll("#conversation-list button")].some((x) => x.textContent === "Hostile vocabulary"));
  await open();
  assert.ok((await conversations()).includes("Hostile vocabulary"));
  await page().locator("#conversation-list button", { hasText: "Hostile vocabulary" }).click();
  await page().waitForFunction(() => document.getElementById("conversation-title").textContent === "Hostile vocabulary");

  // Export: a versioned JSON file with every message.
  const [download] = await Promise.all([page().waitForEvent("download"), page().click("#export")]);
  const file = JSON.parse(fs.readFileSync(await download.path(), "utf8"));
  assert.equal(download.suggestedFilename(), "Hostile-vocabulary.json");
  assert.equal(file.format, "bitnet-web.conversation");
  assert.equal(file.version, 1);
  assert.equal(file.title, "Hostile vocabulary");
  assert.deepEqual(file.messages.map((m) => m.role), ["user", "assistant", "user", "assistant", "user", "assistant", "user", "assistant"]);
  assert.equal(file.messages[0].content, "Hello!");
  assert.match(file.messages[1].content, /<script>|onerror/);

  // Delete asks twice, then the conversation is gone, also after a reload.
  await page().click("#delete");
  assert.ok((await conversations()).includes("Hostile vocabulary"), "one click does not delete");
  await page().click("#delete");
  await page().waitForFunction(() => ![...document.querySelectorAll("#conversation-list button")].some((x) => x.textContent === "Hostile vocabulary"));
  await open();
  assert.ok(!(await conversations()).includes("Hostile vocabulary"));
});

test("per message: copy, regenerate (a seed repeats it), edit and resend", async () => {
  await page().click("#new-chat");
  await setting("max-tokens", 40);
  await setting("temperature", 1);
  await setting("seed", 11);
  const first = await ask("Tell me a story.");
  assert.match(first.meta, /[1-9]\d* tokens?/);

  // Copy puts the reply's text on the clipboard.
  await page().locator("#messages li.assistant").last().getByRole("button", { name: /Copy this reply/ }).click();
  const copied = await page().evaluate(() => navigator.clipboard.readText());
  assert.equal(copied.trim(), first.body.trim());

  // Regenerate replaces the reply; with the same seed it is the same text, and still one reply.
  await page().getByRole("button", { name: "Regenerate this reply" }).click();
  await page().waitForFunction(() => document.body.dataset.state === "generating" || document.querySelector("#messages li.assistant .meta")?.textContent);
  await waitState(["ready"]);
  assert.equal(await page().locator("#messages li.assistant").count(), 1);
  assert.equal((await lastReply()).body, first.body);

  // Top-k 1 is greedy: the same reply as temperature 0 (both without a repetition penalty).
  await setting("repetition-penalty", 1);
  await setting("temperature", 0);
  const greedy = await ask("Hello!");
  await setting("temperature", 1.5);
  await setting("top-k", 1);
  const topk = await ask("Hello!");
  assert.equal(topk.body, greedy.body);
  await setting("top-k", 40);
  await setting("repetition-penalty", 1.1);

  // The settings survive a reload.
  await open();
  await page().evaluate(() => { document.getElementById("settings").open = true; });
  assert.equal(await page().inputValue("#seed"), "11");
  assert.equal(await page().inputValue("#temperature"), "1.5");
  await setting("temperature", 0.7);
  await setting("seed", "");

  // Edit and resend: the question changes, what answered the old one is replaced by one new answer.
  await page().click("#new-chat");
  await ask("Hello!");
  await ask("How are you?");
  await page().locator("#messages li.user").first().getByRole("button", { name: "Edit this message" }).click();
  await page().fill("#messages li.user textarea.edit", "What is a cat?");
  await page().getByRole("button", { name: "Send the edited message" }).click();
  await page().waitForFunction(() => document.querySelectorAll("#messages li").length === 2 && document.querySelector("#messages li.assistant .meta")?.textContent);
  await waitState(["ready"]);
  assert.deepEqual(await page().locator("#messages li.user .body").allInnerTexts(), ["What is a cat?"]);
  assert.match((await lastReply()).meta, /[1-9]\d* tokens?/);
});

test("loading: Load is disabled while a download runs, Cancel stops it, and the previous model comes back", async () => {
  const url = new URL("faulty/stall/models/bitnet-tiny-chat.tq2_0.gguf", b.base).href;
  await page().check("input[name=source][value=url]");
  await page().fill("#model-url", url);
  await page().click("#load");
  await page().waitForFunction(() => document.getElementById("progress-bar").value >= 0.4);
  assert.equal(await page().locator("#load").isDisabled(), true);
  await page().click("#cancel-load");
  await page().waitForFunction(() => document.getElementById("stat-model").textContent.includes("bitnet-tiny-chat (") && document.body.dataset.state === "ready");
  assert.equal(await page().locator("#load").isDisabled(), false);
  assert.equal(await page().locator("#error").isHidden(), true);
  const kept = await page().evaluate(async () => (await (await import("./lib/index.js")).listCachedModels()).map((m) => m.url));
  assert.ok(!kept.includes(url), "nothing of the cancelled download was kept");
  assert.match((await ask("Hello!")).meta, /[1-9]\d* tokens?/);
});

test("loading another model while one answers stops the answer, leaves no worker behind, and chat goes on", async () => {
  await open("?ignore_eos=1");
  await setting("max-tokens", 4000);
  const idleWorkers = page().workers().length;
  await page().fill("#input", "Tell me a long story.");
  await page().press("#input", "Enter");
  await page().fill("#input", "And another.");
  await page().press("#input", "Enter");
  await page().waitForFunction(() => document.querySelector("#messages li.assistant .body")?.textContent.length > 20);
  await page().check("input[name=source][value=url]");
  await page().fill("#model-url", new URL("models/bitnet-tiny-chat.tq2_0.gguf", b.base).href);
  await page().click("#load");
  await page().waitForFunction(() => document.getElementById("stat-model").textContent.includes("tq2_0") && document.body.dataset.state === "ready");
  const metas = await page().locator("#messages li.assistant .meta").allInnerTexts();
  assert.equal(metas[0], "stopped");
  assert.match(metas[1], /not answered: the model changed/);
  // A terminated worker leaves playwright's list a moment later.
  for (let t = 0; page().workers().length > idleWorkers && t < 100; t++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(page().workers().length, idleWorkers, `workers: ${page().workers().map((w) => w.url())}`);
  await setting("max-tokens", 16);
  assert.match((await ask("Hello!")).meta, /[1-9]\d* tokens?/);
});

test("a second visit opens with the best model kept offline: 2B4T once it was downloaded", async () => {
  // The last model loaded (tq2_0, kept offline) reopens, and the demo notice is gone.
  await open();
  assert.match(await text("#stat-model"), /tq2_0/);
  assert.equal(await page().locator("#first-run").isHidden(), true);
  // The first run's button downloads the official file (served here by the test in its place) ...
  await page().evaluate(() => localStorage.removeItem("bitnet-web.lastModel"));
  await page().check("input[name=source][value=embedded]");
  await page().click("#load");
  await page().waitForFunction(() => !document.getElementById("first-run").hidden && document.body.dataset.state === "ready");
  const bytes = fs.readFileSync(TQ2);
  await b.context.route(RECOMMENDED, (route) => route.fulfill({ status: 200, body: bytes, headers: { "Content-Type": "application/octet-stream", "Content-Length": String(bytes.length), "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin" } }));
  await page().click("#get-recommended");
  await page().waitForFunction(() => document.getElementById("stat-model").textContent.includes("BitNet b1.58 2B4T (") && document.body.dataset.state === "ready", null, { timeout: 60000 });
  // ... and it is what the next visit opens, from the offline store.
  await b.context.unroute(RECOMMENDED);
  await open();
  assert.match(await text("#stat-model"), /ggml-model-i2_s\.gguf/);
});

test("long chats slide: the oldest turns drop out and the page marks where; or stop with an error if chosen", async () => {
  await open("?model=models/bitnet-tiny-chat.i2_s.gguf");
  await page().click("#new-chat");
  await setting("max-tokens", 32);
  await setting("on-full", "slide");
  const long = "Hello! How are you? Tell me a story. What is a cat? ".repeat(3).trim();
  for (let turn = 0; turn < 12 && !(await page().locator("#messages li.slid").count()); turn++) {
    assert.match((await ask(long)).meta, /[1-9]\d* tokens?/);
  }
  assert.equal(await page().locator("#messages li.slid").count(), 1, "a marker shows where the context starts");
  assert.match(await text("#messages li.slid"), /no longer fit in the model's context/);
  assert.ok(await page().locator("#messages li.out-of-context").count() >= 2);
  assert.match((await ask(long)).meta, /[1-9]\d* tokens?/, "the chat goes on");
  assert.equal(await page().locator("#error").isHidden(), true);
  await page().screenshot({ path: screenshotPath("chat-sliding.png") });

  await setting("on-full", "error");
  let failed = false;
  for (let turn = 0; turn < 8 && !failed; turn++) {
    await ask(long);
    failed = await page().locator("#error").isVisible();
  }
  assert.ok(failed, "in error mode a full context stops the chat");
  assert.match(await text("#error"), /longer than the model's context/);
  await setting("on-full", "slide");
});

test("offline badge, and a web app manifest that makes the page installable", async () => {
  await open();
  await b.context.setOffline(true);
  await page().waitForFunction(() => !document.getElementById("offline-badge").hidden);
  assert.match(await text("#offline-badge"), /Offline/);
  await page().screenshot({ path: screenshotPath("chat-offline.png") });
  await b.context.setOffline(false);
  await page().waitForFunction(() => document.getElementById("offline-badge").hidden);

  const manifest = await page().evaluate(async () => (await fetch(document.querySelector("link[rel=manifest]").href)).json());
  assert.equal(manifest.display, "standalone");
  assert.ok(manifest.icons.some((i) => i.sizes === "512x512") && manifest.icons.some((i) => i.sizes === "192x192"));
  // Chromium's own install check (what decides whether "Install app" is offered).
  const cdp = await b.context.newCDPSession(page());
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  assert.deepEqual(installabilityErrors, []);
  const { url, errors } = await cdp.send("Page.getAppManifest");
  assert.match(url, /manifest\.webmanifest$/);
  assert.deepEqual(errors, []);
});

test("accessibility: labelled messages, one announcement per reply, and no axe-core violations in light and dark", async () => {
  await page().click("#new-chat");
  await setting("max-tokens", 24);
  assert.equal(await page().locator("#messages").getAttribute("aria-live"), null, "the message list is not a live region");
  await page().evaluate(() => {
    window.__announced = [];
    new MutationObserver(() => window.__announced.push(document.getElementById("announcer").textContent))
      .observe(document.getElementById("announcer"), { childList: true, characterData: true, subtree: true });
  });
  const reply = await ask("Hello!");
  const announced = await page().evaluate(() => window.__announced);
  assert.equal(announced.length, 1, `one announcement: ${JSON.stringify(announced)}`);
  assert.equal(announced[0], `Assistant: ${reply.body}`);
  assert.deepEqual(await page().locator("#messages li .who").allInnerTexts(), ["You", "Assistant"]);

  const axe = fs.readFileSync(path.join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
  for (const scheme of ["light", "dark"]) {
    await page().emulateMedia({ colorScheme: scheme });
    await page().evaluate(() => { document.getElementById("settings").open = true; document.getElementById("cached").open = true; });
    await page().evaluate(axe);
    const violations = await page().evaluate(async () => (await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }))
      .violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`));
    assert.deepEqual(violations, [], `${scheme} theme`);
    await page().screenshot({ path: screenshotPath(`chat-${scheme}.png`), fullPage: true });
  }
  // The phone: a narrow viewport, no sideways scrolling, in both themes.
  await page().setViewportSize({ width: 390, height: 844 });
  for (const scheme of ["light", "dark"]) {
    await page().emulateMedia({ colorScheme: scheme });
    assert.ok(await page().evaluate(() => document.documentElement.scrollWidth <= 390));
    await page().screenshot({ path: screenshotPath(`chat-phone-${scheme}.png`) });
  }
  await page().setViewportSize({ width: 1280, height: 800 });
  await page().emulateMedia({ colorScheme: "light" });
});

// Models kept for later (issue 28): "Download for offline use" keeps the URL's model without
// switching to it, the storage line says where models are kept and how much room is left, and
// "Delete all" empties the store after asking. A second tab of the page that loads the model the
// first holds says so and can unload it there.
test("Download for offline use keeps a model without switching; storage used and available; Delete all; a second tab's notice", async () => {
  // The embedded model by name: a visit otherwise opens the model kept or loaded last (earlier tests').
  const embeddedUrl = b.base + "models/bitnet-tiny-chat.i2_s.gguf";
  await open("?model=" + encodeURIComponent(embeddedUrl));
  const before = await text("#stat-model");
  const url = b.base + "models/bitnet-tiny-chat.tq2_0.gguf?offline";
  await page().fill("#model-url", url);
  await page().click("#keep-offline");
  await page().waitForFunction(() => /^Kept |Cancelled|could not|storage/.test(document.getElementById("keep-text").textContent), null, { timeout: 60000 });
  assert.match(await text("#keep-text"), /^Kept bitnet-tiny-chat\.tq2_0\.gguf\?offline \(3\.9 MB\): it loads with no network from now on\.$/);
  assert.equal(await text("#stat-model"), before, "the loaded model did not change");
  assert.equal(await state(), "ready");
  await page().evaluate(() => { document.getElementById("cached").open = true; });
  await page().waitForFunction(() => document.getElementById("cached-list").textContent.includes("tq2_0.gguf?offline"));
  assert.match(await text("#storage-status"), /^Kept in the browser's private file system \(OPFS\) · [\d.]+ MB used, [\d.]+ (MB|GB) available( · (protected from eviction|not protected: .*))?$/);
  const kept = await page().evaluate(async (u) => (await import("./lib/index.js")).hasModel(u), url);
  assert.equal(kept, true);

  // A second tab loads the model this one holds: it says so, and unloads it there when asked.
  const second = await b.context.newPage();
  await second.goto(b.base + "?model=" + encodeURIComponent(embeddedUrl));
  await second.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state), null, { timeout: 60000 });
  await second.waitForFunction(() => !document.getElementById("other-tabs").hidden, null, { timeout: 10000 });
  assert.match(await second.locator("#other-tabs-text").innerText(), /^Another tab of this page holds this model too \([\d.]+ MB of memory there\)/);
  await second.click("#unload-here");
  await second.waitForFunction(() => document.body.dataset.state === "idle");
  assert.match(await second.locator("#stat-model").innerText(), /No model loaded here/);
  assert.equal(await second.locator("#input").isDisabled(), true);
  await second.close();

  // Delete all asks first; declining keeps everything.
  page().once("dialog", (d) => d.dismiss());
  await page().click("#delete-all");
  await page().waitForTimeout(300);
  assert.match(await text("#cached-list"), /tq2_0\.gguf\?offline/);
  page().once("dialog", (d) => d.accept());
  await page().click("#delete-all");
  await page().waitForFunction(() => /None yet/.test(document.getElementById("cached-list").textContent));
  assert.equal(await page().evaluate(async (u) => (await import("./lib/index.js")).hasModel(u), url), false);
  assert.equal(await state(), "ready", "the loaded model still answers");
});
