// The chat page: engine wiring (loading, answering, stopping) and the conversation view. All model
// work happens in the engine's Worker (lib/worker.js) behind the npm package's API (lib/index.js);
// the other concerns have their own modules: conversations.js (saved chats), markdown.js (safe
// rendering), settings.js (sampling controls), catalog.js (which model to offer and to open). Long
// chats slide through the package's `truncation: "auto"`.
import { createEngine, listCachedModels, deleteCachedModel, downloadModel, clearCachedModels, storageInfo, otherTabsEngines } from "./lib/index.js";
import * as saved from "./conversations.js";
import { renderMarkdown } from "./markdown.js";
import { bindSettings, device, fileOptions, sampling, systemPrompt, onContextFull } from "./settings.js";
import { RECOMMENDED, catalog, checkFit, downloadTime, bestKept } from "./catalog.js";
import { bindBenchmark } from "./benchmark.js";

const $ = (id) => document.getElementById(id);
const MB = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`);
const seconds = (s) => (s == null || !isFinite(s) ? "" : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`);
const LAST_MODEL = "bitnet-web.lastModel";
const FIRST_RUN_DONE = "bitnet-web.firstRunDismissed";
/** Testing and benchmarking options from the address: ?ctx=4096&ignore_eos=1&model=URL */
const options = new URLSearchParams(location.search);

let engine = null;
let loaded = null; // { model, label, sha256 } of the engine's model
let loading = null; // AbortController of the load in progress
let embedded = null; // { name, url, size, sha256 } from models/models.json
let conv = saved.newConversation(systemPrompt());
let chain = Promise.resolve(); // answers run one after another, never interleaved
let current = null; // AbortController of the running answer
let pending = 0; // answers queued or running
let epoch = 0; // bumps when the model or the conversation changes: queued answers of the old one are dropped
const views = new WeakMap(); // message → its <li>

// ---- page state

function setState(state) {
  document.body.dataset.state = state;
  const ready = !!engine;
  $("input").disabled = !ready;
  $("send").disabled = !ready;
  $("stop").disabled = !current;
  $("load").disabled = !!loading;
  $("model-file").disabled = !!loading;
  $("get-recommended").disabled = !!loading;
  const busy = pending > 0 || !ready;
  for (const b of document.querySelectorAll("#messages button[data-needs-idle]")) b.disabled = busy;
}
const idleState = () => setState(loading ? "loading" : pending ? "generating" : engine ? "ready" : "idle");

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function showWarning(message) {
  $("warning").textContent = message;
  $("warning").hidden = !message;
}

/** Turns an error into words a person can act on. */
function explain(e) {
  const tips = {
    GgufError: "The file is not a usable GGUF model (corrupt, truncated or not a model).",
    UnsupportedModelError: "This model cannot run here.",
    OutOfMemoryError: "The model is too large for this browser tab.",
    DownloadError: "The model could not be downloaded.",
    QuotaError: "This browser's storage for the page is too small for the model.",
    ContextFullError: onContextFull() === "error"
      ? "The conversation is longer than the model's context: start a new conversation, or let old turns slide out (Settings)."
      : "This message alone is longer than the model's context: shorten it.",
    EngineCrashedError: "The engine crashed and was restarted; send the message again.",
  };
  return `${tips[e.name] ? tips[e.name] + " " : ""}${e.message}`;
}

// ---- loading a model

function onProgress(p) {
  if (p.phase === "warning") return showWarning(p.message);
  // The weights are in: what follows `createEngine` resolving says so.
  if (p.phase === "ready") return;
  if (p.phase === "header") {
    $("stat-model").textContent = `${p.header.name || p.header.architecture}: ${p.header.nLayer} layers, ${MB(p.header.fileLength)}`;
    return;
  }
  $("progress").hidden = false;
  const total = p.total || 0;
  $("progress-bar").value = total ? p.loaded / total : 0;
  const verb = p.phase === "download" ? "Downloading" : p.phase === "cache" ? "Loading from offline storage" : "Reading file";
  const rate = p.rate ? ` · ${MB(p.rate)}/s` : "";
  const eta = p.eta != null ? ` · ${seconds(p.eta)} left` : "";
  $("progress-text").textContent = `${verb}: ${MB(p.loaded)}${total ? ` of ${MB(total)}` : ""}${rate}${eta}`;
  window.__progress?.push({ phase: p.phase, loaded: p.loaded, total });
}

