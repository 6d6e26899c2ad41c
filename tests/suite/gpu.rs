//! Every shader in `shaders/`, executed through wgpu and checked against its CPU reference on random
//! shapes, including sizes that are not multiples of the 64-wide workgroup: natively on Mesa's
//! lavapipe (`cargo test`), and in headless Chromium's WebGPU on SwiftShader (`wasm-pack test`, with
//! `BITNET_WEB_GPU_TESTS=1` at build time, which `make test` sets for its Chromium run; browsers
//! without WebGPU skip the file). Integer ternary dot products must be bit-exact; float results agree
//! to the stated relative tolerances (the GPU sums in another order, without f64, with its own exp).

use crate::common;

use bitnet_web::gguf::TensorType;
use bitnet_web::gpu::{Batch, Gpu, GpuDense, GpuTernary};
use bitnet_web::kernels::{KernelKind, dense_matvec, scalar};
use bitnet_web::model::{KvCache, KvPrecision};
use bitnet_web::weights::dense::{DenseData, DenseMatrix};
use bitnet_web::quant::ternary::{self, PackedTernary};
use bitnet_web::quant::{self, I2sLayout};
use common::Rng;

/// Each case is an async function, run natively to completion and in the browser as an async test.
macro_rules! gpu_test {
    ($name:ident) => {
        mod $name {
            #[cfg(not(target_arch = "wasm32"))]
            #[test]
            fn on_the_gpu() {
                pollster::block_on(super::$name());
            }
            #[cfg(target_arch = "wasm32")]
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn on_the_gpu() {
                if option_env!("BITNET_WEB_GPU_TESTS").is_some() {
                    super::$name().await;
                } else {
                    wasm_bindgen_test::console_log!("skipped: the WebGPU suite runs in Chromium (BITNET_WEB_GPU_TESTS=1)");
                }
            }
        }
    };
}

async fn open(plain_dot: bool) -> Gpu {
    let g = Gpu::open(plain_dot).await.expect("opening the GPU (the tests need an adapter: natively mesa-vulkan-drivers, lavapipe; in Chromium --enable-unsafe-webgpu)");
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("adapter: {} (dot4I8Packed: {})", g.adapter, g.packed_dot);
    #[cfg(not(target_arch = "wasm32"))]
    println!("adapter: {} (dot4I8Packed: {})", g.adapter, g.packed_dot);
    g
}

fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * (rng.next() >> 40) as f32 / (1u64 << 24) as f32
}

fn randoms(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| uniform(rng, -scale, scale)).collect()
}

fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let norm = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * norm, "{what}[{i}]: gpu {g}, cpu {w} (tolerance {rel} × {norm})");
    }
}

fn random_ternary(rng: &mut Rng, rows: usize, cols: usize, per_block: bool) -> PackedTernary {
    let t: Vec<i8> = (0..rows * cols).map(|_| rng.below(3) as i8 - 1).collect();
    if per_block {
        let d: Vec<half::f16> = (0..rows * cols / 256).map(|_| half::f16::from_f32(uniform(rng, 0.01, 2.0))).collect();
        ternary::pack(TensorType::TQ2_0, quant::tq2_0::encode(&t, &d), cols, rows, I2sLayout::Block128).unwrap()
    } else {
        let bytes = quant::i2_s::encode(&t, cols, uniform(rng, 0.1, 3.0), I2sLayout::Block128);
        ternary::pack(TensorType::I2_S, bytes, cols, rows, I2sLayout::Block128).unwrap()
    }
}

fn random_q(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| match rng.below(10) { 0 => -128, 1 => 127, _ => rng.next() as i8 }).collect()
}

