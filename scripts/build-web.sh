#!/usr/bin/env bash
# Builds the browser bundle once, for both the page and the npm package:
#   pkg/dist/                 the npm package's files: the JS library (pkg/src) plus four wasm builds,
#     wasm-relaxed/           SIMD128 + relaxed SIMD (chosen when the browser supports it)
#     wasm-simd/              SIMD128 only (the fallback)
#     wasm-threads/           relaxed SIMD + threads (rayon on Web Workers started by threads.js; needs a
#                             cross-origin isolated page)
#     wasm-threads-simd/      SIMD128 + threads (threads-simd.js), for isolated pages in browsers
#                             without relaxed SIMD (Safari)
#   www/lib/                  a copy of pkg/dist that the page and its service worker load
set -euo pipefail
cd "$(dirname "$0")/.."
source .setup/env.sh
ROOT=$PWD
# CHECK=1 (`make check`): the two SIMD128 builds, which Chromium never loads, are rebuilt only when
# they are missing; the inner loop then builds two of the four.
simd128_wanted() { [ "${CHECK:-0}" != 1 ] || [ ! -f "$ROOT/target/web/$1/bitnet_web_bg.wasm" ]; }
# Each build is `wasm-pack build --no-opt`; wasm-opt runs afterwards on all of them, two at a time.
# `wasm-opt -O3` (the level and features of Cargo.toml's wasm-pack list) takes 85 s of one core a build
# on this 2-core machine: binaryen's npm build is single-threaded, so two side by side take the time
# of one. CHECK=1 runs -O1 instead (4.20 MB instead of 3.99, 26 s); the package's size budget is then
# not checked (npm-package.test.mjs), since it is not what ships.
# -O3 is kept for what ships and what `make test` tests: at -O1 the threaded build decodes ~16 % slower
# on two threads (bench/RESULTS.md, "Scratch per step, and wasm-opt -O1 against -O3").
built=()
# build NAME [threads] [cargo args...]: target/web/NAME, in the threaded builds' environment
# (wasm-threads-env.sh: build-std with atomics, shared memory) when the second word is `threads`.
build() {
  local out="$ROOT/target/web/$1" threads=0
  shift
  if [ "${1:-}" = threads ]; then threads=1; shift; fi
  (
    if [ "$threads" = 1 ]; then source scripts/wasm-threads-env.sh; fi
    wasm-pack build --release --no-opt --target web --no-pack --out-dir "$out" . "$@"
  )
  built+=("$out/bitnet_web_bg.wasm")
}
# The SIMD levels are the crate's `relaxed-simd` feature (default on), not RUSTFLAGS, so each pair
# shares one build of the dependencies (Cargo.toml says why). The SIMD128 build goes first: `make
# test-browser` ends on the SIMD128 suites, so the non-threaded pair switches once, here.
if simd128_wanted wasm-simd; then
  build wasm-simd --no-default-features
fi
build wasm-relaxed
build wasm-threads threads
if simd128_wanted wasm-threads-simd; then
  build wasm-threads-simd threads --no-default-features
fi
level=-O3
[ "${CHECK:-0}" = 1 ] && level=-O1
features=$(sed -n 's/^wasm-opt = \["-O3", \(.*\)\]$/\1/p' Cargo.toml | head -1 | tr -d '",')
[ -n "$features" ] || { echo "build-web.sh: no wasm-opt list in Cargo.toml" >&2; exit 1; }
echo "wasm-opt $level on ${#built[@]} builds, two at a time"
printf '%s\0' "${built[@]}" | xargs -0 -P 2 -I{} wasm-opt $level $features {} -o {}
rm -rf pkg/dist
mkdir -p pkg/dist
cp pkg/src/*.js pkg/dist/
# Only the glue and the wasm: the glue's own .d.ts files describe internals the package never exposes.
for b in wasm-relaxed wasm-simd wasm-threads wasm-threads-simd; do
  mkdir -p "pkg/dist/$b"
  cp "target/web/$b/bitnet_web.js" "target/web/$b/bitnet_web_bg.wasm" "pkg/dist/$b/"
done
rm -rf www/lib
cp -r pkg/dist www/lib
# The chat page's own dependencies (package.json pins them), as the ES modules it imports.
mkdir -p www/vendor
cp node_modules/marked/lib/marked.esm.js www/vendor/marked.js
cp node_modules/dompurify/dist/purify.es.mjs www/vendor/purify.js
cp node_modules/idb-keyval/dist/index.js www/vendor/idb-keyval.js
echo "built pkg/dist and www/lib ($(du -sh pkg/dist | cut -f1))"