/**
 * Loads a model in place of the current one. A running answer stops and queued ones are dropped
 * first, and the old worker is unloaded, so nothing is orphaned; a second load cancels the first.
 */
async function loadModel(model, label, { sha256 } = {}) {
  showError("");
  showWarning("");
  loading?.abort();
  const mine = (loading = new AbortController());
  const previous = loaded;
  dropQueued("the model changed");
  const old = engine;
  engine = null;
  setState("loading");
  await old?.unload().catch(() => {});
  $("stat-model").textContent = `Loading ${label}…`;
  $("progress").hidden = false;
  $("cancel-load").hidden = false;
  $("progress-bar").value = 0;
  $("progress-text").textContent = `Starting ${label}…`;
  try {
    const ctx = Number(options.get("ctx")) || undefined;
    // "if-room": a model the storage cannot hold still loads, without being kept, and says why.
    const e = await createEngine({ model, onProgress, contextLength: ctx, sha256, device: device(), cache: "if-room", signal: mine.signal, ...fileOptions() });
    if (mine !== loading) return void e.unload();
    engine = e;
    loaded = { model, label, sha256 };
    $("progress-bar").value = 1;
    $("progress-text").textContent = `Loaded ${label}`;
    $("stat-model").textContent = `${label} (${engine.header.architecture}, ${MB(engine.header.fileLength)}, context ${engine.contextLength})`;
    showBackend(engine);
    showOtherTabs();
    if (typeof model === "string") try { localStorage.setItem(LAST_MODEL, absolute(model)); } catch { /* storage off */ }
    showFirstRun();
  } catch (e) {
    if (mine !== loading) return;
    $("stat-model").textContent = "No model loaded";
    if (e.name === "AbortError") {
      $("progress-text").textContent = `Cancelled ${label}: nothing of it was kept.`;
      // Back to the model the page had, when it can come back without a download.
      const back = previous && previous.model !== model && (previous.model instanceof Blob || (await isKept(previous.model)));
      if (back && mine === loading) {
        loading = null;
        return loadModel(previous.model, previous.label, previous);
      }
    } else {
      showError(explain(e));
    }
  } finally {
    if (mine === loading) {
      loading = null;
      $("cancel-load").hidden = true;
      idleState();
      if (!engine && document.body.dataset.state === "idle" && !$("error").hidden) setState("error");
    }
  }
  refreshCached();
}

/** The footer's backend: "webgpu · <adapter>" or "cpu · <kernel> · N threads", and why not the GPU. */
function showBackend(eng) {
  const i = eng.info;
  $("stat-backend").textContent = i.backend === "webgpu"
    ? `webgpu · ${i.adapter}`
    : `cpu · ${i.kernel} · ${i.threads} thread${i.threads > 1 ? "s" : ""}`;
  $("stat-backend").title = [i.backendNote, i.threadsNote].filter(Boolean).join("\n");
}

const absolute = (url) => new URL(url, location.href).href;

/**
 * Every tab holds its own copy of its model: when another tab of this page holds the model this
 * one does, say so and offer to unload it here (checked after a load, and whenever the tab shows).
 */
async function showOtherTabs() {
  const mine = engine && loaded && typeof loaded.model === "string" ? absolute(loaded.model) : null;
  const same = mine ? (await otherTabsEngines().catch(() => [])).filter((o) => o.model === mine) : [];
  $("other-tabs").hidden = !same.length;
  if (same.length) {
    $("other-tabs-text").textContent = `Another tab of this page holds this model too (${MB(same[0].bytes)} of memory there): each tab keeps its own copy in memory. Close the other tab, or unload it here.`;
  }
}

/** Whether a URL's model is in the offline store (or is the embedded one, which the service worker keeps). */
async function isKept(url) {
  if (embedded && absolute(url) === absolute(embedded.url)) return true;
  return (await listCachedModels().catch(() => [])).some((m) => m.url === absolute(url));
}

// ---- the conversation view

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

function actionButton(label, title, onClick, needsIdle = true) {
  const b = el("button", null, label);
  b.type = "button";
  b.setAttribute("aria-label", title);
  if (needsIdle) b.dataset.needsIdle = "";
  b.addEventListener("click", onClick);
  return b;
}

