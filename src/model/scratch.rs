//! The CPU forward pass's working buffers, reused from one operation to the next within a step, as
//! llama2.c's `RunState` is. Each operation used to allocate its output (the norms, the int8
//! activations and their scales, every projection, attention): 36 allocations a layer, about 1,100
//! per decode token of the 30-layer 2B4T shape. Buffers come back here when the activations that hold
//! them are dropped, so a step allocates a handful of buffers (its largest live set) and the rest of
//! its layers reuse them.
//!
//! One scratch lives for one step (`Model::forward`), not for the model's life: a 512-token prefill
//! chunk needs buffers of 14 MB each, which kept for the decode that follows would be memory no one
//! counted. The logits are not drawn from here: they go to the caller.
//!
//! Measured (2026-12-06, tests/allocation_bounds.rs, one thread): a decode step of the embedded
//! model (8 layers) made 302 allocations, and 122 on a 3-layer model; now both make 38, whatever
//! the depth (with the kernels' per-call bookkeeping inline, kernels/ternary.rs). Buffers are still
//! zeroed when taken, as fresh ones were. Decode speed: bench/RESULTS.md.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Free buffers by element type. A `Mutex`, not a `RefCell`, because attention's threads draw their
/// score buffers here too; every other buffer is taken and returned on the thread that runs the
/// pass, so the lock is held for a pop or a push and is contended at most once per attention call.
#[derive(Default)]
pub struct Scratch {
    f32s: Mutex<Vec<Vec<f32>>>,
    i8s: Mutex<Vec<Vec<i8>>>,
}

/// A buffer of `len` zeros from `pool`: the smallest free one that holds `len` without growing, or
/// else the largest (grown), or else a new one.
fn take<'s, T: Copy + Default>(pool: &'s Mutex<Vec<Vec<T>>>, len: usize) -> Buf<'s, T> {
    let mut free = pool.lock().unwrap_or_else(|e| e.into_inner());
    let fits = (0..free.len()).filter(|&i| free[i].capacity() >= len).min_by_key(|&i| free[i].capacity());
    let pick = fits.or_else(|| (0..free.len()).max_by_key(|&i| free[i].capacity()));
    let mut v = pick.map(|i| free.swap_remove(i)).unwrap_or_default();
    drop(free);
    v.clear();
    v.resize(len, T::default());
    Buf { v, home: Some(pool) }
}

impl Scratch {
    /// `len` f32 zeros, returned here when dropped.
    pub fn f32s(&self, len: usize) -> Buf<'_, f32> {
        take(&self.f32s, len)
    }

    /// `len` i8 zeros, returned here when dropped.
    pub fn i8s(&self, len: usize) -> Buf<'_, i8> {
        take(&self.i8s, len)
    }
}

/// A vector that goes back to its scratch when dropped (or one of its own, which does not).
pub struct Buf<'s, T> {
    v: Vec<T>,
    home: Option<&'s Mutex<Vec<Vec<T>>>>,
}

impl<T> Buf<'_, T> {
    /// The vector itself, which leaves the scratch for good.
    pub fn into_vec(mut self) -> Vec<T> {
        self.home = None;
        std::mem::take(&mut self.v)
    }
}

impl<T> From<Vec<T>> for Buf<'_, T> {
    fn from(v: Vec<T>) -> Self {
        Buf { v, home: None }
    }
}

impl<T> Deref for Buf<'_, T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.v
    }
}

impl<T> DerefMut for Buf<'_, T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.v
    }
}

impl<T> Drop for Buf<'_, T> {
    fn drop(&mut self) {
        if let Some(pool) = self.home {
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(std::mem::take(&mut self.v));
        }
    }
}