gpu_test!(ternary_integer_dot_products_are_bit_exact);
/// The integer dot products, bit-exact, with both forms of `dot4` (WGSL's packed one and the plain one).
async fn ternary_integer_dot_products_are_bit_exact() {
    let (packed, plain) = (open(false).await, open(true).await);
    let mut rng = Rng(0x7e57_0001);
    for g in [&packed, &plain] {
        for &(rows, cols, n) in &[(1, 128, 1), (37, 384, 1), (65, 128, 3), (200, 1152, 2), (3, 2560, 5)] {
            // Scale 1 everywhere: the output is the integer Σ (code - 1)·q itself.
            let mut w = random_ternary(&mut rng, rows, cols, false);
            w.scale = ternary::TernaryScale::PerTensor(1.0);
            let q = random_q(&mut rng, n * cols);
            let mut b = Batch::new(g);
            let x = b.upload_quantized(&q, &vec![1.0; n], cols);
            let gw = GpuTernary::upload(g, "w", &w).unwrap();
            let y = b.ternary(&gw, &x, 1.0);
            let got = b.read(&y).await.unwrap();
            for t in 0..n {
                let qt = &q[t * cols..(t + 1) * cols];
                let qsum: i32 = qt.iter().map(|&v| v as i32).sum();
                for r in 0..rows {
                    let want = scalar::dot_codes(w.row(r), qt) - qsum;
                    assert_eq!(got[t * rows + r], want as f32, "row {r} token {t} of {rows}x{cols} (packed dot: {})", g.packed_dot);
                }
            }
        }
    }
}

gpu_test!(ternary_matches_the_cpu_kernel);
/// Scaled outputs (per-tensor and per-256 scales, the `bitnet` arch's extra scale) against the CPU kernel.
async fn ternary_matches_the_cpu_kernel() {
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0002);
    for &(rows, cols, n, per_block) in &[(33, 256, 1, true), (70, 512, 2, true), (129, 2560, 1, false), (5, 768, 4, false)] {
        let w = random_ternary(&mut rng, rows, cols, per_block);
        let x = randoms(&mut rng, n * cols, 3.0);
        let mut q = vec![0i8; n * cols];
        let s: Vec<f32> = x.chunks_exact(cols).zip(q.chunks_exact_mut(cols)).map(|(xr, qr)| scalar::quantize_activations(xr, qr)).collect();
        let mut want = vec![0f32; n * rows];
        bitnet_web::kernels::ternary_matmul(KernelKind::Scalar, &w, &q, &s, &mut want);
        let extra = 0.75;
        want.iter_mut().for_each(|v| *v *= extra);
        let mut b = Batch::new(g);
        let xq = b.upload_quantized(&q, &s, cols);
        let gw = GpuTernary::upload(g, "w", &w).unwrap();
        let y = b.ternary(&gw, &xq, extra);
        // want is token-major like y.
        assert_close(&b.read(&y).await.unwrap(), &want, 1e-6, &format!("ternary {rows}x{cols} n={n} per_block={per_block}"));
    }
}

gpu_test!(quantize_matches_the_cpu_reference);
/// Whole blocks, and widths that are not (a 320-wide FFN; bitnet_b1_58-3B's 8640), which come out
/// padded with zeros to the next 128 as the weights they meet were.
async fn quantize_matches_the_cpu_reference() {
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0003);
    for &(n, cols) in &[(1usize, 128usize), (3, 384), (2, 2560), (7, 6912), (3, 320), (2, 8640), (1, 100)] {
        let padded = cols.next_multiple_of(128);
        let mut x = randoms(&mut rng, n * cols, 4.0);
        x[cols / 2] = f32::NAN;
        let mut b = Batch::new(g);
        let xt = b.upload(&x, cols);
        let qt = b.quantize(&xt);
        assert_eq!(qt.cols, padded);
        b.submit();
        let q: Vec<i8> = g.read(&qt.q, (n * padded) as u64).await.unwrap().iter().map(|&v| v as i8).collect();
        let s = g.read_f32(&qt.s, n).await.unwrap();
        let qsums: Vec<i32> = bytemuck::pod_collect_to_vec(&g.read(&qt.qsums, 4 * (n * padded / 128) as u64).await.unwrap());
        for t in 0..n {
            let mut want = vec![0i8; cols];
            let ws = scalar::quantize_activations(&x[t * cols..(t + 1) * cols], &mut want);
            assert!((s[t] - ws).abs() <= 2e-7 * ws, "scale of token {t}: gpu {} cpu {ws}", s[t]);
            let got = &q[t * padded..(t + 1) * padded];
            assert!(got[cols..].iter().all(|&v| v == 0), "the padding of token {t} is zeros");
            // A value within rounding of halfway between two levels may round the other way when
            // the scale differs in its last bit; no other may differ.
            for (c, (a, b)) in got.iter().zip(&want).enumerate() {
                let v = x[t * cols + c] * ws;
                let halfway = (v - v.floor() - 0.5).abs() < 1e-4 * v.abs().max(1.0);
                assert!(a == b || ((*a as i32 - *b as i32).abs() == 1 && halfway), "token {t} column {c}: gpu {a}, cpu {b} for x·s = {v}");
            }
            for (blk, &sum) in got.chunks_exact(128).zip(&qsums[t * padded / 128..]) {
                assert_eq!(blk.iter().map(|&v| v as i32).sum::<i32>(), sum, "qsum of token {t}");
            }
        }
        assert_eq!(q[cols / 2], 0, "NaN quantizes to 0");
    }
}