function fillBody(body, m) {
  if (m.role === "assistant" && m.pending) body.textContent = "waiting…";
  else if (m.role === "assistant") body.replaceChildren(renderMarkdown(m.content));
  else body.textContent = m.content;
}

function messageView(m, i, lastAssistant) {
  const li = el("li", m.role);
  if (m.pending) li.classList.add("queued");
  if (i < (conv.contextStart ?? 0)) li.classList.add("out-of-context");
  const who = el("span", "who", m.role === "user" ? "You" : "Assistant");
  const body = el("div", m.role === "assistant" ? "body markdown" : "body");
  fillBody(body, m);
  const meta = el("span", "meta", m.meta ?? (m.stopped ? "stopped" : m.error ? "failed" : ""));
  const actions = el("div", "actions");
  if (!m.pending) actions.append(actionButton("Copy", `Copy this ${m.role === "user" ? "message" : "reply"}`, (ev) => copy(m, ev.currentTarget), false));
  if (m.role === "user") actions.append(actionButton("Edit", "Edit this message", () => startEdit(m, li)));
  if (m === lastAssistant && !m.pending) actions.append(actionButton("Regenerate", "Regenerate this reply", () => regenerate(m)));
  li.append(who, body, meta, actions);
  views.set(m, li);
  return li;
}

function renderMessages() {
  const lastAssistant = conv.messages.findLast((m) => m.role === "assistant");
  const items = [];
  conv.messages.forEach((m, i) => {
    if (i > 0 && i === conv.contextStart) {
      const d = el("li", "slid", `The ${i} message${i === 1 ? "" : "s"} above no longer fit in the model's context: it does not see them.`);
      d.setAttribute("role", "separator");
      items.push(d);
    }
    items.push(messageView(m, i, lastAssistant));
  });
  $("messages").replaceChildren(...items);
  $("conversation-title").textContent = saved.titleOf(conv);
  idleState();
  scrollToEnd();
}

const scrollToEnd = () => ($("chat").scrollTop = $("chat").scrollHeight);

let frame = null;
/** Streamed text is rendered at most once a frame: Markdown is parsed from the whole reply each time. */
function scheduleRender(m) {
  if (frame) return;
  const run = () => {
    frame = null;
    const li = views.get(m);
    if (li) fillBody(li.querySelector(".body"), m);
    scrollToEnd();
  };
  frame = document.hidden ? setTimeout(run, 100) : requestAnimationFrame(run);
}

async function copy(m, button) {
  try {
    await navigator.clipboard.writeText(m.content);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => (button.textContent = "Copy"), 1500);
}

// ---- answering

/** The messages before `index` that go to the model: failed turns (a reply that errored, and its question) are left out. */
function promptBefore(c, index) {
  const out = [];
  for (let i = 0; i < index; i++) {
    const m = c.messages[i];
    if (m.role === "user" && c.messages[i + 1]?.error) continue;
    if (m.error || m.pending) continue;
    out.push({ role: m.role, content: m.content, index: i });
  }
  return out;
}

function enqueue(reply) {
  const mine = epoch;
  const c = conv;
  pending++;
  idleState();
  chain = chain
    .then(() => (mine === epoch && c === conv && c.messages.includes(reply) ? answer(c, reply) : undefined))
    .catch(() => {})
    .finally(() => {
      pending--;
      idleState();
    });
}

function send(text) {
  conv.system = systemPrompt();
  conv.messages.push({ role: "user", content: text }, { role: "assistant", content: "", pending: true });
  renderMessages();
  persist(conv);
  enqueue(conv.messages.at(-1));
}

