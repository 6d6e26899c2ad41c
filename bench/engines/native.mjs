// The native engines of bench/run.mjs, each a child process: our CLI (`bitnet-web generate`, the
// "native" and "native-gpu" rows), whose statistics line on stderr gives the figures, and native
// llama.cpp's llama-bench (bench/llama-cpp.sh), whose JSON does. One file for the two because they
// share runProcess; apart from the browser engines because they run no browser.
import { spawn, execFileSync } from "node:child_process";

// ---------------------------------------------------------------------------------------------
// Native CLI
// ---------------------------------------------------------------------------------------------

export function nativeHelp(bin) {
  try {
    return execFileSync(bin, ["generate", "--help"], { encoding: "utf8" });
  } catch (e) {
    return String(e.stdout || "") + String(e.stderr || "");
  }
}

export function runNative(o, file, threads, prompt, ctxLen, help, device = "cpu") {
  const hasThreads = /--threads\b/.test(help);
  if (!hasThreads && threads !== 1) {
    return Promise.resolve({ engine: "native", threads_requested: threads, skipped: "the CLI has no --threads flag (1 thread only)" });
  }
  const gpu = device === "gpu";
  const args = ["generate", file, "--prompt", prompt, "--max-tokens", String(gpu ? o.gpuGenTokens : o.genTokens), "--temperature", "0", "--ignore-eos"];
  if (/--device\b/.test(help)) args.push("--device", device);
  if (/--ctx\b/.test(help)) args.push("--ctx", String(ctxLen));
  if (o.kvF16 && /--kv-f16\b/.test(help)) args.push("--kv-f16");
  if (o.lmHead && /--head\b/.test(help)) args.push("--head", o.lmHead);
  if (hasThreads) args.push("--threads", String(threads));
  const t0 = Date.now();
  return runProcess(o.native, args, o.timeoutS).then(({ code, stdout, stderr }) => {
    const num = (re) => {
      const m = re.exec(stderr);
      return m ? parseFloat(m[1]) : null;
    };
    const r = {
      engine: gpu ? "native-gpu" : "native",
      adapter: (/\[backend: gpu, ([^\]]+)\]/.exec(stderr) || [])[1] ?? null,
      threads_requested: threads,
      command: [o.native, ...args.map((a) => (a === prompt ? "<prompt>" : a))].join(" "),
      exit_code: code,
      wall_s: (Date.now() - t0) / 1000,
      prompt_tokens: num(/\[(\d+) prompt tokens/),
      prefill_tok_s: num(/prefill ([\d.]+) tok\/s/),
      generated_tokens: num(/\| (\d+) generated/),
      decode_tok_s: num(/decode ([\d.]+) tok\/s/),
      load_s: num(/load ([\d.]+) s/),
      model_cache_mb: num(/model\+cache (\d+) MB/),
      peak_mb: num(/peak RSS ([\d.]+) MB/),
      kernel: (/kernel ([^,\]]+)/.exec(stderr) || [])[1] ?? null,
      threads: num(/(\d+) thread/),
      text_head: stdout.slice(0, 120),
    };
    if (code !== 0 || r.decode_tok_s == null) r.error = `exit ${code}: ${lastLines(stderr)}`;
    return r;
  });
}

/** Runs `bin args` to the end (killed after `timeoutS`); resolves to its exit code and output. */
function runProcess(bin, args, timeoutS) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
    // A binary that cannot start reports only an error (ENOENT, EACCES).
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}\n${e.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last lines of a process's error output, where native tools say why they failed. */
const lastLines = (text) => text.trim().split("\n").slice(-3).join(" | ");

// ---------------------------------------------------------------------------------------------
// Native llama.cpp (llama-bench, built by bench/llama-cpp.sh): the ceiling the wasm engines approach
// ---------------------------------------------------------------------------------------------

/** One llama-bench invocation; resolves to its JSON results (an array of tests) or throws. */
async function llamaBench(o, args) {
  const { code, stdout, stderr } = await runProcess(o.llamaBench, [...args, "-o", "json"], o.timeoutS);
  try {
    if (code !== 0) throw new Error(`exit ${code}`);
    return JSON.parse(stdout);
  } catch (e) {
    throw new Error(`${o.llamaBench} ${args.join(" ")}: ${e.message}: ${lastLines(stderr)}`);
  }
}

/**
 * llama-bench on the same file and thread count: prefill of the prompt length from an empty context,
 * and decode of --gen-tokens tokens after a context of the prompt's length (`-d`), as our runs
 * decode after their prompt. One repetition per run (after llama-bench's own warm-up), so that each
 * of the --runs runs is one measurement, as for the other engines; it reports no load time or memory.
 */
export async function runLlamaCpp(o, file, threads) {
  const r = { engine: "llama.cpp", threads_requested: threads, threads };
  // llama-bench has no f32 KV cache (its -ctk takes f16 and quantized types): it keeps its f16
  // default, which reads half the KV bytes the f32 runs above do.
  const common = ["-m", file, "-t", String(threads), "-r", "1"];
  try {
    const [pp] = await llamaBench(o, [...common, "-p", String(o.promptTokens), "-n", "0"]);
    const [tg] = await llamaBench(o, [...common, "-p", "0", "-n", String(o.genTokens), "-d", String(o.promptTokens)]);
    Object.assign(r, {
      prompt_tokens: pp.n_prompt,
      prefill_tok_s: pp.avg_ts,
      generated_tokens: tg.n_gen,
      decode_tok_s: tg.avg_ts,
      kernel: `llama-bench, KV ${tg.type_k ?? "f16"}`,
      cpu: pp.cpu_info,
    });
  } catch (e) {
    r.error = e.message;
  }
  return r;
}
