//! The rate at which this machine streams a model's weights from memory: "benchmark this device"
//! reads every ternary byte of the model loaded, as a decoded token does, split over the kernel
//! threads, and the decode bound is that rate over the bytes a token reads. Reading the model's own
//! bytes (no buffer of its own) costs a tab no memory, and a model small enough to stay in cache
//! gets the cache's rate, which is then its bound too.
//!
//! The sum of the bytes as little-endian u64 words (wrapping) is the result, so the reads cannot be
//! skipped; `read_sum_reference` is the same sum written plainly, which the tests hold it to.

use super::parallel::for_each_row_range;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes a thread takes at a time: enough that a claim is rare, small enough to split a 2 MB matrix.
const PIECE: usize = 64 << 10;

/// The wrapping sum of `bytes` as little-endian u64 words, a short tail added byte by byte.
fn sum_words(bytes: &[u8]) -> u64 {
    let (words, tail) = bytes.split_at(bytes.len() / 8 * 8);
    // Four sums in flight, so that the adds do not wait on one another and the loads set the pace.
    let mut acc = [0u64; 4];
    let mut chunks = words.chunks_exact(32);
    for c in &mut chunks {
        for (a, w) in acc.iter_mut().zip(c.chunks_exact(8)) {
            *a = a.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
    }
    let rest = chunks.remainder().chunks_exact(8).fold(0u64, |s, w| s.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes"))));
    let tail = tail.iter().fold(0u64, |s, &b| s.wrapping_add(b as u64));
    acc.iter().fold(rest.wrapping_add(tail), |s, &a| s.wrapping_add(a))
}

/// Reads every byte of `parts` once, in 64 KiB pieces split over the kernel threads (`threads()`).
pub fn read_sum(parts: &[&[u8]]) -> u64 {
    let pieces: Vec<&[u8]> = parts.iter().flat_map(|p| p.chunks(PIECE)).collect();
    let total = AtomicU64::new(0);
    for_each_row_range(pieces.len(), 1, |range| {
        let s = pieces[range].iter().fold(0u64, |s, p| s.wrapping_add(sum_words(p)));
        total.fetch_add(s, Ordering::Relaxed);
    });
    total.load(Ordering::Relaxed)
}

/// `read_sum`, plainly: the reference.
pub fn read_sum_reference(parts: &[&[u8]]) -> u64 {
    let mut s = 0u64;
    for p in parts {
        for piece in p.chunks(PIECE) {
            let words = piece.len() / 8;
            for i in 0..words {
                s = s.wrapping_add(u64::from_le_bytes(piece[8 * i..8 * i + 8].try_into().expect("8 bytes")));
            }
            for &b in &piece[8 * words..] {
                s = s.wrapping_add(b as u64);
            }
        }
    }
    s
}
