# Environment for the threaded wasm build (source it): std rebuilt with atomics (build-std, from
# Debian's rust-web-src), shared memory imported from JavaScript so rayon's Web Workers share it,
# and the thread-local-storage exports wasm-bindgen's thread support needs. Its own target dir keeps
# the single-thread builds' artifacts intact. Memory may grow to 4 GiB, as in the other builds.
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_TARGET_DIR=target/threads
export BITNET_WEB_BUILD=threads
export RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd \
-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
-C link-arg=--export=__tls_base"