async function answer(c, reply) {
  const eng = engine;
  const params = sampling();
  const system = systemPrompt();
  const sys = system ? [{ role: "system", content: system }] : [];
  let history = promptBefore(c, c.messages.indexOf(reply));
  current = new AbortController();
  const t0 = performance.now();
  let first = null;
  let tokens = 0;
  let finish = null;
  Object.assign(reply, { pending: false, content: "", stopped: false, error: null, meta: null });
  try {
    const strip = ({ role, content }) => ({ role, content });
    c.contextStart = 0;
    renderMessages();
    setState("generating");
    // Long chats slide instead of stopping: the package drops the oldest whole turns (the system
    // prompt stays) so that the prompt and the answer fit, and the page marks where the model's
    // memory now begins. Users who prefer the old behaviour choose "stop with an error" in the settings.
    const stream = await eng.chat.completions.create({
      ...params,
      messages: [...sys, ...history.map(strip)],
      truncation: onContextFull() === "slide" ? "auto" : "disabled",
      ignore_eos: options.get("ignore_eos") === "1",
      stream: true,
      signal: current.signal,
    });
    for await (const chunk of stream) {
      if (chunk.dropped_messages) {
        c.contextStart = history[chunk.dropped_messages]?.index ?? 0;
        renderMessages();
      }
      const choice = chunk.choices[0];
      finish = choice?.finish_reason ?? finish;
      const delta = choice?.delta.content;
      if (!delta) continue;
      reply.content += delta;
      tokens++;
      first ??= performance.now();
      const rate = tokens > 1 ? (tokens - 1) / ((performance.now() - first) / 1000) : 0;
      $("stat-speed").textContent = rate ? `${rate.toFixed(1)} tok/s` : "";
      scheduleRender(reply);
    }
  } catch (e) {
    if (e.name === "AbortError") {
      reply.stopped = true;
    } else {
      reply.error = explain(e);
      if (c === conv) showError(reply.error);
    }
  } finally {
    current = null;
    const s = await eng.refreshStats().catch(() => eng.stats());
    if (s?.decode_tok_s) $("stat-speed").textContent = `prefill ${s.prefill_tok_s.toFixed(1)} tok/s · decode ${s.decode_tok_s.toFixed(1)} tok/s`;
    if (s?.memory_bytes) {
      $("stat-memory").textContent = `memory ${MB(s.memory_bytes)}`;
      // Why a kept model takes less than its file: its largest table stays in the kept copy.
      $("stat-memory").title = eng.header?.embeddingInFile
        ? "The token embedding is read from the copy kept offline, a few rows at a time, rather than held in memory."
        : "";
    }
    if (eng === engine) {
      // A lost GPU moves the engine to the CPU mid-answer; say so where the backend shows.
      if (eng.info.backend !== $("stat-backend").textContent.split(" ")[0] && eng.info.backendNote) showWarning(`Now running on the CPU: ${eng.info.backendNote}`);
      showBackend(eng);
    }
    const n = s?.completion_tokens ?? tokens;
    reply.meta = reply.stopped ? "stopped" : reply.error ? "failed"
      : `${n} token${n === 1 ? "" : "s"} · ${((performance.now() - t0) / 1000).toFixed(1)} s${finish === "length" ? " · cut at the length limit" : ""}`;
    if (c === conv) {
      renderMessages();
      announce(reply);
    }
    persist(c);
  }
}

/** One polite announcement per finished reply (not per token). */
function announce(reply) {
  const text = reply.error ? `The reply failed: ${reply.error}` : `Assistant${reply.stopped ? " (stopped)" : ""}: ${reply.content}`;
  $("announcer").textContent = text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

function regenerate(reply) {
  showError("");
  Object.assign(reply, { pending: true, content: "", stopped: false, error: null, meta: null });
  renderMessages();
  enqueue(reply);
}

function startEdit(m, li) {
  const body = li.querySelector(".body");
  const box = el("textarea", "edit");
  box.value = m.content;
  box.setAttribute("aria-label", "Edit your message");
  box.rows = Math.min(8, m.content.split("\n").length + 1);
  const save = actionButton("Send", "Send the edited message", () => {
    const text = box.value.trim();
    if (!text) return;
    const i = conv.messages.indexOf(m);
    m.content = text;
    conv.messages.length = i + 1; // what followed answered the old text
    if ((conv.contextStart ?? 0) > i) conv.contextStart = 0;
    conv.messages.push({ role: "assistant", content: "", pending: true });
    renderMessages();
    persist(conv);
    enqueue(conv.messages.at(-1));
  });
  const cancel = actionButton("Cancel", "Cancel the edit", () => renderMessages(), false);
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); save.click(); }
    if (ev.key === "Escape") cancel.click();
  });
  body.replaceChildren(box);
  li.querySelector(".actions").replaceChildren(save, cancel);
  box.focus();
}

// ---- saved conversations

