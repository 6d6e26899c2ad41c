//! Tells an out-of-memory trap from other traps. In wasm32 a failed allocation aborts (a trap, the
//! same `RuntimeError: unreachable` as any bug), and the engine's worker could only say "crashed".
//! This allocator wraps the system one and remembers the size of an allocation it could not make;
//! after a trap the worker reads it (`failedAllocation`) and reports an `OutOfMemoryError` with the
//! sizes involved instead.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use wasm_bindgen::prelude::*;

static FAILED: AtomicUsize = AtomicUsize::new(0);

struct Recording;

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            FAILED.store(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            FAILED.store(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            FAILED.store(new_size, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// Bytes of the allocation that last failed (0: none has).
#[wasm_bindgen(js_name = failedAllocation)]
pub fn failed_allocation() -> f64 {
    FAILED.load(Ordering::Relaxed) as f64
}
