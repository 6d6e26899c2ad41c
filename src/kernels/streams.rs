//! The order a thread reads its rows in: from several places of its range at once, not front to
//! back.
//!
//! Why: a matrix-vector product streams its weights from memory once, and a core's hardware
//! prefetcher keeps only a few lines in flight per stream. On the Intel Xeon of issue 20 (family
//! 6, model 167) the relaxed-SIMD GEMV over a 131 MB matrix ran at 14.4 GMAC/s reading rows
//! front to back, against 50 on a matrix in cache: decode was waiting for memory, not for
//! instructions (a native read loop with 17 AVX2 instructions per 32 bytes streamed 6.7 GB/s
//! against 12.9 for a bare read). Taking each next row from another of `STREAMS` places gives the
//! prefetcher that many streams to run ahead on. Measured in Chromium (`make bench-kernels
//! BENCH_ARGS="204800 2560 15 5"`, one thread, GMAC/s): ternary GEMV 14.4 → 25.0 / 32.8 / 34.2 /
//! 32.8 from 2 / 4 / 8 / 16 places, the 4-bit shortlist head 7.9 → 15.4 from 8. Inside one
//! thread's part of a product (tens to thousands of rows) 8 places are kilobytes apart, on pages
//! of their own.

/// Places of a range read at once.
pub const STREAMS: usize = 8;

/// The indices `0..len`, taken in turn from `STREAMS` equal stretches: `0, s, 2s, …, 1, s + 1, …`
/// where `s = ⌈len / STREAMS⌉`. Every index comes exactly once.
pub fn interleaved(len: usize) -> impl Iterator<Item = usize> {
    let stride = len.div_ceil(STREAMS);
    (0..stride).flat_map(move |i| (i..len).step_by(stride))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_once() {
        for len in 0..200 {
            let mut seen: Vec<usize> = interleaved(len).collect();
            assert_eq!(seen.len(), len);
            if len >= STREAMS {
                let stride = len.div_ceil(STREAMS);
                assert_eq!(&seen[..2], &[0, stride], "len {len}");
            }
            seen.sort();
            assert!(seen.iter().copied().eq(0..len), "len {len}");
        }
    }
}
