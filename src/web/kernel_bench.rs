//! `benchKernels`: times the ternary, LM-head (int8, 4-bit shortlist) and attention kernels of this build on
//! the calling thread, so that kernel variants can be compared in the same browser run
//! (bench/kernels.mjs). The GEMV and the head take their rows in the products' order (`interleaved`).

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::kernels::{KernelKind, interleaved};
use crate::model::{KvCache, KvPrecision};

#[derive(Serialize)]
struct Timing {
    kernel: &'static str,
    variant: &'static str,
    /// Multiply-adds per second, in billions.
    gmacs: f64,
}

/// GMAC/s of each kernel variant on a `rows × cols` matrix, `iters` passes each, and of attention
/// over `positions` cached positions.
#[wasm_bindgen(js_name = benchKernels)]
pub fn bench_kernels(rows: usize, cols: usize, iters: usize, positions: usize) -> Result<JsValue, JsValue> {
    let cols = cols.div_ceil(128) * 128;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Codes 0..=2 in every crumb; activations anywhere in int8.
    let codes: Vec<u8> = (0..rows * cols / 4).map(|_| (0..4).fold(0u8, |b, _| b << 2 | (next() % 3) as u8)).collect();
    let q: Vec<i8> = (0..4 * cols).map(|_| next() as i8).collect();
    let head: Vec<i8> = (0..rows * cols).map(|_| (next() % 255) as i8).collect();
    let x16: Vec<i16> = (0..cols).map(|_| (next() % 8001) as i16 - 4000).collect();
    let int4: Vec<u8> = (0..rows * cols / 2).map(|_| next() as u8).collect();
    let int4_scales: Vec<f32> = (0..rows * cols / crate::weights::int4_rows::BLOCK).map(|_| (next() % 1000) as f32 / 1e5).collect();
    let int4_offsets = crate::kernels::int4_offsets(&q[..cols]);
    let row = |r: usize| &codes[r * cols / 4..(r + 1) * cols / 4];
    // Attention of one decoded 2B4T token (30 layers, 20 query heads on 5 KV heads of 128).
    let (layers, positions, kv_dim, head_dim, heads) = (30, positions.max(1), 640, 128, 20);
    let mut cache = KvCache::new(layers, kv_dim, head_dim, positions, KvPrecision::F32);
    let kv_row: Vec<f32> = (0..kv_dim).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
    for _ in 0..positions {
        for l in 0..layers {
            cache.push(l, &kv_row, &kv_row);
        }
        cache.commit(1);
    }
    let query: Vec<f32> = (0..heads * head_dim).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
    let now = instant::now;
    let mut out = Vec::new();
    let mut sink = 0i64;
    for kind in KernelKind::available() {
        let mut time = |variant: &'static str, macs_per_pass: f64, f: &mut dyn FnMut() -> i64| {
            let t0 = now();
            for _ in 0..iters {
                sink = sink.wrapping_add(f());
            }
            let s = ((now() - t0) / 1000.0).max(1e-6);
            out.push(Timing { kernel: kind.name(), variant, gmacs: macs_per_pass * iters as f64 / s / 1e9 });
        };
        let macs = (rows * cols) as f64;
        time("gemv: one token", macs, &mut || interleaved(rows).map(|r| kind.dot_codes(row(r), &q[..cols]) as i64).sum());
        let order: Vec<usize> = interleaved(rows).collect();
        time("gemv: two rows in lockstep (decode)", macs, &mut || {
            order.chunks(2).map(|p| kind.dot_codes_x2([row(p[0]), row(p[p.len() - 1])], &q[..cols]).iter().map(|&v| v as i64).sum::<i64>()).sum()
        });
        time("gemm: four tokens per row", 4.0 * macs, &mut || {
            let xs = [0, 1, 2, 3].map(|t| &q[t * cols..(t + 1) * cols]);
            (0..rows).map(|r| kind.dot_codes_x4(row(r), xs).iter().map(|&v| v as i64).sum::<i64>()).sum()
        });
        time("int8 head row (i8 x i16)", macs, &mut || {
            (0..rows).map(|r| kind.dot_i8_i16(&head[r * cols..(r + 1) * cols], &x16) as i64).sum()
        });
        time("int4 shortlist row (i4 x i8)", macs, &mut || {
            let (n, s) = (cols / 2, cols / crate::weights::int4_rows::BLOCK);
            interleaved(rows)
                .map(|r| kind.dot_int4(&int4[r * n..(r + 1) * n], &int4_scales[r * s..(r + 1) * s], &q[..cols], &int4_offsets) as i64)
                .sum()
        });
        let (mut scratch, mut o) = (Vec::new(), vec![0f32; 4 * head_dim]);
        let attention_macs = (layers * heads * positions * head_dim * 2) as f64;
        // The four query heads of a KV head read its keys and values together (as at one thread),
        // or one at a time.
        for (variant, together) in [("attention: one 2B4T token, 4 heads per pass", 4), ("attention: one 2B4T token, 1 head per pass", 1)] {
            time(variant, attention_macs, &mut || {
                for l in 0..layers {
                    for h in (0..heads).step_by(together) {
                        let q = &query[h * head_dim..][..together * head_dim];
                        cache.attend_heads(kind, l, q, h / 4, 0..positions, 0.088, &mut scratch, &mut o[..together * head_dim]);
                    }
                }
                o[0] as i64
            });
        }
    }
    std::hint::black_box(sink);
    serde_wasm_bindgen::to_value(&out).map_err(|e| JsValue::from_str(&e.to_string()))
}
