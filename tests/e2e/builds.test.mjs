// Which build the worker starts (pkg/src/builds.js), against its documented rule: more than one
// thread needs a cross-origin isolated page with SharedArrayBuffer, whatever the SIMD level (Safari,
// without relaxed SIMD, gets the threaded SIMD128 build); "auto" is every core up to 8.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planBuild, planHere, threadCount } from "../../pkg/src/builds.js";

test("threads: \"auto\" is every core up to 8; a number is taken as asked, at least 1", () => {
  assert.equal(threadCount("auto", 4), 4);
  assert.equal(threadCount(undefined, 16), 8);
  assert.equal(threadCount("auto", undefined), 1);
  assert.equal(threadCount(3, 16), 3);
  assert.equal(threadCount(0, 16), 1);
  assert.equal(threadCount("2", 1), 2);
});

test("an isolated page with SharedArrayBuffer runs threaded at either SIMD level", () => {
  for (const simd of ["relaxed", "simd"]) {
    assert.deepEqual(planBuild({ simd, threads: 2, cores: 8, isolated: true, shared: true }), { simd, threads: 2, note: null });
    assert.deepEqual(planBuild({ simd, threads: "auto", cores: 4, isolated: true, shared: true }), { simd, threads: 4, note: null });
  }
});

test("otherwise one thread, with the reason", () => {
  const notIsolated = planBuild({ simd: "simd", threads: 2, cores: 8, isolated: false, shared: false });
  assert.equal(notIsolated.threads, 1);
  assert.match(notIsolated.note, /not cross-origin isolated/);
  // WebKitGTK: isolated, but its JavaScriptCore has SharedArrayBuffer off.
  const noShared = planBuild({ simd: "simd", threads: 2, cores: 8, isolated: true, shared: false });
  assert.equal(noShared.threads, 1);
  assert.match(noShared.note, /no SharedArrayBuffer/);
  // One thread asked for (or one core): no reason to give.
  assert.deepEqual(planBuild({ simd: "relaxed", threads: 1, cores: 8, isolated: true, shared: true }), { simd: "relaxed", threads: 1, note: null });
  assert.deepEqual(planBuild({ simd: "simd", threads: "auto", cores: 1, isolated: false, shared: false }), { simd: "simd", threads: 1, note: null });
});

test("planHere reads a global scope's isolation, SharedArrayBuffer and cores", () => {
  const scope = { navigator: { hardwareConcurrency: 6 }, crossOriginIsolated: true, SharedArrayBuffer: function SharedArrayBuffer() {} };
  assert.deepEqual(planHere("simd", "auto", scope), { simd: "simd", threads: 6, note: null });
  assert.equal(planHere("simd", "auto", { ...scope, SharedArrayBuffer: undefined }).threads, 1);
  assert.equal(planHere("simd", "auto", { ...scope, crossOriginIsolated: false }).threads, 1);
});
