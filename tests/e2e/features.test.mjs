// SIMD detection (pkg/src/features.js): relaxed SIMD counts only when all twenty of its ops
// validate, each in a module that uses it with its exact operands. Checked in Node's V8 with relaxed
// SIMD on and off, and in Chromium, where the worker picks the relaxed build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, openBrowser } from "./browser.mjs";

const FEATURES = pathToFileURL(path.join(ROOT, "pkg/src/features.js")).href;

/** Runs `expr` (with `f` = the features module) in a Node process with the given V8 flags. */
function inNode(flags, expr) {
  const src = `import(${JSON.stringify(FEATURES)}).then((f) => console.log(JSON.stringify(${expr})))`;
  return JSON.parse(execFileSync(process.execPath, [...flags, "-e", src], { encoding: "utf8" }));
}

test("with relaxed SIMD every op's probe validates, and only with its own operands", () => {
  const r = inNode(["--experimental-wasm-relaxed-simd"], `{
    level: f.simdLevel(),
    missing: f.missingRelaxedOps(),
    // Each relaxed op validates with exactly one operand count: its own.
    exactArity: Array.from({ length: 20 }, (_, i) => 0x100 + i)
      .filter((op) => [1, 2, 3].filter((n) => WebAssembly.validate(f.probe(op, n))).length === 1).length,
    unknownOp: WebAssembly.validate(f.probe(0x114, 2)),
  }`);
  assert.deepEqual(r, { level: "relaxed", missing: [], exactArity: 20, unknownOp: false });
});

test("without relaxed SIMD the SIMD128 build is chosen, with every relaxed op reported missing", () => {
  const r = inNode([], "{ level: f.simdLevel(), missing: f.missingRelaxedOps().length }");
  // Node 20's V8 has relaxed SIMD behind a flag only.
  assert.deepEqual(r, { level: "simd", missing: 20 });
});

test("Chromium has all of relaxed SIMD", async () => {
  const b = await openBrowser();
  try {
    await b.page.goto(b.base);
    const r = await b.page.evaluate(async () => {
      const f = await import("./lib/features.js");
      return { level: f.simdLevel(), missing: f.missingRelaxedOps() };
    });
    assert.deepEqual(r, { level: "relaxed", missing: [] });
  } finally {
    await b.close();
  }
});

// Relaxed SIMD is a crate feature enabled on the relaxed kernels only (Cargo.toml), so what keeps
// it out of the SIMD128 builds is that feature, not the build's flags: each shipped build must
// validate exactly where its level says, the SIMD128 ones in an engine without relaxed SIMD and the
// relaxed ones only in an engine with it.
test("each shipped build validates where its SIMD level says, and the SIMD128 builds have no relaxed op", () => {
  const builds = { "wasm-relaxed": true, "wasm-threads": true, "wasm-simd": false, "wasm-threads-simd": false };
  const files = Object.keys(builds).map((b) => path.join(ROOT, "pkg/dist", b, "bitnet_web_bg.wasm"));
  const validates = (flags) => inNode(flags, `${JSON.stringify(files)}.map((p) =>
    WebAssembly.validate(require("node:fs").readFileSync(p)))`);
  const without = validates([]);
  const withRelaxed = validates(["--experimental-wasm-relaxed-simd"]);
  Object.entries(builds).forEach(([build, relaxed], i) => {
    assert.equal(withRelaxed[i], true, `${build} must validate with relaxed SIMD`);
    assert.equal(without[i], !relaxed, `${build} ${relaxed ? "must use" : "must not use"} relaxed SIMD`);
  });
});