gpu_test!(rms_norm_matches_the_cpu_reference);
async fn rms_norm_matches_the_cpu_reference() {
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0004);
    for &(n, cols) in &[(1, 7), (3, 100), (2, 2560), (5, 6912)] {
        let x = randoms(&mut rng, n * cols, 2.0);
        let w = randoms(&mut rng, cols, 1.5);
        let mut want = vec![0f32; n * cols];
        for (xr, or) in x.chunks_exact(cols).zip(want.chunks_exact_mut(cols)) {
            scalar::rms_norm(xr, &w, 1e-5, or);
        }
        let mut b = Batch::new(g);
        let xt = b.upload(&x, cols);
        let wb = g.upload("w", bytemuck::cast_slice(&w));
        let y = b.rms_norm(&xt, &wb, 1e-5);
        assert_close(&b.read(&y).await.unwrap(), &want, 2e-6, &format!("rms_norm {n}x{cols}"));
    }
    // Per head (Qwen3's q/k norms): each head-wide piece of each row with the same weights, and
    // more pieces than one grid dimension holds (70000 = 4375 tokens × 16 heads).
    for &(n, heads, hd) in &[(3, 4, 64), (2, 16, 128), (4375, 16, 8)] {
        let x = randoms(&mut rng, n * heads * hd, 2.0);
        let w = randoms(&mut rng, hd, 1.5);
        let mut want = vec![0f32; x.len()];
        for (xr, or) in x.chunks_exact(hd).zip(want.chunks_exact_mut(hd)) {
            scalar::rms_norm(xr, &w, 1e-6, or);
        }
        let mut b = Batch::new(g);
        let xt = b.upload(&x, heads * hd);
        let wb = g.upload("w", bytemuck::cast_slice(&w));
        let y = b.rms_norm_pieces(&xt, &wb, 1e-6, hd);
        assert_close(&b.read(&y).await.unwrap(), &want, 2e-6, &format!("rms_norm per head {n}x{heads}x{hd}"));
    }
}

/// HF's rotation (`rotate_half` for NEOX, pairs for interleaved), written out here as the reference.
fn rope_reference(x: &mut [f32], head_dim: usize, cs: &[(f32, f32)], interleaved: bool) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for (i, &(c, s)) in cs.iter().enumerate() {
            let (ia, ib) = if interleaved { (2 * i, 2 * i + 1) } else { (i, i + half) };
            let (a, b) = (head[ia], head[ib]);
            head[ia] = a * c - b * s;
            head[ib] = b * c + a * s;
        }
    }
}

gpu_test!(rope_matches_the_reference);
async fn rope_matches_the_reference() {
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0005);
    for &(n, heads, hd, interleaved) in &[(1, 20, 128, false), (3, 5, 64, true), (2, 7, 18, false), (4, 3, 256, true)] {
        let x = randoms(&mut rng, n * heads * hd, 2.0);
        let angles: Vec<Vec<(f32, f32)>> =
            (0..n).map(|t| (0..hd / 2).map(|i| ((t * 7 + i) as f32 * 0.37).sin_cos()).map(|(s, c)| (c, s)).collect()).collect();
        let mut want = x.clone();
        for t in 0..n {
            rope_reference(&mut want[t * heads * hd..(t + 1) * heads * hd], hd, &angles[t], interleaved);
        }
        let cs: Vec<f32> = angles.iter().flatten().flat_map(|&(c, s)| [c, s]).collect();
        let mut b = Batch::new(g);
        let xt = b.upload(&x, heads * hd);
        b.rope(&xt, hd, &cs, interleaved);
        assert_close(&b.read(&xt).await.unwrap(), &want, 1e-6, &format!("rope n={n} heads={heads} hd={hd}"));
    }
}