function persist(c) {
  if (!c.messages.length) return;
  saved.saveConversation(c).then(refreshConversations, (e) => {
    $("store-note").textContent = `Conversations cannot be saved in this browser (${e.message || e.name}); this one lasts until the page closes.`;
    $("store-note").hidden = false;
  });
}

async function refreshConversations() {
  const list = await saved.listConversations().catch(() => []);
  $("conversation-list").replaceChildren(...list.map((c) => {
    const li = el("li");
    const open = el("button", "open", saved.titleOf(c));
    open.type = "button";
    open.title = `${new Date(c.updatedAt).toLocaleString()} · ${c.messages.length} messages`;
    if (c.id === conv.id) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => openConversation(c.id));
    li.append(open);
    return li;
  }));
}

/** Stops the running answer and drops the queued ones, saying so on each. */
function dropQueued(why) {
  epoch++;
  current?.abort();
  const dropped = conv.messages.filter((m) => m.pending);
  for (const m of dropped) Object.assign(m, { pending: false, stopped: true, meta: `not answered: ${why}` });
  if (dropped.length) {
    renderMessages();
    persist(conv);
  }
}

/** Leaves the current conversation: its running answer stops, its queued ones are dropped. */
function leaveConversation() {
  dropQueued("the conversation was left");
  showError("");
  engine?.resetConversation().catch(() => {});
}

async function openConversation(id) {
  const c = await saved.loadConversation(id);
  if (!c) return refreshConversations();
  leaveConversation();
  conv = c;
  renderMessages();
  refreshConversations();
}

function startNewConversation() {
  leaveConversation();
  conv = saved.newConversation(systemPrompt());
  renderMessages();
  refreshConversations();
  if (!$("input").disabled) $("input").focus();
}

function renameConversation() {
  const input = $("rename-input");
  input.value = saved.titleOf(conv);
  input.hidden = false;
  $("conversation-title").hidden = true;
  input.focus();
  input.select();
}

function finishRename(keep) {
  const input = $("rename-input");
  if (input.hidden) return;
  if (keep && input.value.trim()) {
    conv.title = input.value.trim();
    persist(conv);
  }
  input.hidden = true;
  $("conversation-title").hidden = false;
  $("conversation-title").textContent = saved.titleOf(conv);
}

let deleteArmed = null;
/** Delete asks once more (the button says so for 4 s): a conversation is the user's own work. */
async function deleteConversation() {
  const b = $("delete");
  if (!deleteArmed) {
    b.textContent = "Delete? Click again";
    deleteArmed = setTimeout(() => { deleteArmed = null; b.textContent = "Delete"; }, 4000);
    return;
  }
  clearTimeout(deleteArmed);
  deleteArmed = null;
  b.textContent = "Delete";
  await saved.deleteConversation(conv.id).catch(() => {});
  startNewConversation();
}

