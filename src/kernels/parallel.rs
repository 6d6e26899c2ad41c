//! Row-split threading with a spinning team.
//!
//! A matrix product splits its output rows into parts that the calling thread and its helpers claim
//! one by one, so each thread streams its own rows of the weights once. A decoded token runs some
//! 200 products of well under a millisecond each, so dispatch must cost microseconds: measured in
//! Chromium, handing each product to rayon (whose idle threads sleep in `Atomics.wait`) cost about
//! 0.3 ms per product and left two threads no faster than one. Helpers here therefore spin on an
//! atomic word between products, as llama.cpp's threads do, and retire to the rayon pool (which
//! starts them: Web Workers in the threaded wasm build, OS threads natively) after a few
//! milliseconds without work, so an idle page burns no CPU.
//!
//! Where there are no threads (the single-thread wasm build, or a pool of one) parts run on the
//! calling thread with no synchronisation at all.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Threads the kernels may use: the caller plus helpers, at most `limit_threads`'s.
pub fn threads() -> usize {
    rayon::current_num_threads().min(LIMIT.load(Ordering::Relaxed)).max(1)
}

/// Threads the pool has (what `threads` is with no limit).
pub fn pool_threads() -> usize {
    rayon::current_num_threads()
}

/// At most this many threads from now on (`None`: the whole pool): "benchmark this device" measures
/// at each count from 1 up. A helper that finds more helpers than the limit allows retires at the
/// next product, so going down takes effect at once.
pub fn limit_threads(n: Option<usize>) {
    LIMIT.store(n.unwrap_or(usize::MAX).max(1), Ordering::Relaxed);
}

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Calls `f(first_row, chunk)` for consecutive chunks of `out`, where `out` holds `out.len() /
/// row_len` rows of `row_len` values, in parallel when there are threads. Chunks have at least 16
/// rows, enough work to be worth a hand-off when a row is a matrix row.
pub fn for_each_row_chunk<F>(out: &mut [f32], row_len: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    for_each_row_chunk_of(out, row_len, 16, f);
}

/// `for_each_row_chunk` with chunks of at least `min_rows` rows (for rows that are heavier than a
/// matrix row, such as one head's attention).
pub fn for_each_row_chunk_of<F>(out: &mut [f32], row_len: usize, min_rows: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let rows = out.len() / row_len.max(1);
    let base = SendPtr(out.as_mut_ptr());
    for_each_row_range(rows, min_rows, |range| {
        // SAFETY: ranges are disjoint rows of `out`, which outlives the call.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.get().add(range.start * row_len), range.len() * row_len) };
        f(range.start, chunk);
    });
}

/// Calls `f(rows)` for consecutive ranges covering `0..rows` (at least `min_rows` each), in
/// parallel when there are threads: for outputs that are not one contiguous chunk per range.
pub fn for_each_row_range<F>(rows: usize, min_rows: usize, f: F)
where
    F: Fn(std::ops::Range<usize>) + Sync,
{
    let threads = threads();
    if threads <= 1 || rows < 2 * min_rows.max(1) {
        f(0..rows);
        return;
    }
    // Many parts per thread: whoever finishes last holds up the whole product, and a decoded token
    // runs ~120 of them. In Chromium at 2 threads (2B4T decode, interleaved runs) 16 parts per
    // thread instead of 4 took the gate/up product from 27.5 to 24.7 ms per token, down from 13.3
    // to 12.3, the head from 16.9 to 14.6; a claim is one compare-and-swap.
    let parts = (threads * 16).min(rows / min_rows.max(1)).max(1);
    let per_part = rows.div_ceil(parts);
    TEAM.run(threads, parts, &|part| {
        let range = part * per_part..((part + 1) * per_part).min(rows);
        if !range.is_empty() {
            f(range);
        }
    });
}

/// A raw pointer that threads may share, for writes to disjoint elements.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);
// SAFETY: only used to hand disjoint sub-slices to the team's threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

/// A job: called once per part index. The lifetime is erased while it is published; `run` does not
/// return before every claimed part has finished, so the borrow outlives every call.
type Job = &'static (dyn Fn(usize) + Sync);

