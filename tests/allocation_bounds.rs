//! Corrupt headers must not make the reader allocate more than the input can back: a 100-byte file
//! that claims 2^40 tensors or a 2^62-byte string must fail without reserving that memory. And the
//! CPU forward pass allocates per step, not per operation (src/model/scratch.rs).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bitnet_web::gguf;
use bitnet_web::model::{ForwardOptions, KvCache, KvPrecision, LoadOptions, Logits, load_bytes};
use common::raw::Raw;

/// Records the largest single allocation made by this test binary, and counts them.
struct Largest;
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        COUNT.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        COUNT.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

/// The tests measure the whole process, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn lying_headers_allocate_nothing_large() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cases = vec![Raw::header(3, 1 << 40, 0), Raw::header(3, 0, 1 << 40), Raw::header(3, u64::MAX, u64::MAX)];
    let mut r = Raw::header(3, 0, 1);
    r.str("a").u32(9).u32(8).u64(1 << 24); // 16M strings declared, none present
    cases.push(r);
    let mut r = Raw::header(3, 0, 1);
    r.str("a").u32(9).u32(0).u64(200 << 20); // 200M bytes declared, none present
    cases.push(r);
    let mut r = Raw::header(3, 0, 1);
    r.str("a").u32(8).u64(1 << 62);
    cases.push(r);
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[1 << 20, 1 << 20, 1 << 10], 0, 0); // 4 PiB of f32 declared
    cases.push(r);
    for r in cases {
        let bytes = r.build();
        LARGEST.store(0, Ordering::Relaxed);
        let result = gguf::read_all(&bytes);
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(result.is_err());
        assert!(largest < 64 * 1024, "{} input bytes made a {largest}-byte allocation", bytes.len());
    }
}

/// A decode step draws its activations from one scratch (src/model/scratch.rs), so it allocates the
/// same few buffers whatever the model's depth; one allocation per operation would add about 20 a
/// layer. On one thread: a pool's work queue allocates as it likes.
#[test]
fn a_decode_step_allocates_the_same_buffers_whatever_the_depth() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let mut seen = Vec::new();
    for file in ["tests/fixtures/reference/tiny_a.i2_s.gguf", "www/models/bitnet-tiny-chat.i2_s.gguf"] {
        let (model, _) = load_bytes(&std::fs::read(file).unwrap(), LoadOptions::default()).unwrap();
        let c = &model.config;
        let mut cache = KvCache::new(c.n_layer, c.kv_dim(), c.head_dim, 16, KvPrecision::F32);
        let opts = ForwardOptions::default();
        let count = one_thread.install(|| {
            model.forward(&mut cache, &[1, 2, 3], Logits::Last, opts).unwrap();
            model.forward(&mut cache, &[4], Logits::Last, opts).unwrap();
            COUNT.store(0, Ordering::Relaxed);
            model.forward(&mut cache, &[5], Logits::Last, opts).unwrap();
            COUNT.load(Ordering::Relaxed)
        });
        println!("{file}: {} layers, {count} allocations in a decode step", c.n_layer);
        seen.push((c.n_layer, count));
    }
    assert_ne!(seen[0].0, seen[1].0, "the two models must differ in depth for this to show anything");
    assert_eq!(seen[0].1, seen[1].1, "allocations in a decode step grew with the depth: {seen:?}");
}
