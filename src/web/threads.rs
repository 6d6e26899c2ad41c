//! Rayon's threads as Web Workers, started in a way every bundler understands.
//!
//! wasm-bindgen-rayon's own start-up comes in two flavours, and each breaks one way our package is
//! used: its bundler mode imports the glue as `import('../../..')` (a folder, which a browser
//! without a bundler cannot load), and its `no-bundler` mode builds the worker from
//! `import.meta.url` at run time (which Vite and webpack cannot see, so they never emit the files;
//! under webpack the URL is even the build machine's `file://` path). So the split is ours: the
//! package's `threads.js` spawns each worker with the literal `new Worker(new URL(…,
//! import.meta.url))` that bundlers follow, instantiates this module on the shared memory, and calls
//! [`run_thread`]; the engine's worker then calls [`build_thread_pool`], which hands each waiting
//! worker one of rayon's threads.

use std::sync::{Condvar, Mutex};

use rayon::{ThreadBuilder, ThreadPoolBuilder};
use wasm_bindgen::prelude::*;

use super::errors::js_error;

/// Rayon threads waiting for a worker to run them.
static WAITING: Mutex<Vec<ThreadBuilder>> = Mutex::new(Vec::new());
static HANDED_OUT: Condvar = Condvar::new();

/// Runs in each thread's worker (after it instantiated this module on the shared memory): blocks
/// until [`build_thread_pool`] hands it a rayon thread, then runs that thread for good.
#[wasm_bindgen(js_name = runThread)]
pub fn run_thread() {
    let thread = {
        let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(t) = waiting.pop() {
                break t;
            }
            waiting = HANDED_OUT.wait(waiting).unwrap_or_else(|e| e.into_inner());
        }
    };
    thread.run();
}

/// Builds rayon's global pool on `n` threads, once `n` workers are waiting in [`run_thread`].
#[wasm_bindgen(js_name = buildThreadPool)]
pub fn build_thread_pool(n: usize) -> Result<(), JsValue> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .spawn_handler(|thread| {
            WAITING.lock().unwrap_or_else(|e| e.into_inner()).push(thread);
            HANDED_OUT.notify_one();
            Ok(())
        })
        .build_global()
        .map_err(|e| js_error("Error", &format!("the thread pool did not start: {e}")))
}

/// The compiled module and the shared memory, which each thread's worker instantiates on:
/// `[module, memory]`.
#[wasm_bindgen(js_name = threadInit)]
pub fn thread_init() -> js_sys::Array {
    [wasm_bindgen::module(), wasm_bindgen::memory()].into_iter().collect()
}
