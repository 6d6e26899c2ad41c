# Environment for the threaded wasm builds (source it): std rebuilt with atomics (build-std, from
# Debian's rust-web-src), shared memory imported from JavaScript so rayon's Web Workers share it,
# and the thread-local-storage exports wasm-bindgen's thread support needs. Memory may grow to 4 GiB,
# as in the other builds.
#
# Both threaded builds use it: wasm-threads (relaxed SIMD, the crate's default features) and
# wasm-threads-simd (`--no-default-features`: SIMD128 only, for browsers with SharedArrayBuffer but no
# relaxed SIMD, Safari). They share target/threads, std and every dependency's build; switching
# between them recompiles only this crate.
export RUSTC_BOOTSTRAP=1
# `test` is in the list although the product never links it: `cargo test` adds it to the std it
# builds, and a std built from another list has another hash, so every dependency built on it is
# rebuilt. With the same list, the product build after `make test-browser`'s threaded suite reuses
# that suite's whole build (0.4 s instead of 3 min 44 s on the 2-core VM, 2026-12-06).
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort,test
export CARGO_TARGET_DIR=target/threads BITNET_WEB_BUILD=threads
export RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 \
-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
-C link-arg=--export=__tls_base"
