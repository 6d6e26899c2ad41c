# bitnet-web: the two commands a newcomer needs are `make serve` and `make test`.
# Each runs scripts/setup.sh first (seconds when everything is installed), so a fresh clone needs nothing else.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
ENV := source .setup/env.sh &&
PORT ?= 8080
export CARGO_BUILD_JOBS ?= 2

.PHONY: setup serve test test-native test-browser test-e2e build-web fixtures reference model fuzz

setup:
	@bash scripts/setup.sh

# The browser bundle (relaxed-SIMD and SIMD128 builds + the JS library) into pkg/dist and www/lib.
build-web: setup
	bash scripts/build-web.sh

serve: build-web
	$(ENV) node scripts/serve.mjs www $(PORT)

test: setup test-native test-browser test-e2e
	@echo "make test: all suites passed"

test-native: setup
	$(ENV) cargo test --release

# Twice: the relaxed-SIMD build (.cargo/config.toml) and a SIMD128-only build for browsers without
# relaxed SIMD, in its own target directory. RUSTFLAGS replaces the config's target rustflags
# (CARGO_TARGET_*_RUSTFLAGS would be merged with them and keep relaxed SIMD on).
test-browser: setup
	$(ENV) wasm-pack test --headless --chrome --release .
	$(ENV) BITNET_WEB_BUILD=simd128 CARGO_TARGET_DIR=target/simd128 \
	  RUSTFLAGS="-C target-feature=+simd128,-relaxed-simd" \
	  wasm-pack test --headless --chrome --release .

test-e2e: build-web
	$(ENV) node --test tests/e2e/

# Regenerate the committed fixtures from the tools we did not write: gguf-py (formats) and the npm
# llama3-tokenizer-js (tokenizer ids). None of this runs in `make test`.
fixtures: setup
	.venv/bin/python tests/fixtures/make_gguf_fixtures.py
	node tests/fixtures/make_tokenizer_cases.mjs

# HF transformers reference models and logits (torch; about 10 minutes on one core).
reference:
	test -x .venv-train/bin/python || (python3 -m venv .venv-train && .venv-train/bin/pip install -q -r requirements-train.txt)
	.venv-train/bin/python tests/fixtures/make_reference.py

# Train the embedded default model from scratch (about 80 minutes on one core); see train/README.md.
model:
	bash train/make_model.sh

# Fuzz the streaming reader (nightly + cargo-fuzz): make fuzz FUZZ_SECONDS=300
FUZZ_SECONDS ?= 60
# The seed corpus is the committed fixtures, each behind one byte that picks the chunk size.
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz
	mkdir -p fuzz/corpus/gguf_stream
	for f in tests/fixtures/gguf/*.gguf; do printf '\x07' | cat - $$f > fuzz/corpus/gguf_stream/seed-$$(basename $$f); done
	cd fuzz && RUSTUP_TOOLCHAIN=nightly cargo fuzz run gguf_stream -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1
