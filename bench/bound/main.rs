//! Native read bandwidth, the native half of the decode bound:
//!
//!   bandwidth [--mib 1024] [--threads 1,2] [--passes 5]
//!
//! One buffer of `--mib` MiB (far larger than any cache), written first by the threads that later
//! read it. For each thread count T, T threads each stream their own contiguous 1/T of it
//! (`bandwidth::stream_sum`); they start together at a barrier, and a pass is timed from that
//! barrier until the last of them has finished. One pass warms up and is not counted, then
//! `--passes` passes. Prints one JSON object: `{"bytes", "passes", "results": [{"threads", "gbs":
//! [one figure per pass, 10^9 bytes/s]}]}`.

use std::sync::Barrier;
use std::time::Instant;

use bandwidth::stream_sum;

fn main() {
    let (mut mib, mut threads, mut passes) = (1024usize, vec![1usize, 2], 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--mib" => mib = value().parse().unwrap_or_else(|_| usage("--mib takes a number")),
            "--threads" => {
                threads = value().split(',').map(|t| t.parse().unwrap_or_else(|_| usage("--threads takes e.g. 1,2"))).collect()
            }
            "--passes" => passes = value().parse().unwrap_or_else(|_| usage("--passes takes a number")),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if mib == 0 || passes == 0 || threads.is_empty() || threads.contains(&0) {
        usage("--mib, --passes and every thread count must be at least 1");
    }
    let words = mib << 17;
    // Zeroed memory comes unmapped from the kernel; each page is mapped by the thread that writes it.
    let mut buf = vec![0u64; words];
    let most = *threads.iter().max().unwrap();
    std::thread::scope(|s| {
        for chunk in buf.chunks_mut(words.div_ceil(most)) {
            s.spawn(move || chunk.fill(1));
        }
    });
    let mut results = Vec::new();
    for &t in &threads {
        let barrier = Barrier::new(t + 1);
        let mut secs = Vec::new();
        std::thread::scope(|s| {
            let workers: Vec<_> = buf
                .chunks(words.div_ceil(t))
                .map(|slice| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let mut every_word = true;
                        for _ in 0..=passes {
                            barrier.wait();
                            every_word &= stream_sum(slice) == slice.len() as u64;
                            barrier.wait();
                        }
                        every_word
                    })
                })
                .collect();
            for _ in 0..=passes {
                barrier.wait();
                let t0 = Instant::now();
                barrier.wait();
                secs.push(t0.elapsed().as_secs_f64());
            }
            for w in workers {
                assert!(w.join().expect("a reader panicked"), "a reader's sum is wrong: the loop skipped words");
            }
        });
        let gbs: Vec<String> = secs[1..].iter().map(|s| format!("{:.3}", (words * 8) as f64 / s / 1e9)).collect();
        results.push(format!("{{\"threads\":{t},\"gbs\":[{}]}}", gbs.join(",")));
    }
    println!("{{\"bytes\":{},\"passes\":{passes},\"results\":[{}]}}", words * 8, results.join(","));
}

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}\nusage: bandwidth [--mib 1024] [--threads 1,2] [--passes 5]");
    std::process::exit(2);
}
