// Bytes read from memory per decoded token, from the model file itself: the byte half of the decode
// bound (bench/README.md, "The decode bound"). Every figure comes from the file's tensor table
// (`bitnet-web inspect --json`) and, for TQ1_0/TQ2_0, a scan of its block scales; the formulas follow
// the engine's loader (src/model/plan.rs `Plan::of`, `kept_bytes`; src/model/mod.rs
// `HeadPrecision::added_bytes`; src/quant/ternary.rs `pack`) and are checked against the engine's own
// memory estimate (`inspect --memory`) for every head option.
import fs from "node:fs";
import { execFileSync } from "node:child_process";

/** Rows the shortlist head scores exactly per token at first (src/kernels/shortlist.rs `CANDIDATES`). */
export const SHORTLIST_CANDIDATES = 64;
/** Columns per block of the 4-bit shortlist copy (src/quant/int4_rows.rs `BLOCK`). */
const INT4_BLOCK = 64;
/** Columns per scale block of TQ1_0/TQ2_0 (src/quant/ternary.rs `SCALE_BLOCK`). */
const SCALE_BLOCK = 256;
/** Bytes per 256-weight block and the offset of its f16 scale (src/quant/tq2_0.rs, tq1_0.rs). */
const TQ_BLOCKS = { TQ2_0: { bytes: 66, d: 64 }, TQ1_0: { bytes: 54, d: 52 } };
const TERNARY = new Set(["I2_S", "TQ2_0", "TQ1_0"]);
const PROJECTIONS = new Set(["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]);
const NORMS = new Set(["attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"]);
export const HEADS = ["shortlist", "int8", "stored"];

/** The loader's role of a tensor (src/model/plan.rs `role_of`). */
function roleOf(name, nLayer) {
  if (name === "token_embd.weight") return { role: "embd" };
  if (name === "output.weight") return { role: "output" };
  if (name === "output_norm.weight") return { role: "norm" };
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|scale)$/.exec(name);
  if (!m || +m[1] >= nLayer || !(PROJECTIONS.has(m[2]) || NORMS.has(m[2]))) return { role: "skip" };
  if (m[3] === "scale") return { role: "scale" };
  return { role: PROJECTIONS.has(m[2]) ? "projection" : "norm", layer: +m[1], part: m[2] };
}

/**
 * Whether every 256-weight block of a TQ tensor has the same scale (bit for bit). The loader then
 * keeps one scale for the tensor; otherwise one f32 per block, which the kernels read beside the
 * codes (src/quant/ternary.rs `pack`).
 */
function uniformScales(fd, dataOffset, t) {
  const { bytes: bb, d } = TQ_BLOCKS[t.type];
  const chunkBlocks = 1 << 18; // 17 MB of TQ2_0 a read
  const buf = Buffer.alloc(chunkBlocks * bb);
  const blocks = t.bytes / bb;
  let first = null;
  for (let b0 = 0; b0 < blocks; b0 += chunkBlocks) {
    const n = Math.min(chunkBlocks, blocks - b0);
    const got = fs.readSync(fd, buf, 0, n * bb, dataOffset + t.offset + b0 * bb);
    if (got !== n * bb) throw new Error(`${t.name}: short read`);
    for (let i = 0; i < n; i++) {
      const s = buf.readUInt16LE(i * bb + d);
      if (first === null) first = s;
      else if (s !== first) return false;
    }
  }
  return true;
}

function inspect(bin, args) {
  try {
    return execFileSync(bin, ["inspect", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 28 });
  } catch (e) {
    throw new Error(`${bin} inspect ${args.join(" ")}: ${String(e.stderr || e.message).trim().split("\n").slice(-2).join(" | ")}`);
  }
}

/**
 * Bytes read per decoded token by each engine on `file`, for a decode after `promptTokens` prompt
 * tokens that generates `genTokens` (the first from the prefill's logits): see bench/README.md.
 * `bin` is a `bitnet-web` CLI (for `inspect`). Returns
 * `{ file, arch, layers, n_embd, n_vocab, kv_dim, tied, head_type, kv_positions, ours: { shortlist,
 * int8, stored } , stored_file, llama_cpp, auto_head, check }`, each breakdown `{ ternary, norms,
 * embedding_row, head, kv, total }` in bytes.
 */
/** A file's tensor table with each tensor's role, from our CLI's `inspect --json`. */
function tensorTable(bin, file) {
  const info = JSON.parse(inspect(bin, ["--json", file]));
  const meta = new Map(info.metadata.map((m) => [m.key, m.value]));
  const arch = meta.get("general.architecture");
  const nLayer = Number(meta.get(`${arch}.block_count`));
  const tensors = info.tensors.map((t) => ({ ...t, ...roleOf(t.name, nLayer), n: t.shape.reduce((a, b) => a * b, 1) }));
  return { info, arch, nLayer, tensors };
}

export function bytesPerToken(bin, file, { promptTokens, genTokens, kvF16 = false }) {
  const { info, arch, nLayer, tensors } = tensorTable(bin, file);
  // bitnet.cpp's arch always ties the head, even when output.weight exists (plan.rs `Plan::of`).
  if (arch === "bitnet-b1.58" || arch === "bitnet-25") for (const t of tensors) if (t.role === "output") t.role = "skip";
  const embd = tensors.find((t) => t.role === "embd");
  const output = tensors.find((t) => t.role === "output");
  const head = output ?? embd;
  const attnK = tensors.find((t) => t.role === "projection" && t.part === "attn_k");
  if (!embd || !attnK) throw new Error(`${file}: no token_embd.weight or attn_k weight`);
  const [nEmbd, nVocab] = head.shape;
  const kvDim = attnK.shape[1];
  const tied = !output;
  // Kept as stored: F32 stays F32, anything else becomes F16 (plan.rs `kept_bytes`).
  const keptPerElement = (t) => (t.type === "F32" ? 4 : 2);

  // Ternary projections as the kernels read them: cols/4 bytes of codes per row, and one f32 scale
  // for the tensor (I2_S; TQ files whose blocks all share one scale) or one per 256 columns.
  const fd = fs.openSync(file, "r");
  let ternary = 0, ternaryStored = 0, perBlockTensors = 0, projections = 0;
  try {
    for (const t of tensors.filter((t) => t.role === "projection")) {
      if (!TERNARY.has(t.type)) throw new Error(`${t.name} is ${t.type}, not ternary`);
      const perTensor = t.type === "I2_S" || uniformScales(fd, info.data_offset, t);
      perBlockTensors += perTensor ? 0 : 1;
      projections++;
      ternary += t.n / 4 + (perTensor ? 4 : 4 * (t.n / SCALE_BLOCK));
      ternaryStored += t.bytes;
    }
  } finally {
    fs.closeSync(fd);
  }
  // Norms (f32) and the `bitnet` arch's per-projection scales, read once per token.
  const norms = tensors.filter((t) => t.role === "norm" || t.role === "scale").reduce((a, t) => a + 4 * t.n, 0);
  const normsStored = tensors.filter((t) => t.role === "norm" || t.role === "scale").reduce((a, t) => a + t.bytes, 0);
  const embeddingRow = nEmbd * keptPerElement(embd);
  const embeddingRowStored = embd.bytes / embd.shape[1];

  // The KV cache: decode step s (1..G-1) attends over P + s positions, P + G/2 on average, and reads
  // a key and a value of kv_dim elements per position in every layer.
  const kvPositions = promptTokens + genTokens / 2;
  const kvBytes = (elt) => 2 * nLayer * kvDim * kvPositions * elt;

  const headBytes = {
    stored: nVocab * nEmbd * keptPerElement(head),
    int8: nVocab * (nEmbd + 4),
    // The 4-bit copy (per row: cols/2 bytes of codes, an f32 scale per 64 columns), then the stored
    // rows of the candidates; more rows only when the estimates cannot settle the best one.
    shortlist: nVocab * (nEmbd / 2 + 4 * (nEmbd / INT4_BLOCK)) + SHORTLIST_CANDIDATES * nEmbd * keptPerElement(head),
  };
  const breakdown = (t, n, e, h, kv) => ({ ternary: t, norms: n, embedding_row: e, head: h, kv, total: t + n + e + h + kv });
  const ours = Object.fromEntries(HEADS.map((h) => [h, breakdown(ternary, norms, embeddingRow, headBytes[h], kvBytes(kvF16 ? 2 : 4))]));
  // What `auto` stands for (src/model/mod.rs `HeadPrecision::resolve`); a shortlist that does not fit
  // whole 64-column blocks falls back to int8.
  const autoHead = tied && nEmbd % INT4_BLOCK === 0 ? "shortlist" : "int8";
  if (nEmbd % INT4_BLOCK !== 0) ours.shortlist = ours.int8;

  // The engine's own memory estimate for each head, against the same formulas for resident bytes
  // (`kept_bytes` counts a scale per 256 columns for every TQ tensor; `added_bytes` is what a
  // head option adds beside the file's tensors).
  const check = {};
  // A scale per 256 columns of a TQ tensor (the header cannot tell uniform ones), one per I2_S tensor.
  const keptTernary = (t) => t.n / 4 + (t.type === "I2_S" ? 4 : 4 * (t.n / SCALE_BLOCK));
  const sum = (role, bytes) => tensors.filter(role).reduce((a, t) => a + bytes(t), 0);
  const embeddingKept = sum((t) => t.role === "embd" || t.role === "output", (t) => t.n * keptPerElement(t));
  const normsKept = sum((t) => !["projection", "embd", "output", "skip"].includes(t.role), (t) => 4 * t.n);
  const resident = sum((t) => t.role === "projection", keptTernary) + embeddingKept + normsKept;
  const added = { stored: 0, int8: tied ? nVocab * (nEmbd + 4) : 0, shortlist: nEmbd % INT4_BLOCK === 0 ? nVocab * (nEmbd / 2 + 4 * (nEmbd / INT4_BLOCK)) : (tied ? nVocab * (nEmbd + 4) : 0) };
  // Natively the engine reads the token embedding's rows from the file when the head does not need
  // it resident, and says so; its estimate then leaves it out. (In the page that depends on whether
  // the model is kept: bench/run.mjs asks each run, for the memory table.)
  const embdKept = embd.n * keptPerElement(embd);
  const inFile = {};
  for (const h of HEADS) {
    const text = inspect(bin, ["--memory", "--head", h, "--ctx", "512", file]);
    const m = /([\d.]+) MiB of converted weights and heads/.exec(text);
    const engine = m ? +m[1] : null;
    inFile[h] = /the token embedding left in the file/.test(text);
    const ourFigure = (resident - (inFile[h] ? embdKept : 0) + added[h]) / 2 ** 20;
    check[h] = { engine_mib: engine, formula_mib: +ourFigure.toFixed(1), agrees: engine != null && Math.abs(engine - ourFigure) < 0.06 };
  }

  // As stored, which is what llama.cpp (native and in wllama) reads: the file's ternary blocks, the
  // stored head, and its KV cache (wllama: the bench's precision; llama-bench: always f16).
  const storedFile = breakdown(ternaryStored, normsStored, embeddingRowStored, head.bytes, kvBytes(kvF16 ? 2 : 4));
  const llamaCpp = breakdown(ternaryStored, normsStored, embeddingRowStored, head.bytes, kvBytes(2));
  // What the engine keeps resident, by part (the memory breakdown of bench/run.mjs): `resident`
  // above, split, with the ternary weights as held (a TQ tensor whose blocks share one scale keeps
  // one, which only the data shows; the header's estimate counts a scale per block).
  const residentParts = {
    ternary,
    embedding: embeddingKept,
    norms: normsKept,
    head_copy: added,
  };
  return {
    file, arch, layers: nLayer, n_embd: nEmbd, n_vocab: nVocab, kv_dim: kvDim, tied, head_type: head.type, resident: residentParts,
    ternary_type: [...new Set(tensors.filter((t) => t.role === "projection").map((t) => t.type))].join("+"),
    per_block_scale_tensors: `${perBlockTensors}/${projections}`,
    kv_positions: kvPositions, kv_type: kvF16 ? "f16" : "f32",
    auto_head: autoHead, ours, stored_file: storedFile, llama_cpp: llamaCpp, check,
  };
}

/**
 * What llama.cpp reads per decoded token of any file, ternary or not (the F16 peer of `make bench-f16`):
 * every projection, norm and the head as stored, one embedding row, and its KV cache (wllama: the bench's
 * precision; llama-bench: f16). The same arithmetic as `bytesPerToken`'s `stored_file` and `llama_cpp`.
 */
export function storedBytesPerToken(bin, file, { promptTokens, genTokens, kvF16 = false }) {
  const { arch, nLayer, tensors } = tensorTable(bin, file);
  const embd = tensors.find((t) => t.role === "embd");
  const head = tensors.find((t) => t.role === "output") ?? embd;
  const attnK = tensors.find((t) => t.role === "projection" && t.part === "attn_k");
  if (!embd || !attnK) throw new Error(`${file}: no token_embd.weight or attn_k weight`);
  const sum = (roles) => tensors.filter((t) => roles.includes(t.role)).reduce((a, t) => a + t.bytes, 0);
  const kv = (elt) => 2 * nLayer * attnK.shape[1] * (promptTokens + genTokens / 2) * elt;
  const parts = (kvBytes) => {
    const b = { ternary: sum(["projection"]), norms: sum(["norm", "scale"]), embedding_row: embd.bytes / embd.shape[1], head: head.bytes, kv: kvBytes };
    return { ...b, total: b.ternary + b.norms + b.embedding_row + b.head + b.kv };
  };
  return { file, arch, projection_type: [...new Set(tensors.filter((t) => t.role === "projection").map((t) => t.type))].join("+"),
    stored_file: parts(kv(kvF16 ? 2 : 4)), llama_cpp: parts(kv(2)) };
}

/** `ours`' breakdown for a head option (`auto` or undefined: what the engine picks). */
export function oursBytes(b, head) {
  return b.ours[!head || head === "auto" ? b.auto_head : head];
}

const mb = (x) => (x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e6 ? 1 : 2);

/**
 * The bytes per token of every file and head, with the bound (bandwidth ÷ bytes) at each thread
 * count. `bw` is `{ native: [{threads, median}], wasm: [...] }` (either may be missing).
 */
export function bytesTable(all, bw, threads) {
  const bound = (kind, T, bytes) => {
    const g = bw?.[kind]?.find((r) => r.threads === T)?.median;
    return g ? ((g * 1e9) / bytes).toFixed(1) : "—";
  };
  const cols = [...threads.map((T) => `wasm bound T=${T}`), ...threads.map((T) => `native bound T=${T}`)];
  const lines = [
    `| file | reader | ternary MB | norms MB | embedding row MB | head MB | KV MB | total MB/token | ${cols.join(" | ")} |`,
    `|---|---|---|---|---|---|---|---|${cols.map(() => "---").join("|")}|`,
  ];
  for (const b of all) {
    const name = b.file.split("/").pop();
    const rows = [
      ...HEADS.map((h) => [`ours, head ${h}${h === b.auto_head ? " (auto)" : ""}`, b.ours[h]]),
      // Files that only our engine runs (`peers: false`) get no rows for the others.
      ...(b.peers === false ? [] : [["as stored (wllama)", b.stored_file], ["as stored, f16 KV (llama.cpp)", b.llama_cpp]]),
    ];
    for (const [label, x] of rows) {
      const bounds = [...threads.map((T) => bound("wasm", T, x.total)), ...threads.map((T) => bound("native", T, x.total))];
      lines.push(`| ${name} | ${label} | ${mb(x.ternary)} | ${mb(x.norms)} | ${mb(x.embedding_row)} | ${mb(x.head)} | ${mb(x.kv)} | ${mb(x.total)} | ${bounds.join(" | ")} |`);
    }
  }
  const notes = all.map((b) => {
    const bad = Object.entries(b.check).filter(([, c]) => !c.agrees);
    const agree = bad.length
      ? `**the engine's estimate disagrees**: ${bad.map(([h, c]) => `${h} ${c.engine_mib} MiB vs ${c.formula_mib}`).join(", ")}`
      : "resident bytes agree with the engine's estimate for every head";
    return `- ${b.file.split("/").pop()}: ${b.arch}, ${b.layers} layers, ${b.ternary_type} (per-block scales in ${b.per_block_scale_tensors} tensors), ` +
      `${b.tied ? "tied" : "separate"} ${b.head_type} head ${b.n_vocab}×${b.n_embd}, KV ${b.kv_type} over ${b.kv_positions} positions on average; ${agree}`;
  });
  return [...lines, "", ...notes].join("\n");
}