struct Team {
    /// One caller at a time (native tests call from several threads).
    caller: Mutex<()>,
    /// The current job, on its caller's stack. A helper reads it after seeing a new generation in
    /// `claims` and calls it only once a claim of that generation succeeds, which proves the job is
    /// still running (a newer job is only published after every part of this one is done). No lock:
    /// a caller must never wait for a helper, since on a page's main thread waiting traps
    /// ("Atomics.wait cannot be called in this context").
    job: AtomicPtr<Job>,
    /// generation (high 32 bits) | parts (16) | next unclaimed part (16): one word, so a claim can
    /// never take a part of a newer job than the one the helper read.
    claims: AtomicU64,
    /// Parts of the current job finished.
    done: AtomicUsize,
    /// Helpers currently spinning for work.
    helpers: AtomicUsize,
}

static TEAM: Team = Team {
    caller: Mutex::new(()),
    job: AtomicPtr::new(std::ptr::null_mut()),
    claims: AtomicU64::new(0),
    done: AtomicUsize::new(0),
    helpers: AtomicUsize::new(0),
};

/// Spins a helper makes without finding work before it retires (a few milliseconds).
const IDLE_SPINS: u32 = 1 << 23;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn pack(generation: u32, parts: usize, next: usize) -> u64 {
    (generation as u64) << 32 | (parts as u64) << 16 | next as u64
}

impl Team {
    fn run(&'static self, threads: usize, parts: usize, job: &(dyn Fn(usize) + Sync)) {
        assert!(parts < 1 << 16);
        let _caller = lock(&self.caller);
        let previous = (self.claims.load(Ordering::Acquire) >> 32) as u32;
        let generation = previous.wrapping_add(1);
        // Top up the helpers; each takes a rayon thread until it retires. A new helper counts the
        // previous job as seen, so it joins this one however late it starts.
        while self.helpers.load(Ordering::Acquire) < threads - 1 {
            self.helpers.fetch_add(1, Ordering::AcqRel);
            rayon::spawn(move || self.help(previous));
        }
        // SAFETY: erases the borrow's lifetime; see `Job`.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(job) };
        self.job.store(&job as *const Job as *mut Job, Ordering::Release);
        self.done.store(0, Ordering::Release);
        self.claims.store(pack(generation, parts, 0), Ordering::Release);
        while let Some(part) = self.claim(generation) {
            job(part);
            self.done.fetch_add(1, Ordering::AcqRel);
        }
        while self.done.load(Ordering::Acquire) < parts {
            std::hint::spin_loop();
        }
    }

    /// Takes the next part of job `generation`, if that job is current and has parts left.
    fn claim(&self, generation: u32) -> Option<usize> {
        let mut word = self.claims.load(Ordering::Acquire);
        loop {
            let (g, parts, next) = ((word >> 32) as u32, (word >> 16) as usize & 0xffff, word as usize & 0xffff);
            if g != generation || next >= parts {
                return None;
            }
            match self.claims.compare_exchange_weak(word, word + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(w) => word = w,
            }
        }
    }

    fn help(&'static self, mut seen: u32) {
        let mut idle = 0u32;
        loop {
            let generation = (self.claims.load(Ordering::Acquire) >> 32) as u32;
            if generation == seen {
                idle += 1;
                if idle >= IDLE_SPINS {
                    self.helpers.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                std::hint::spin_loop();
                continue;
            }
            seen = generation;
            idle = 0;
            // Over the limit (`limit_threads` went down): one helper too many retires.
            let helpers = self.helpers.load(Ordering::Acquire);
            if helpers + 1 > threads() && self.helpers.compare_exchange(helpers, helpers - 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return;
            }
            // At least this generation's job (published before `claims`), perhaps a newer one's.
            let job = self.job.load(Ordering::Acquire);
            while let Some(part) = self.claim(generation) {
                // SAFETY: the claim succeeded for this generation, so its caller is still inside
                // `run`, waiting for this part, and has not published a newer job: `job` is this
                // generation's and alive.
                unsafe { (*job)(part) };
                self.done.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}