function exportCurrent() {
  const blob = new Blob([saved.exportConversation(conv)], { type: "application/json" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${saved.titleOf(conv).replace(/[^\w-]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "conversation"}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- models kept offline, first run, offline badge

const WHERE = { opfs: "the browser's private file system (OPFS)", cache: "the browser's Cache Storage" };

async function refreshCached() {
  const info = await storageInfo().catch(() => null);
  const models = info?.models ?? [];
  $("storage-status").textContent = !info?.where
    ? "This browser cannot keep models for this page (no usable storage), so each visit downloads them again."
    : [
      `Kept in ${WHERE[info.where]}`,
      info.quota ? `${MB(info.usage ?? 0)} used, ${MB(Math.max(0, info.quota - (info.usage ?? 0)))} available` : null,
      info.persisted === true ? "protected from eviction"
        : info.persisted === false ? "not protected: the browser may remove them when space runs low"
        : null,
    ].filter(Boolean).join(" · ");
  $("delete-all").hidden = !models.length;
  $("cached-list").replaceChildren(
    ...models.map((m) => {
      const li = el("li", null, `${m.url.split("/").pop()} · ${MB(m.size)} · ${new Date(m.savedAt).toLocaleString()}`);
      const del = el("button", null, "Delete");
      del.type = "button";
      del.setAttribute("aria-label", `Delete ${m.url} from offline storage`);
      del.onclick = async () => {
        await deleteCachedModel(m.url);
        refreshCached();
      };
      li.append(del);
      return li;
    }),
  );
  if (!models.length) $("cached-list").replaceChildren(el("li", null, "None yet: a model is kept after its first complete download."));
}

/**
 * The family's published models, each with its size, download time and whether it fits this device,
 * which its header decides before any download (`checkFit`): "Download" checks first, and a model
 * that cannot fit is not downloaded.
 */
function renderFamily(family) {
  $("family-list").replaceChildren(...family.map((entry) => {
    const li = el("li", null, `${entry.name} (${entry.publisher}) · ${entry.size ? `about ${MB(entry.size)}, ${downloadTime(entry.size)}` : "size not listed"} `);
    li.dataset.id = entry.id;
    const status = el("span", "fit", "");
    status.setAttribute("role", "status");
    const check = el("button", null, "Check fit");
    check.type = "button";
    check.setAttribute("aria-label", `Check whether ${entry.name} fits this device`);
    check.onclick = () => getModel(entry, status, false);
    const get = el("button", null, "Download");
    get.type = "button";
    get.setAttribute("aria-label", `Download ${entry.name}`);
    get.onclick = () => getModel(entry, status, true);
    li.append(check, get, status);
    return li;
  }));
}

/** Reads `entry`'s header, says whether it fits, and then (`load`, and only if it fits) loads it. */
async function getModel(entry, status, load) {
  status.textContent = `Reading ${entry.name}'s header…`;
  status.dataset.fits = "";
  const ctx = Number(options.get("ctx")) || undefined;
  const { fits, text } = await checkFit(entry, { contextLength: ctx, ...fileOptions() });
  status.textContent = text;
  status.dataset.fits = String(fits);
  if (!fits || !load || loading) return;
  document.querySelector("input[name=source][value=url]").checked = true;
  $("model-url").value = entry.url;
  loadModel(entry.url, entry.name, { sha256: entry.sha256 ?? undefined });
}

/** The demo says what it is, and offers the real model as the next step. */
function showFirstRun() {
  const demo = embedded && loaded && typeof loaded.model === "string" && absolute(loaded.model) === absolute(embedded.url);
  let dismissed = false;
  try { dismissed = localStorage.getItem(FIRST_RUN_DONE) === "1"; } catch { /* storage off */ }
  $("first-run").hidden = !demo || dismissed;
  if (!demo) return;
  $("demo-ctx").textContent = String(engine.header.nCtxTrain || engine.contextLength);
  $("recommended-size").textContent = `about ${MB(RECOMMENDED.size)}`;
  $("recommended-time").textContent = downloadTime(RECOMMENDED.size);
}

function updateOnline() {
  $("offline-badge").hidden = navigator.onLine;
}

// ---- wiring

$("model-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (loading) return;
  const source = new FormData(ev.target).get("source");
  if (source === "url") {
    const url = $("model-url").value.trim();
    if (url) loadModel(url, url.split("/").pop());
  } else if (source === "file") {
    const f = $("model-file").files[0];
    if (f) loadModel(f, f.name);
    else showError("Choose a .gguf file first.");
  } else if (embedded) {
    loadModel(embedded.url, embedded.name, embedded);
  }
});
$("model-file").addEventListener("change", () => {
  const f = $("model-file").files[0];
  if (!f) return;
  document.querySelector("input[name=source][value=file]").checked = true;
  loadModel(f, f.name);
});
document.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", (ev) => {
  ev.preventDefault();
  document.body.classList.remove("dragging");
  const f = ev.dataTransfer?.files?.[0];
  if (f && !loading) loadModel(f, f.name);
});
$("cancel-load").addEventListener("click", () => loading?.abort());

// "Download for offline use": keeps the URL's model without loading it (the current model stays).
let keeping = null;
$("keep-offline").addEventListener("click", async () => {
  const url = $("model-url").value.trim();
  if (!url || keeping) return;
  const name = url.split("/").pop();
  keeping = new AbortController();
  $("keep-progress").hidden = false;
  $("keep-bar").value = 0;
  $("keep-text").textContent = `Starting ${name}…`;
  $("keep-offline").disabled = true;
  $("cancel-keep").hidden = false;
  try {
    const kept = await downloadModel(url, {
      signal: keeping.signal,
      onProgress: (p) => {
        $("keep-bar").value = p.total ? p.loaded / p.total : 0;
        $("keep-text").textContent = `Keeping ${name}: ${MB(p.loaded)}${p.total ? ` of ${MB(p.total)}` : ""}`;
      },
    });
    $("keep-bar").value = 1;
    $("keep-text").textContent = `Kept ${name} (${MB(kept.size)}): it loads with no network from now on.`;
  } catch (e) {
    $("keep-text").textContent = e.name === "AbortError" ? `Cancelled ${name}: nothing of it was kept.` : explain(e);
  } finally {
    keeping = null;
    $("keep-offline").disabled = false;
    $("cancel-keep").hidden = true;
    refreshCached();
  }
});
$("cancel-keep").addEventListener("click", () => keeping?.abort());
document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && showOtherTabs());
$("unload-here").addEventListener("click", async () => {
  if (!engine || loading) return;
  dropQueued("the model was unloaded");
  const old = engine;
  engine = null;
  loaded = null;
  await old.unload().catch(() => {});
  $("stat-model").textContent = "No model loaded here (another tab holds it); load one to chat";
  $("other-tabs").hidden = true;
  idleState();
});
$("delete-all").addEventListener("click", async () => {
  if (!confirm("Delete every model kept offline in this browser? They download again when next loaded.")) return;
  const { inUse } = await clearCachedModels();
  if (inUse) showWarning(`${inUse} kept file${inUse > 1 ? "s are" : " is"} still in use here or in another tab, and will be removed once closed.`);
  refreshCached();
});
$("get-recommended").addEventListener("click", () => {
  $("family").open = true;
  const status = document.querySelector(`#family-list li[data-id="${RECOMMENDED.id}"] .fit`);
  getModel(RECOMMENDED, status ?? el("span"), true);
});
$("dismiss-first-run").addEventListener("click", () => {
  try { localStorage.setItem(FIRST_RUN_DONE, "1"); } catch { /* storage off */ }
  $("first-run").hidden = true;
});
$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || !engine) return;
  $("input").value = "";
  showError("");
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => current?.abort());
$("new-chat").addEventListener("click", startNewConversation);
$("rename").addEventListener("click", renameConversation);
$("rename-input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter") finishRename(true);
  if (ev.key === "Escape") finishRename(false);
});
$("rename-input").addEventListener("blur", () => finishRename(true));
$("export").addEventListener("click", exportCurrent);
$("delete").addEventListener("click", deleteConversation);
addEventListener("online", updateOnline);
addEventListener("offline", updateOnline);
bindSettings();
bindBenchmark(() => engine);
// A new backend, or another reading of the file, takes a new engine: the model is loaded again (from
// the offline store when kept).
for (const id of ["device", "i2s-layout", "activation"]) {
  $(id).addEventListener("change", () => {
    if (loaded) loadModel(loaded.model, loaded.label, loaded);
  });
}
updateOnline();
renderFamily(catalog);
renderMessages();
refreshConversations();

