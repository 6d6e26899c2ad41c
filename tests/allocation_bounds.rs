//! Corrupt headers must not make the reader allocate more than the input can back: a 100-byte file
//! that claims 2^40 tensors or a 2^62-byte string must fail without reserving that memory.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bitnet_web::gguf;
use common::raw::Raw;

/// Records the largest single allocation made by this test binary.
struct Largest;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

#[test]
fn lying_headers_allocate_nothing_large() {
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
