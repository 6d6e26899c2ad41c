//! The streaming read loop behind the decode bound's bandwidth, the same source for both builds:
//! natively (`main.rs`, `-C target-cpu=native`) and for wasm32 with `+simd128` (the exports below,
//! driven from Web Workers by `bandwidth.mjs`). The Makefile's `build-bound` target builds both.
//!
//! The loop sums the buffer's `u64` words. LLVM vectorises it; both builds pass
//! `-C llvm-args=-force-vector-interleave=4`, so that it keeps four independent vector accumulators
//! in wasm too (it does so on x86-64 unasked, but for wasm32 it keeps one): each step is then four
//! `v128.load` + `i64x2.add` (64 bytes) in wasm, four 256-bit `vpaddq` with a memory operand (128
//! bytes) with AVX2. At two instructions per 16 or 32 bytes the core could add far faster than
//! memory delivers, so the loop runs at memory's rate. Every word is 1 and the sum is the word
//! count, which the callers check: it shows the loop read every word.

/// The wrapping sum of `words` (see the module doc).
#[inline(never)]
pub fn stream_sum(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |s, &w| s.wrapping_add(w))
}

/// A buffer of `bytes / 8` words, every one written (1), so that each page is really mapped: a
/// fresh page never written reads as the kernel's one shared zero page, from the cache. Returns the
/// first word's address; the buffer lives until the instance does. The worker that calls it is the
/// one that reads it, so its pages are first touched where they are used.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn buffer(bytes: usize) -> *mut u64 {
    let words = vec![1u64; bytes / 8];
    words.leak().as_mut_ptr()
}

/// `stream_sum` over `words` words from `ptr` (an address `buffer` returned).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn sum(ptr: *const u64, words: usize) -> u64 {
    // SAFETY: `ptr` came from `buffer`, which leaked at least `words` initialised words.
    stream_sum(unsafe { std::slice::from_raw_parts(ptr, words) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_every_word() {
        for n in [0, 1, 7, 8, 9, 64, 1001] {
            assert_eq!(super::stream_sum(&vec![1u64; n]), n as u64);
        }
        assert_eq!(super::stream_sum(&[u64::MAX, 2]), 1);
    }
}