if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});

// Open with ?model=URL, else the best model kept offline, else the embedded demo.
try {
  const list = await (await fetch("models/models.json")).json();
  embedded = list[0];
  $("embedded-label").textContent = `Embedded: ${embedded.name} (${MB(embedded.size)}, a demo)`;
} catch {
  $("embedded-label").textContent = "Embedded model unavailable";
}
// ?catalog=URL: a list of your own (a mirror's) models in the package's CatalogEntry shape, URLs
// relative to the list, in place of the published ones.
if (options.get("catalog")) {
  try {
    const at = new URL(options.get("catalog"), location.href);
    const list = await (await fetch(at)).json();
    renderFamily(list.map((e) => ({ ...e, url: new URL(e.url, at).href })));
    $("family").open = true;
  } catch (e) {
    showWarning(`The model list at ${options.get("catalog")} could not be read (${e.message}); the published models are listed instead.`);
  }
}
refreshCached();
const wanted = options.get("model");
let last = null;
try { last = localStorage.getItem(LAST_MODEL); } catch { /* storage off */ }
const best = wanted ? null : bestKept(await listCachedModels().catch(() => []), embedded && absolute(embedded.url), last);
if (wanted || best) {
  const url = wanted || best.url;
  document.querySelector("input[name=source][value=url]").checked = true;
  $("model-url").value = url;
  loadModel(url, url.split("/").pop(), best ?? {});
} else if (embedded) {
  loadModel(embedded.url, embedded.name, embedded);
}
