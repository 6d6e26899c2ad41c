# bitnet-web: the two commands a newcomer needs are `make serve` and `make test`.
# Each runs scripts/setup.sh first (seconds when everything is installed), so a fresh clone needs nothing else.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
ENV := source .setup/env.sh &&
PORT ?= 8080
export CARGO_BUILD_JOBS ?= 2

.PHONY: setup serve test test-native test-browser test-e2e build-web fixtures fuzz

setup:
	@bash scripts/setup.sh

# The browser build (SIMD128 + relaxed SIMD) into www/pkg, then a COOP/COEP server on localhost.
build-web: setup
	$(ENV) wasm-pack build --release --target web --out-dir www/pkg --no-pack .

serve: build-web
	$(ENV) node scripts/serve.mjs www $(PORT)

test: setup test-native test-browser test-e2e
	@echo "make test: all suites passed"

test-native: setup
	$(ENV) cargo test --release

# Twice: the relaxed-SIMD build (.cargo/config.toml) and a SIMD128-only build for browsers without
# relaxed SIMD, in its own target directory.
test-browser: setup
	$(ENV) wasm-pack test --headless --chrome --release .
	$(ENV) BITNET_WEB_BUILD=simd128 CARGO_TARGET_DIR=target/simd128 \
	  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128" \
	  wasm-pack test --headless --chrome --release .

test-e2e: build-web
	$(ENV) node --test tests/e2e/

# Regenerate the gguf-py fixtures (needs no network beyond PyPI at setup time).
fixtures: setup
	.venv/bin/python tests/fixtures/make_gguf_fixtures.py

# Fuzz the streaming reader (nightly + cargo-fuzz): make fuzz FUZZ_SECONDS=300
FUZZ_SECONDS ?= 60
# The seed corpus is the committed fixtures, each behind one byte that picks the chunk size.
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz
	mkdir -p fuzz/corpus/gguf_stream
	for f in tests/fixtures/gguf/*.gguf; do printf '\x07' | cat - $$f > fuzz/corpus/gguf_stream/seed-$$(basename $$f); done
	cd fuzz && RUSTUP_TOOLCHAIN=nightly cargo fuzz run gguf_stream -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1