gpu_test!(attention_matches_the_kv_cache);
/// Prefill and decode shapes, grouped-query heads, contexts past one 64-position tile, and
/// sliding windows (Gemma 3's local layers) shorter and longer than the context.
async fn attention_matches_the_kv_cache() {
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0006);
    let cases: &[(usize, usize, usize, usize, usize, Option<usize>)] = &[
        (4, 4, 64, 0, 1, None),
        (8, 2, 128, 0, 5, None),
        (20, 5, 128, 130, 1, None),
        (6, 3, 96, 61, 7, None),
        (2, 1, 256, 3, 70, None),
        (4, 1, 256, 0, 40, Some(8)),
        (4, 2, 64, 130, 3, Some(100)),
        (2, 1, 64, 5, 4, Some(512)),
        (2, 2, 32, 0, 3, Some(1)),
    ];
    for &(n_head, n_kv, hd, p0, n, window) in cases {
        let kvd = n_kv * hd;
        let len = p0 + n;
        let keys = randoms(&mut rng, len * kvd, 1.0);
        let values = randoms(&mut rng, len * kvd, 1.0);
        let q = randoms(&mut rng, n * n_head * hd, 1.0);
        let scale = 1.0 / (hd as f32).sqrt();
        let mut cache = KvCache::new(1, kvd, hd, len, KvPrecision::F32);
        for j in 0..len {
            cache.push(0, &keys[j * kvd..(j + 1) * kvd], &values[j * kvd..(j + 1) * kvd]);
        }
        cache.commit(len);
        let mut want = vec![0f32; n * n_head * hd];
        let mut scratch = Vec::new();
        for t in 0..n {
            for h in 0..n_head {
                let o = (t * n_head + h) * hd;
                let from = window.map_or(0, |w| (p0 + t + 1).saturating_sub(w));
                cache.attend_heads(KernelKind::Scalar, 0, &q[o..o + hd], h / (n_head / n_kv), from..p0 + t + 1, scale, &mut scratch, &mut want[o..o + hd]);
            }
        }
        let mut b = Batch::new(g);
        let kb = g.upload("k", bytemuck::cast_slice(&keys));
        let vb = g.upload("v", bytemuck::cast_slice(&values));
        let qt = b.upload(&q, n_head * hd);
        let out = b.attention(&qt, &kb, &vb, n_kv, hd, p0, scale, window);
        assert_close(&b.read(&out).await.unwrap(), &want, 2e-6, &format!("attention heads {n_head}/{n_kv} hd {hd} p0 {p0} n {n} window {window:?}"));
    }
}

gpu_test!(gate_add_and_the_cache_copy_match);
async fn gate_add_and_the_cache_copy_match() {
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0007);
    // gate.wgsl's activations: 0 ReLU², 1 SiLU, 2 GELU in PyTorch's tanh form (Gemma's), each
    // written here from its definition.
    let act = |code: u32, x: f32| match code {
        0 => x.max(0.0) * x.max(0.0),
        1 => x / (1.0 + (-x).exp()),
        _ => 0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh()),
    };
    for &(len, code) in &[(1, 0), (6912, 0), (8191, 1), (100, 1), (2048, 2), (5, 2)] {
        let gv = randoms(&mut rng, len, 4.0);
        let u = randoms(&mut rng, len, 2.0);
        let want: Vec<f32> = gv.iter().zip(&u).map(|(&x, &u)| act(code, x) * u).collect();
        let mut b = Batch::new(g);
        let (gt, ut) = (b.upload(&gv, len), b.upload(&u, len));
        b.gate(&gt, &ut, code);
        b.add(&gt, &ut);
        let want: Vec<f32> = want.iter().zip(&u).map(|(a, b)| a + b).collect();
        let cache = g.storage("cache", 4 * (3 * len) as u64);
        b.store(&gt, &cache, 1);
        b.submit();
        let got = g.read_f32(&cache, 3 * len).await.unwrap();
        assert!(got[..len].iter().chain(&got[2 * len..]).all(|&v| v == 0.0), "the copy stays in its row");
        assert_close(&got[len..2 * len], &want, 1e-6, &format!("gate+add len {len} activation {code}"));
    }
}

fn dense_of(rng: &mut Rng, rows: usize, cols: usize, kind: usize) -> DenseMatrix {
    let v = randoms(rng, rows * cols, 1.0);
    let m = DenseMatrix { rows, cols, data: DenseData::F32(v.clone()) };
    match kind {
        0 => m,
        1 => DenseMatrix::from_f16(v.iter().map(|&x| half::f16::from_f32(x).to_bits()).collect(), cols, rows),
        _ => DenseMatrix { rows, cols, data: DenseData::Int8(m.to_int8()) },
    }
}

