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
wasm-pack build --release --target web --no-pack --out-dir "$ROOT/target/web/wasm-relaxed" .
# RUSTFLAGS replaces .cargo/config.toml's target rustflags (a CARGO_TARGET_*_RUSTFLAGS would merge).
CARGO_TARGET_DIR=target/simd128 RUSTFLAGS="-C target-feature=+simd128,-relaxed-simd" \
  wasm-pack build --release --target web --no-pack --out-dir "$ROOT/target/web/wasm-simd" .
# The threaded builds: their environment (build-std with atomics, shared memory) is in wasm-threads-env.sh.
( source scripts/wasm-threads-env.sh
  wasm-pack build --release --target web --no-pack --out-dir "$ROOT/target/web/wasm-threads" . )
( THREADS_SIMD=simd128 source scripts/wasm-threads-env.sh
  wasm-pack build --release --target web --no-pack --out-dir "$ROOT/target/web/wasm-threads-simd" . )
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
