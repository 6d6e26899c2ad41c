// The chat page. All model work happens in the engine's Worker (lib/worker.js); this file only
// drives the UI through the npm package's API (lib/index.js).
import { createEngine, listCachedModels, deleteCachedModel } from "./lib/index.js";

const $ = (id) => document.getElementById(id);
const MB = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
const seconds = (s) => (s == null || !isFinite(s) ? "" : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`);

let engine = null;
let embedded = null; // { name, url, size } from models/models.json
let history = []; // [{ role, content }]
let chain = Promise.resolve(); // messages run one after another, never interleaved
let current = null; // AbortController of the running answer
let pending = 0;

function setState(state) {
  document.body.dataset.state = state;
  const ready = !!engine;
  $("input").disabled = !ready;
  $("send").disabled = !ready;
  $("new-chat").disabled = !ready;
  $("stop").disabled = !current;
}

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
    ContextFullError: "The conversation is too long: start a new conversation.",
  };
  return `${tips[e.name] ? tips[e.name] + " " : ""}${e.message}`;
}

function onProgress(p) {
  if (p.phase === "warning") return showWarning(p.message);
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

async function loadModel(model, label, sha256) {
  showError("");
  showWarning("");
  await engine?.unload();
  engine = null;
  setState("loading");
  $("stat-model").textContent = `Loading ${label}…`;
  try {
    const ctx = Number(options.get("ctx")) || undefined;
    engine = await createEngine({ model, onProgress, contextLength: ctx, sha256 });
    $("progress-bar").value = 1;
    $("progress-text").textContent = `Loaded ${label}`;
    $("stat-model").textContent = `${label} (${engine.header.architecture}, ${MB(engine.header.fileLength)})`;
    $("stat-backend").textContent = `${engine.info.backend} · ${engine.info.kernel} · ${engine.info.threads} thread${engine.info.threads > 1 ? "s" : ""}`;
    $("stat-backend").title = engine.info.threadsNote || "";
    newConversation();
    setState("ready");
  } catch (e) {
    $("stat-model").textContent = "No model loaded";
    showError(explain(e));
    setState("error");
  }
  refreshCached();
}

function bubble(role, text, extra = "") {
  const li = document.createElement("li");
  li.className = `${role} ${extra}`.trim();
  li.textContent = text;
  $("messages").append(li);
  $("chat").scrollTop = $("chat").scrollHeight;
  return li;
}

function newConversation() {
  current?.abort();
  history = [];
  $("messages").replaceChildren();
  engine?.resetConversation().catch(() => {});
}

/** Testing and benchmarking options from the address: ?ctx=4096&ignore_eos=1 */
const options = new URLSearchParams(location.search);

function request() {
  const system = $("system").value.trim();
  return {
    ignore_eos: options.get("ignore_eos") === "1",
    messages: [...(system ? [{ role: "system", content: system }] : []), ...history],
    max_tokens: Number($("max-tokens").value) || 256,
    temperature: Number($("temperature").value),
    top_p: Number($("top-p").value),
  };
}

/** Queues one user message; answers run strictly one after another. */
function send(text) {
  bubble("user", text);
  const answer = bubble("assistant", "waiting…", "queued");
  pending++;
  chain = chain.then(() => answerTo(text, answer)).catch(() => {});
}

async function answerTo(text, li) {
  history.push({ role: "user", content: text });
  li.classList.remove("queued");
  li.textContent = "";
  const body = document.createTextNode("");
  const meta = document.createElement("span");
  meta.className = "meta";
  li.append(body, meta);
  current = new AbortController();
  setState("generating");
  const t0 = performance.now();
  let first = null;
  let tokens = 0;
  let content = "";
  try {
    const stream = await engine.chat.completions.create({ ...request(), stream: true, signal: current.signal });
    for await (const chunk of stream) {
      const delta = chunk.choices[0].delta.content;
      if (delta) {
        content += delta;
        body.textContent = content;
        tokens++;
        first ??= performance.now();
        const rate = tokens > 1 ? (tokens - 1) / ((performance.now() - first) / 1000) : 0;
        $("stat-speed").textContent = rate ? `${rate.toFixed(1)} tok/s` : "";
        $("chat").scrollTop = $("chat").scrollHeight;
      }
    }
    history.push({ role: "assistant", content });
  } catch (e) {
    if (e.name === "AbortError") {
      meta.textContent = "stopped";
      history.push({ role: "assistant", content });
    } else {
      history.pop();
      showError(explain(e));
      meta.textContent = "failed";
    }
  } finally {
    current = null;
    pending--;
    const s = await engine.refreshStats().catch(() => engine.stats());
    if (s.decode_tok_s) {
      $("stat-speed").textContent = `prefill ${s.prefill_tok_s.toFixed(1)} tok/s · decode ${s.decode_tok_s.toFixed(1)} tok/s`;
    }
    meta.textContent ||= `${s.completion_tokens} token${s.completion_tokens === 1 ? "" : "s"} · ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    if (s.memory_bytes) $("stat-memory").textContent = `memory ${MB(s.memory_bytes)}`;
    setState(pending ? "generating" : "ready");
  }
}

async function refreshCached() {
  const models = await listCachedModels().catch(() => []);
  $("cached-list").replaceChildren(
    ...models.map((m) => {
      const li = document.createElement("li");
      li.textContent = `${m.url.split("/").pop()} · ${MB(m.size)} · ${new Date(m.savedAt).toLocaleString()}`;
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.setAttribute("aria-label", `Delete ${m.url} from offline storage`);
      del.onclick = async () => {
        await deleteCachedModel(m.url);
        refreshCached();
      };
      li.append(del);
      return li;
    }),
  );
  if (!models.length) $("cached-list").innerHTML = "<li>None yet: a model is kept after its first complete download.</li>";
}

// ---- wiring
$("model-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const source = new FormData(ev.target).get("source");
  if (source === "url") {
    const url = $("model-url").value.trim();
    if (url) loadModel(url, url.split("/").pop());
  } else if (source === "file") {
    const f = $("model-file").files[0];
    if (f) loadModel(f, f.name);
    else showError("Choose a .gguf file first.");
  } else if (embedded) {
    loadModel(embedded.url, embedded.name, embedded.sha256);
  }
});
$("model-file").addEventListener("change", () => {
  const f = $("model-file").files[0];
  if (!f) return;
  document.querySelector('input[name=source][value=file]').checked = true;
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
  if (f) loadModel(f, f.name);
});
$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || !engine) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => current?.abort());
$("new-chat").addEventListener("click", newConversation);
for (const id of ["temperature", "top-p"]) {
  $(id).addEventListener("input", () => ($(`${id}-value`).textContent = $(id).value));
}

if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});

// Pick the embedded model (or ?model=URL) and load it.
try {
  const list = await (await fetch("models/models.json")).json();
  embedded = list[0];
  $("embedded-label").textContent = `Embedded: ${embedded.name} (${MB(embedded.size)})`;
} catch {
  $("embedded-label").textContent = "Embedded model unavailable";
}
refreshCached();
const wanted = options.get("model");
if (wanted) {
  document.querySelector('input[name=source][value=url]').checked = true;
  $("model-url").value = wanted;
  loadModel(wanted, wanted.split("/").pop());
} else if (embedded) {
  loadModel(embedded.url, embedded.name, embedded.sha256);
}