gpu_test!(embed_and_dense_match_for_every_storage_and_split);
/// Embedding lookups and the head's product, for f32, f16 and int8 tables, whole and split into
/// parts as a table larger than one binding is.
async fn embed_and_dense_match_for_every_storage_and_split() {
    let whole = open(false).await;
    let mut small = open(false).await;
    small.max_binding = 16384;
    let mut rng = Rng(0x7e57_0008);
    for g in [&whole, &small] {
        for &(rows, cols, n) in &[(100, 64, 1), (1000, 128, 3), (77, 2560, 2)] {
            for kind in 0..3 {
                let m = dense_of(&mut rng, rows, cols, kind);
                let table = GpuDense::upload(g, "table", &m).unwrap();
                let bytes = (rows * cols * [4, 2, 1][kind]) as u64;
                assert_eq!(table.parts.len() as u64, bytes.div_ceil(g.max_binding / (bytes / rows as u64) * (bytes / rows as u64)), "parts");
                let tokens: Vec<u32> = (0..n).map(|_| rng.below(rows as u64) as u32).collect();
                let x = randoms(&mut rng, n * cols, 1.0);
                let mut b = Batch::new(g);
                // Gemma's √width scale, on one table of each storage.
                let scale = if rows == 1000 { (cols as f32).sqrt() } else { 1.0 };
                let e = b.embed(&table, &tokens, scale);
                let xt = b.upload(&x, cols);
                let y = b.dense(&table, &xt);
                b.submit();
                let mut want_e = vec![0f32; n * cols];
                let mut want_y = vec![0f32; n * rows];
                for t in 0..n {
                    m.row_into(tokens[t] as usize, &mut want_e[t * cols..(t + 1) * cols]);
                    want_e[t * cols..(t + 1) * cols].iter_mut().for_each(|v| *v *= scale);
                    dense_matvec(&as_f32(&m), &x[t * cols..(t + 1) * cols], &mut want_y[t * rows..(t + 1) * rows]);
                }
                assert_eq!(g.read_f32(&e.buf, n * cols).await.unwrap(), want_e, "embedding kind {kind} {rows}x{cols}");
                assert_close(&g.read_f32(&y.buf, n * rows).await.unwrap(), &want_y, 2e-6, &format!("dense kind {kind} {rows}x{cols}"));
            }
        }
    }
}

/// The matrix in f32, so `dense_matvec` is the plain float reference for every storage.
fn as_f32(m: &DenseMatrix) -> DenseMatrix {
    let mut v = vec![0f32; m.rows * m.cols];
    for (r, row) in v.chunks_exact_mut(m.cols).enumerate() {
        m.row_into(r, row);
    }
    DenseMatrix { rows: m.rows, cols: m.cols, data: DenseData::F32(v) }
}

gpu_test!(top_candidates_are_the_largest_logits);
/// The best logits of a row (topk.wgsl and the merge of its blocks) against a sort on the CPU, on
/// rows that are not whole blocks, with ties; a NaN or an infinity is counted, never a candidate.
async fn top_candidates_are_the_largest_logits() {
    use bitnet_web::gpu::TOPK_BLOCK;
    let g = &open(false).await;
    let mut rng = Rng(0x7e57_0009);
    for &(n, k) in &[(10, 64), (4096, 64), (5000, 64), (128256, 64), (3000, 1)] {
        let mut logits = randoms(&mut rng, n, 20.0);
        // Ties across blocks: the lower index comes first.
        if n > TOPK_BLOCK + 10 {
            logits[3] = 50.0;
            logits[TOPK_BLOCK + 7] = 50.0;
        }
        let mut want: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        want.truncate(k);
        let mut b = Batch::new(g);
        let t = b.upload(&logits, n);
        let c = b.top_candidates(&t, k);
        b.submit();
        assert_eq!(c.read(g).await.unwrap().unwrap(), want, "n {n} k {k}");
    }
    let mut logits = randoms(&mut rng, 3000, 1.0);
    logits[2500] = f32::NAN;
    logits[7] = f32::INFINITY;
    let mut b = Batch::new(g);
    let t = b.upload(&logits, 3000);
    let c = b.top_candidates(&t, 8);
    b.submit();
    assert_eq!(c.read(g).await.unwrap(), Err(2));
}
