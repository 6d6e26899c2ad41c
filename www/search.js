// Semantic search on the device (issue 32): an embedding model in the package's worker embeds the
// texts, one request per batch so that indexing shows progress and can be cancelled; a query is
// embedded the same way and the texts are ranked by cosine similarity (the vectors are
// L2-normalised, so it is their dot product). Nothing leaves the page: the texts go to the worker
// and nowhere else. `?model=URL` loads a model on arrival.
import { createEngine } from "./lib/index.js";

const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);
/** The query instruction BitNet-embedding's model card asks for; documents go as they are. */
const INSTRUCT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ";
const BATCH = 16;

let engine = null;
let index = []; // { text, vector }
let indexing = null; // the AbortController of the indexing in progress

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

async function load(model) {
  $("load").disabled = true;
  try {
    await engine?.unload();
    engine = null;
    index = [];
    engine = await createEngine({
      model,
      onProgress: (p) => status(p.total ? `Loading the model: ${Math.round((100 * p.loaded) / p.total)} %` : `Loading the model (${p.phase})…`),
    });
    status(`Ready: ${engine.model} (${engine.info.kernel}, ${engine.info.threads} thread${engine.info.threads > 1 ? "s" : ""}). Add texts and index them.`);
    $("index").disabled = false;
  } catch (e) {
    status(`The model could not be loaded: ${e.message}`);
  } finally {
    $("load").disabled = false;
  }
}

async function indexTexts() {
  const texts = $("docs").value.split("\n").map((t) => t.trim()).filter(Boolean);
  if (!texts.length) return status("Add some texts first: one per line.");
  indexing = new AbortController();
  $("index").disabled = true;
  $("cancel").disabled = false;
  $("go").disabled = true;
  const fresh = [];
  const started = performance.now();
  try {
    for (let i = 0; i < texts.length; i += BATCH) {
      const batch = texts.slice(i, i + BATCH);
      // Long texts are cut to the model's context rather than refused.
      const r = await engine.embeddings.create({ input: batch, truncation: "auto", signal: indexing.signal });
      r.data.forEach((d, j) => fresh.push({ text: batch[j], vector: d.embedding }));
      status(`Indexed ${fresh.length} of ${texts.length} texts…`);
    }
    index = fresh;
    const s = (performance.now() - started) / 1000;
    status(`Indexed ${index.length} texts in ${s.toFixed(1)} s (${(index.length / s).toFixed(1)} a second). Search away.`);
  } catch (e) {
    status(e.name === "AbortError" ? `Indexing cancelled; ${index.length} texts stay indexed.` : `Indexing failed: ${e.message}`);
  } finally {
    indexing = null;
    $("index").disabled = false;
    $("cancel").disabled = true;
    $("go").disabled = index.length === 0;
  }
}

async function search(query) {
  const text = ($("instruct").checked ? INSTRUCT : "") + query;
  const [{ embedding }] = (await engine.embeddings.create({ input: text, truncation: "auto" })).data;
  const ranked = index.map((d) => ({ ...d, score: dot(d.vector, embedding) })).sort((a, b) => b.score - a.score);
  $("results").replaceChildren(...ranked.slice(0, 10).map((r) => {
    const li = document.createElement("li");
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = r.score.toFixed(4);
    li.append(score, " ", r.text);
    return li;
  }));
  return ranked;
}

$("source").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const file = $("file").files[0];
  const url = $("url").value.trim();
  if (file || url) load(file ?? url);
});
$("index").addEventListener("click", indexTexts);
$("cancel").addEventListener("click", () => indexing?.abort());
$("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = $("query").value.trim();
  if (!q || !index.length) return;
  try {
    await search(q);
  } catch (e) {
    status(`The search failed: ${e.message}`);
  }
});
// Text files dropped on the texts' box add their lines.
$("docs").addEventListener("dragover", (ev) => ev.preventDefault());
$("docs").addEventListener("drop", async (ev) => {
  ev.preventDefault();
  for (const f of ev.dataTransfer.files) $("docs").value += (await f.text()).trim() + "\n";
});

const param = new URLSearchParams(location.search).get("model");
if (param) load(param);
