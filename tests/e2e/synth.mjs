// Files the tests make (`bitnet-web synth`, the fixture scripts) live in target/synth: git-ignored,
// made once and reused by later runs, and never in www/, which `make serve` serves. The tests'
// server (browser.mjs) serves this folder at /synth/.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SYNTH_DIR = path.join(ROOT, "target/synth");
const BIN = path.join(ROOT, "target/release/bitnet-web");

/**
 * `name` in target/synth, made by `make(partPath)` the first time (written beside it and renamed,
 * so a run cut short leaves no half file): { file, url }, `url` relative to the tests' server.
 */
export function made(name, make) {
  const file = path.join(SYNTH_DIR, name);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(SYNTH_DIR, { recursive: true });
    make(file + ".part");
    fs.renameSync(file + ".part", file);
  }
  return { file, url: `synth/${name}` };
}

/** A model of a published shape (`bitnet-web synth --shape`), shared with tests/gpu_large.rs. */
export function synthShape(shape) {
  if (!fs.existsSync(BIN)) execFileSync("cargo", ["build", "--release", "--bin", "bitnet-web"], { cwd: ROOT, stdio: "inherit" });
  return made(`${shape}.gguf`, (part) => execFileSync(BIN, ["synth", part, "--shape", shape], { stdio: "inherit" }));
}
