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
# wasm-pack runs `wasm-opt -O3` (Cargo.toml) on each build: 3.99 MB, 95 s a build on this 2-core machine.
# CHECK=1 runs -O1 instead (4.20 MB, 26 s), within the package's size budget.
# -O3 is kept for what ships and what `make test` tests: at -O1 the threaded build decodes ~16 % slower on two
# threads (bench/RESULTS.md, "Scratch per step, and wasm-opt -O1 against -O3").
wasm_pack_build() {
  if [ "${CHECK:-0}" = 1 ]; then
    wasm-pack build --release --no-opt "$@"
    local wasm="${@: -2:1}/bitnet_web_bg.wasm"
    # The same features as Cargo.toml's wasm-opt list, at -O1.
    local features
    features=$(sed -n 's/^wasm-opt = \["-O3", \(.*\)\]$/\1/p' Cargo.toml | head -1 | tr -d '",')
    wasm-opt -O1 $features "$wasm" -o "$wasm"
  else
    wasm-pack build --release "$@"
  fi
}
wasm_pack_build --target web --no-pack --out-dir "$ROOT/target/web/wasm-relaxed" .
# RUSTFLAGS replaces .cargo/config.toml's target rustflags (a CARGO_TARGET_*_RUSTFLAGS would merge).
if simd128_wanted wasm-simd; then
  CARGO_TARGET_DIR=target/simd128 RUSTFLAGS="-C target-feature=+simd128,-relaxed-simd" \
    wasm_pack_build --target web --no-pack --out-dir "$ROOT/target/web/wasm-simd" .
fi
# The threaded builds: their environment (build-std with atomics, shared memory) is in wasm-threads-env.sh.
( source scripts/wasm-threads-env.sh
  wasm_pack_build --target web --no-pack --out-dir "$ROOT/target/web/wasm-threads" . )
if simd128_wanted wasm-threads-simd; then
  ( THREADS_SIMD=simd128 source scripts/wasm-threads-env.sh
    wasm_pack_build --target web --no-pack --out-dir "$ROOT/target/web/wasm-threads-simd" . )
fi
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
