//! Differential tests: every kernel this build has against the scalar reference, on random shapes
//! and values (integer dot products bit-exact), and the packed layouts against the format decoders.
//! Runs natively and in headless Chromium, where the SIMD128 and relaxed-SIMD kernels exist.

use crate::common;

use bitnet_web::gguf::TensorType;
use bitnet_web::kernels::{
    CANDIDATES, KernelKind, activation_limit, best_rows, dense_matvec, int4_offsets, int8_matvec, scalar, shortlist_matvec,
    ternary_matmul, ternary_matmuls, ternary_matvec,
};
use bitnet_web::weights::dense::DenseMatrix;
use bitnet_web::weights::int4_rows::{self, Int4Rows, Int4RowsWriter};
use bitnet_web::weights::int8_rows::Int8RowsWriter;
use bitnet_web::quant::ternary::{self, PackedTernary};
use bitnet_web::quant::{self, DecodeOptions, I2sLayout};
use common::Rng;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn random_ternary(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.below(3) as i8 - 1).collect()
}

/// Activations that include the extremes, -128 and 127.
fn random_q(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n)
        .map(|_| match rng.below(10) {
            0 => -128,
            1 => 127,
            _ => rng.next() as i8,
        })
        .collect()
}

fn random_i2s(rng: &mut Rng, rows: usize, cols: usize) -> PackedTernary {
    let t = random_ternary(rng, rows * cols);
    let bytes = quant::i2_s::encode(&t, cols, 0.5 + rng.below(100) as f32 / 64.0, I2sLayout::Block128);
    ternary::pack(TensorType::I2_S, bytes, cols, rows, I2sLayout::Block128).unwrap()
}

#[test]
fn simd_kernels_are_compiled_into_the_browser_build() {
    // The Makefile builds the browser tests twice; BITNET_WEB_BUILD=simd128 (or threads-simd128, the
    // threaded build without relaxed SIMD) marks a build without relaxed SIMD, so no build can
    // silently lose its kernel.
    #[cfg(target_arch = "wasm32")]
    match option_env!("BITNET_WEB_BUILD") {
        Some("simd128" | "threads-simd128") => assert_eq!(KernelKind::available(), vec![KernelKind::Scalar, KernelKind::Simd128]),
        _ => assert_eq!(
            KernelKind::available(),
            vec![KernelKind::Scalar, KernelKind::Simd128, KernelKind::RelaxedSimd, KernelKind::RelaxedSimdI32]
        ),
    }
    assert_eq!(KernelKind::available()[0], KernelKind::Scalar);
}

/// The relaxed build picks its dot's form from how this engine lowers the i32 dot; the probe must
/// give one of the lowerings `relaxed::i32_dot_probe` names, and the pick must follow it.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
#[test]
fn relaxed_build_picks_its_dot_form_from_the_lowering() {
    use bitnet_web::kernels::relaxed::{SSE_PROBE, i32_dot_probe};
    let probe = i32_dot_probe();
    assert!([SSE_PROBE, -130560, 512].contains(&probe), "an unknown lowering: {probe}");
    let want = if probe == SSE_PROBE { KernelKind::RelaxedSimd } else { KernelKind::RelaxedSimdI32 };
    assert_eq!(KernelKind::best(), want);
}

#[test]
fn dot_codes_agree_bit_exactly() {
    let mut rng = Rng(11);
    for trial in 0..200 {
        let cols = 128 * (1 + rng.below(24) as usize);
        // Trials 0-3: the extremes that reach the kernels' i16 partial-sum bounds (all codes 2,
        // i.e. every weight +1, against all -128 or all 127), and the same activations on random weights.
        let w = if trial < 2 {
            let bytes = quant::i2_s::encode(&vec![1i8; cols], cols, 1.0, I2sLayout::Block128);
            ternary::pack(TensorType::I2_S, bytes, cols, 1, I2sLayout::Block128).unwrap()
        } else {
            random_i2s(&mut rng, 1, cols)
        };
        let q = match trial {
            0 | 2 => vec![-128; cols], // overflows an int16 accumulator if summed naively
            1 | 3 => vec![127; cols],
            _ => random_q(&mut rng, cols),
        };
        let want = scalar::dot_codes(w.row(0), &q);
        // The reference itself against the plain definition.
        let def: i32 = (0..cols).map(|c| ternary::code_at(w.row(0), c) as i32 * q[c] as i32).sum();
        assert_eq!(want, def);
        for kind in KernelKind::available() {
            assert_eq!(kind.dot_codes(w.row(0), &q), want, "{kind:?}, {cols} columns, trial {trial}");
        }
        // The four-token kernel, with the same activations in one slot and others elsewhere.
        let others: Vec<Vec<i8>> = (0..3).map(|_| random_q(&mut rng, cols)).collect();
        let xs = [&others[0][..], &q[..], &others[1][..], &others[2][..]];
        let want4 = xs.map(|x| scalar::dot_codes(w.row(0), x));
        for kind in KernelKind::available() {
            assert_eq!(kind.dot_codes_x4(w.row(0), xs), want4, "{kind:?} x4, {cols} columns, trial {trial}");
        }
        // The two-row kernel, with this row first and second beside a random one.
        let other = random_i2s(&mut rng, 1, cols);
        let want_other = scalar::dot_codes(other.row(0), &q);
        for kind in KernelKind::available() {
            assert_eq!(kind.dot_codes_x2([w.row(0), other.row(0)], &q), [want, want_other], "{kind:?} x2, {cols} columns, trial {trial}");
            assert_eq!(kind.dot_codes_x2([other.row(0), w.row(0)], &q), [want_other, want], "{kind:?} x2, {cols} columns, trial {trial}");
        }
    }
}

/// Rows that are not whole 128-weight blocks (bitnet_b1_58-3B's 8640) in I2_S files of either layout,
/// whose blocks run over the flat index and straddle rows: packed with zero weights to the next block,
/// they give every kernel the float product over the unpadded row, with the activations zero-padded.
#[test]
fn rows_that_straddle_i2s_blocks_are_padded_exactly() {
    let mut rng = Rng(31);
    for _ in 0..20 {
        let layout = [I2sLayout::Block128, I2sLayout::Block64, I2sLayout::Rows4][rng.below(3) as usize];
        // A width off the 128 grid (an odd number of 64s), and an even row count: the flat tensor is
        // still whole blocks of either block layout, as 3B's 8640 x 3200 is (1×4: rows in fours).
        let (cols, rows) = (64 * (1 + 2 * rng.below(8) as usize), 4 * (1 + rng.below(10) as usize) - 2 * (layout != I2sLayout::Rows4) as usize);
        let t = random_ternary(&mut rng, rows * cols);
        let scale = 0.5 + rng.below(100) as f32 / 64.0;
        let w = ternary::pack(TensorType::I2_S, quant::i2_s::encode(&t, cols, scale, layout), cols, rows, layout).unwrap();
        let padded = ternary::pad_cols(cols);
        assert_eq!((w.rows, w.cols), (rows, padded));
        let wf = w.to_f32();
        for r in 0..rows {
            for c in 0..padded {
                let want = if c < cols { t[r * cols + c] as f32 * scale } else { 0.0 };
                assert_eq!(wf[r * padded + c], want, "{layout:?} {rows}x{cols}: row {r} col {c}");
            }
        }
        let n = 1 + rng.below(5) as usize;
        let x: Vec<f32> = (0..n * cols).map(|_| (rng.below(2001) as f32 - 1000.0) / 37.0).collect();
        let mut q = vec![0i8; n * padded];
        let s: Vec<f32> = x.chunks(cols).zip(q.chunks_mut(padded)).map(|(a, b)| scalar::quantize_activations(a, &mut b[..cols])).collect();
        for kind in KernelKind::available() {
            let mut got = vec![0f32; n * rows];
            ternary_matmul(kind, &w, &q, &s, &mut got);
            for tok in 0..n {
                for r in 0..rows {
                    let f: f64 = (0..cols).map(|c| t[r * cols + c] as f64 * scale as f64 * q[tok * padded + c] as f64 / s[tok] as f64).sum();
                    let g = got[tok * rows + r] as f64;
                    assert!((f - g).abs() <= 1e-4 * (1.0 + f.abs()), "{kind:?} {layout:?} {rows}x{cols} token {tok} row {r}: {g} vs {f}");
                }
            }
        }
    }
    // A flat tensor that ends inside a block is refused: its last codes would overlap the scale.
    let bytes = vec![0u8; 3 * 160 / 4 + 32];
    assert!(ternary::pack(TensorType::I2_S, bytes, 160, 3, I2sLayout::Block128).is_err());
}

#[test]
fn matvec_and_matmul_agree_bit_exactly() {
    let mut rng = Rng(12);
    for _ in 0..30 {
        // Up to 9 tokens: two four-token tiles and a remainder; over 32 rows: split across threads.
        let (rows, cols, n) = (1 + rng.below(100) as usize, 256 * (1 + rng.below(6) as usize), 1 + rng.below(9) as usize);
        let mut mats = vec![random_i2s(&mut rng, rows, cols)];
        // A TQ2_0 matrix: per-block scales.
        let t = random_ternary(&mut rng, rows * cols);
        let d: Vec<half::f16> = (0..rows * cols / 256).map(|i| half::f16::from_f32(0.01 * (1 + i % 7) as f32)).collect();
        mats.push(ternary::pack(TensorType::TQ2_0, quant::tq2_0::encode(&t, &d), cols, rows, I2sLayout::Block128).unwrap());
        for w in &mats {
            let x: Vec<f32> = (0..n * cols).map(|_| (rng.below(2001) as f32 - 1000.0) / 37.0).collect();
            let mut q = vec![0i8; n * cols];
            let s: Vec<f32> = x.chunks(cols).zip(q.chunks_mut(cols)).map(|(a, b)| scalar::quantize_activations(a, b)).collect();
            let mut want = vec![0f32; n * rows];
            ternary_matmul(KernelKind::Scalar, w, &q, &s, &mut want);
            for kind in KernelKind::available() {
                let mut got = vec![0f32; n * rows];
                ternary_matmul(kind, w, &q, &s, &mut got);
                assert_eq!(got, want, "{kind:?}");
                // Each token alone (the GEMV kernel) equals its row of the batch (the tiled kernel).
                for t in 0..n {
                    let mut one = vec![0f32; rows];
                    ternary_matvec(kind, w, &q[t * cols..(t + 1) * cols], s[t], &mut one);
                    assert_eq!(one, want[t * rows..(t + 1) * rows], "{kind:?} token {t} of {n}");
                }
            }
            // The integer path equals float math on the dequantized weights and activations.
            let wf = w.to_f32();
            for r in 0..rows {
                let f: f64 = (0..cols).map(|c| wf[r * cols + c] as f64 * (q[c] as f64 / s[0] as f64)).sum();
                assert!((f - want[r] as f64).abs() <= 1e-4 * (1.0 + f.abs()), "row {r}: {f} vs {}", want[r]);
            }
        }
    }
}

#[test]
fn fused_products_equal_separate_ones() {
    // q, k, v (or gate, up) in one pass over their rows together, as the forward pass runs them.
    let mut rng = Rng(15);
    for _ in 0..20 {
        let (cols, n) = (256 * (1 + rng.below(4) as usize), 1 + rng.below(6) as usize);
        let mut mats = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let rows = 1 + rng.below(90) as usize;
            mats.push(random_i2s(&mut rng, rows, cols));
        }
        let q = random_q(&mut rng, n * cols);
        let s: Vec<f32> = (0..n).map(|_| 1.0 + rng.below(100) as f32).collect();
        for kind in KernelKind::available() {
            let mut fused: Vec<Vec<f32>> = mats.iter().map(|w| vec![0f32; n * w.rows]).collect();
            let mut outs: Vec<&mut [f32]> = fused.iter_mut().map(|o| o.as_mut_slice()).collect();
            ternary_matmuls(kind, &mats.iter().collect::<Vec<_>>(), &q, &s, &mut outs);
            for (w, got) in mats.iter().zip(&fused) {
                let mut want = vec![0f32; n * w.rows];
                ternary_matmul(kind, w, &q, &s, &mut want);
                assert_eq!(*got, want, "{kind:?}, {} rows, {n} tokens", w.rows);
            }
        }
    }
}

#[test]
fn activation_quantization_agrees_bit_exactly() {
    let mut rng = Rng(16);
    for trial in 0..100 {
        // Lengths on and off the kernels' 16-value steps; values over several scales, with ties.
        let n = 1 + rng.below(300) as usize;
        let scale = [1e-3f32, 1.0, 37.5, 1e4][trial % 4];
        let mut x: Vec<f32> = (0..n).map(|_| (rng.below(4001) as f32 - 2000.0) / 1000.0 * scale).collect();
        if trial % 5 == 0 {
            x.iter_mut().for_each(|v| *v = 0.0);
        }
        if trial % 7 == 1 {
            x[rng.below(n as u64) as usize] = f32::NAN;
        }
        let mut want = vec![0i8; n];
        let s_want = scalar::quantize_activations(&x, &mut want);
        // A NaN (from corrupt weights, say) quantizes to 0 and does not set the scale.
        for (&v, &q) in x.iter().zip(&want) {
            assert!(!v.is_nan() || q == 0);
        }
        for kind in KernelKind::available() {
            let mut got = vec![0i8; n];
            let s = kind.quantize_activations(&x, &mut got);
            assert_eq!((s.to_bits(), &got), (s_want.to_bits(), &want), "{kind:?}, trial {trial}");
        }
    }
}

#[test]
fn attention_kernels_agree_bit_exactly() {
    let mut rng = Rng(17);
    for trial in 0..60 {
        // Head sizes on and off the kernels' steps of 8, 32 and 4; position counts on and off 4.
        let d = [128, 64, 8, 36, 3, 100][trial % 6];
        let n = 1 + rng.below(40) as usize;
        let val = |rng: &mut Rng| (rng.below(2001) as f32 - 1000.0) / 300.0;
        let q: Vec<f32> = (0..d).map(|_| val(&mut rng)).collect();
        let rows: Vec<f32> = (0..n * d).map(|_| val(&mut rng)).collect();
        let p: Vec<f32> = (0..n).map(|_| rng.below(1000) as f32 / 999.0).collect();
        // The sum is added to what the output holds (zero, or an earlier block's sum).
        let init: Vec<f32> = (0..d).map(|_| if trial % 2 == 0 { 0.0 } else { val(&mut rng) }).collect();
        // The references: one dot per row, and repeated `sum += p·row`.
        let dots: Vec<f32> = rows.chunks(d).map(|r| scalar::dot_f32(&q, r)).collect();
        let mut sum = init.clone();
        for (r, &pj) in rows.chunks(d).zip(&p) {
            sum.iter_mut().zip(r).for_each(|(o, &v)| *o += pj * v);
        }
        for kind in KernelKind::available() {
            let mut got = vec![0f32; n];
            kind.dot_rows(&q, &rows, &mut got);
            assert_eq!(got, dots, "dot_rows {kind:?}, d {d}, n {n}");
            let mut got = init.clone();
            kind.add_weighted_rows(&p, &rows, &mut got);
            assert_eq!(got, sum, "add_weighted_rows {kind:?}, d {d}, n {n}");
        }
        // And both against f64 math.
        for (j, r) in rows.chunks(d).enumerate() {
            let f: f64 = q.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!((f - dots[j] as f64).abs() <= 1e-4 * (1.0 + f.abs()));
        }
    }
}

#[test]
fn grouped_attention_equals_each_head_over_all_positions_at_once() {
    use bitnet_web::model::{KvCache, KvPrecision};
    let mut rng = Rng(29);
    let val = |rng: &mut Rng| (rng.below(2001) as f32 - 1000.0) / 700.0;
    // Position counts below, on and across the cache's blocks of 64; two layers, two KV heads of
    // four query heads each; both cache precisions.
    for (trial, n_pos) in [1, 63, 64, 65, 150, 200].into_iter().enumerate() {
        let (hd, n_kv, group, layers) = (32, 2, 4, 2);
        let precision = if trial % 2 == 0 { KvPrecision::F32 } else { KvPrecision::F16 };
        let mut cache = KvCache::new(layers, n_kv * hd, hd, n_pos, precision);
        // What the cache holds, as f32 (f16 values rounded as the cache rounds them).
        let stored = |x: f32| match precision {
            KvPrecision::F32 => x,
            KvPrecision::F16 => half::f16::from_f32(x).to_f32(),
        };
        let mut keys = vec![vec![Vec::new(); n_kv]; layers];
        let mut values = vec![vec![Vec::new(); n_kv]; layers];
        for _ in 0..n_pos {
            for l in 0..layers {
                let k: Vec<f32> = (0..n_kv * hd).map(|_| val(&mut rng)).collect();
                let v: Vec<f32> = (0..n_kv * hd).map(|_| val(&mut rng)).collect();
                cache.push(l, &k, &v);
                for h in 0..n_kv {
                    keys[l][h].extend(k[h * hd..(h + 1) * hd].iter().map(|&x| stored(x)));
                    values[l][h].extend(v[h * hd..(h + 1) * hd].iter().map(|&x| stored(x)));
                }
            }
        }
        cache.commit(n_pos);
        let q: Vec<f32> = (0..group * hd).map(|_| val(&mut rng)).collect();
        let scale = 0.3;
        for kind in KernelKind::available() {
            for (l, h) in [(0, 0), (1, 1)] {
                // The reference: each head alone, every position in one call of each kernel.
                let mut want = vec![0f32; group * hd];
                for (qh, o) in q.chunks(hd).zip(want.chunks_mut(hd)) {
                    let mut p = vec![0f32; n_pos];
                    kind.dot_rows(qh, &keys[l][h], &mut p);
                    p.iter_mut().for_each(|s| *s *= scale);
                    kind.softmax(&mut p);
                    kind.add_weighted_rows(&p, &values[l][h], o);
                }
                let mut scratch = Vec::new();
                for heads in [1, 2, 4] {
                    let mut got = vec![f32::NAN; group * hd];
                    for (qs, o) in q.chunks(heads * hd).zip(got.chunks_mut(heads * hd)) {
                        cache.attend_heads(kind, l, qs, h, 0..n_pos, scale, &mut scratch, o);
                    }
                    assert_eq!(got, want, "{kind:?}, {precision:?}, {n_pos} positions, {heads} heads together");
                }
            }
        }
    }
}

#[test]
fn exp_is_within_two_ulp_over_its_range() {
    // Every 997th f32 bit pattern between the clamps, against f64's exp.
    let (lo, hi) = (-87.3f32, 88.3f32);
    let mut worst = 0f64;
    for bits in (0u32..u32::MAX).step_by(997) {
        let x = f32::from_bits(bits);
        if !(lo..=hi).contains(&x) {
            continue;
        }
        let want = (x as f64).exp();
        let ulp = (want as f32).abs() * f32::EPSILON;
        worst = worst.max((scalar::exp_f32(x) as f64 - want).abs() / ulp as f64);
    }
    assert!(worst <= 2.0, "worst error {worst} ulp");
    assert_eq!(scalar::exp_f32(0.0), 1.0);
    assert!(scalar::exp_f32(-1000.0) < 1e-37 && scalar::exp_f32(-1000.0) >= 0.0);
}

#[test]
fn softmax_agrees_bit_exactly_and_sums_to_one() {
    let mut rng = Rng(18);
    for _ in 0..100 {
        let n = 1 + rng.below(300) as usize;
        let spread = [0.1f32, 5.0, 60.0, 500.0][rng.below(4) as usize];
        let x: Vec<f32> = (0..n).map(|_| (rng.below(10001) as f32 / 10000.0 - 0.5) * spread).collect();
        let mut want = x.clone();
        scalar::softmax(&mut want);
        let total: f64 = want.iter().map(|&v| v as f64).sum();
        assert!((total - 1.0).abs() < 1e-5, "sum {total}");
        // Against f64 math.
        let max = x.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
        let denom: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
        for (&v, &w) in x.iter().zip(&want) {
            let f = (v as f64 - max).exp() / denom;
            assert!((f - w as f64).abs() <= 1e-6 * f.max(1e-30) + 1e-12, "{f} vs {w}");
        }
        for kind in KernelKind::available() {
            let mut got = x.clone();
            kind.softmax(&mut got);
            assert_eq!(got, want, "{kind:?}, n {n}");
        }
    }
}

#[test]
fn activation_quantization_follows_the_spec() {
    let x = [0.5f32, -1.0, 0.25, 0.0, 1.0 / 254.0, -1.0 / 254.0, 3.0 / 254.0];
    let mut q = [0i8; 7];
    let s = scalar::quantize_activations(&x, &mut q);
    assert_eq!(s, 127.0);
    // 63.5 and 0.5 and 1.5 round half to even.
    assert_eq!(q, [64, -127, 32, 0, 0, 0, 2]);
    let mut q = [0i8; 3];
    assert_eq!(scalar::quantize_activations(&[0.0, 0.0, 0.0], &mut q), 127.0 / 1e-5);
    assert_eq!(q, [0, 0, 0]);
}

#[test]
fn packed_layouts_decode_like_the_formats() {
    let mut rng = Rng(13);
    let (rows, cols) = (8, 512);
    let t = random_ternary(&mut rng, rows * cols);
    let d: Vec<half::f16> = (0..rows * cols / 256).map(|i| half::f16::from_f32(0.3 + i as f32)).collect();
    let cases: Vec<(TensorType, Vec<u8>, I2sLayout)> = vec![
        (TensorType::I2_S, quant::i2_s::encode(&t, cols, 0.75, I2sLayout::Block128), I2sLayout::Block128),
        (TensorType::I2_S, quant::i2_s::encode(&t, cols, 0.75, I2sLayout::Block64), I2sLayout::Block64),
        (TensorType::I2_S, quant::i2_s::encode(&t, cols, 0.75, I2sLayout::Rows4), I2sLayout::Rows4),
        (TensorType::TQ2_0, quant::tq2_0::encode(&t, &d), I2sLayout::Block128),
    ];
    for (ty, bytes, layout) in cases {
        let want = quant::decode(ty, &bytes, (rows * cols) as u64, DecodeOptions { i2s_layout: layout, row_len: cols }).unwrap();
        let packed = ternary::pack(ty, bytes, cols, rows, layout).unwrap();
        assert_eq!(packed.to_f32(), want, "{ty} {layout:?}");
    }
}

#[test]
fn tq1_0_packs_like_its_decoder() {
    // TQ1_0 blocks straight from the committed gguf-py fixture.
    let (g, data) = bitnet_web::gguf::read_all(common::FIXTURES[1].gguf).unwrap();
    let (i, info) = g.tensor("blk.0.tq1_0_real").unwrap();
    let want = quant::decode(info.ty, &data[i], info.n_elements, DecodeOptions::default()).unwrap();
    let (cols, rows) = (info.shape[0] as usize, info.shape[1] as usize);
    let packed = ternary::pack(info.ty, data[i].clone(), cols, rows, I2sLayout::Block128).unwrap();
    assert_eq!(packed.to_f32(), want);
}

#[test]
fn uniform_block_scales_become_one_scale() {
    let mut rng = Rng(14);
    let (rows, cols) = (3, 512);
    let t = random_ternary(&mut rng, rows * cols);
    let d = vec![half::f16::from_f32(0.625); rows * cols / 256];
    let bytes = quant::tq2_0::encode(&t, &d);
    let want = quant::decode(TensorType::TQ2_0, &bytes, (rows * cols) as u64, DecodeOptions::default()).unwrap();
    let packed = ternary::pack(TensorType::TQ2_0, bytes, cols, rows, I2sLayout::Block128).unwrap();
    assert_eq!(packed.scale, ternary::TernaryScale::PerTensor(0.625));
    assert_eq!(packed.to_f32(), want);
}

#[test]
fn int8_head_kernels_agree_and_stay_close_to_float() {
    let mut rng = Rng(15);
    for trial in 0..40 {
        let (rows, cols) = (1 + rng.below(80) as usize, 16 * (1 + rng.below(200) as usize));
        let limit = activation_limit(cols);
        // Bit-exact integer dots, including rows and activations at their extremes.
        let w: Vec<i8> = (0..cols).map(|i| if trial == 0 { -127 } else if i % 7 == 0 { 127 } else { (rng.next() % 255) as i8 }).map(|v| v.max(-127)).collect();
        let x: Vec<i16> = (0..cols).map(|i| if trial == 0 || i % 5 == 0 { -limit } else { (rng.next() % (2 * limit as u64 + 1)) as i16 - limit }).collect();
        let want = scalar::dot_i8_i16(&w, &x);
        let exact: i64 = w.iter().zip(&x).map(|(&a, &b)| a as i64 * b as i64).sum();
        assert_eq!(want as i64, exact, "the activation limit keeps the sum inside i32");
        for kind in KernelKind::available() {
            assert_eq!(kind.dot_i8_i16(&w, &x), want, "{kind:?}, {cols} columns");
        }
        // The whole head against f64 math on the unrounded matrix and input.
        let (m, dense) = random_matrix(&mut rng, rows, cols);
        let head = dense.to_int8();
        let xf: Vec<f32> = (0..cols).map(|_| (rng.below(2001) as f32 - 1000.0) / 300.0).collect();
        let mut want = vec![0f32; rows];
        int8_matvec(KernelKind::Scalar, &head, &xf, &mut want);
        for r in 0..rows {
            let row = &m[r * cols..(r + 1) * cols];
            let f: f64 = row.iter().zip(&xf).map(|(&a, &b)| a as f64 * b as f64).sum();
            // Each weight moves by at most half a step (max|row|/254); the input's rounding is far smaller.
            let step = row.iter().fold(0f32, |a, v| a.max(v.abs())) as f64 / 254.0;
            let bound = step * xf.iter().map(|v| v.abs() as f64).sum::<f64>() * 1.01 + 1e-3;
            assert!((f - want[r] as f64).abs() <= bound, "row {r}: {f} vs {}", want[r]);
        }
        for kind in KernelKind::available() {
            let mut got = vec![0f32; rows];
            int8_matvec(kind, &head, &xf, &mut got);
            assert_eq!(got, want, "{kind:?}");
        }
        // An F16 head converted within its own buffer equals a copied conversion.
        let bits: Vec<u16> = m.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
        let f16 = DenseMatrix::from_f16(bits, cols, rows);
        let copied = f16.to_int8();
        // Rows quantized as the stored bytes stream in, in chunks of any size, equal the
        // conversion of the whole tensor (F16 and F32 alike).
        let f16_bytes: Vec<u8> = match &f16.data {
            bitnet_web::weights::dense::DenseData::F16(b) => b.iter().flat_map(|h| h.to_le_bytes()).collect(),
            _ => unreachable!(),
        };
        for (bytes, is_f16, reference) in [(f16_bytes, true, &copied), (bytemuck::cast_slice::<f32, u8>(&m).to_vec(), false, &head)] {
            let mut w = Int8RowsWriter::new(rows, cols, is_f16);
            for chunk in common::uneven_chunks(&bytes, rows as u64) {
                w.push(chunk).unwrap();
            }
            let streamed = w.finish().expect("every row arrived");
            assert_eq!(streamed.scales, reference.scales);
            assert!((0..rows).all(|r| streamed.row(r) == reference.row(r)));
        }
        let in_place = f16.into_int8();
        assert_eq!(in_place.scales, copied.scales);
        assert!((0..rows).all(|r| in_place.row(r) == copied.row(r)));
    }
}

#[test]
fn int8_rows_writer_refuses_a_non_finite_row_and_a_short_tensor() {
    let mut w = Int8RowsWriter::new(3, 4, false);
    let row = |v: f32| [v; 4].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    w.push(&row(1.0)).unwrap();
    assert_eq!(w.push(&row(f32::NAN)), Err(1), "the NaN row is named");
    let mut w = Int8RowsWriter::new(3, 4, false);
    w.push(&row(1.0)).unwrap();
    w.push(&row(2.0)[..7]).unwrap();
    assert!(w.finish().is_none(), "a tensor that ends early is not a matrix");
}

fn random_matrix(rng: &mut Rng, rows: usize, cols: usize) -> (Vec<f32>, DenseMatrix) {
    let m: Vec<f32> = (0..rows * cols).map(|_| (rng.below(2001) as f32 - 1000.0) / 500.0).collect();
    let dense = DenseMatrix::from_bytes(TensorType::F32, bytemuck::cast_slice(&m), cols, rows).unwrap();
    (m, dense)
}

#[test]
fn int4_rows_round_each_value_to_its_block_scale() {
    let mut rng = Rng(17);
    for _ in 0..20 {
        let (rows, cols) = (1 + rng.below(20) as usize, 64 * (1 + rng.below(10) as usize));
        let (m, dense) = random_matrix(&mut rng, rows, cols);
        let w = Int4Rows::quantize(&dense);
        assert_eq!(w.memory_bytes(), rows * cols / 2 + 4 * rows * cols / int4_rows::BLOCK);
        for r in 0..rows {
            let blocks = w.row_codes(r).chunks_exact(int4_rows::BLOCK_BYTES).zip(w.row_scales(r));
            for (b, (codes, &scale)) in blocks.enumerate() {
                let orig = &m[r * cols + b * int4_rows::BLOCK..][..int4_rows::BLOCK];
                let max = orig.iter().fold(0f32, |a, v| a.max(v.abs()));
                assert_eq!(scale, max / 7.0);
                for (j, &v) in orig.iter().enumerate() {
                    let q = int4_rows::value(codes, j);
                    assert!((-7..=7).contains(&q));
                    assert!((q as f32 * scale - v).abs() <= scale * 0.5001, "row {r} block {b} value {j}: {v} stored as {q}·{scale}");
                }
            }
        }
        // Rows made as the stored bytes stream in, in chunks of any size, equal the whole
        // tensor's (F32 and F16 alike): the shortlist of an embedding left in the file.
        let bits: Vec<u16> = m.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
        let f16_bytes: Vec<u8> = bits.iter().flat_map(|h| h.to_le_bytes()).collect();
        let f16 = Int4Rows::quantize(&DenseMatrix::from_f16(bits, cols, rows));
        for (bytes, is_f16, reference) in [(f16_bytes, true, &f16), (bytemuck::cast_slice::<f32, u8>(&m).to_vec(), false, &w)] {
            let mut writer = Int4RowsWriter::new(rows, cols, is_f16);
            for chunk in common::uneven_chunks(&bytes, rows as u64) {
                writer.push(chunk).unwrap();
            }
            let streamed = writer.finish().expect("every row arrived");
            assert!((0..rows).all(|r| streamed.row_codes(r) == reference.row_codes(r) && streamed.row_scales(r) == reference.row_scales(r)));
        }
    }
}

#[test]
fn int4_rows_writer_refuses_a_non_finite_row_and_a_short_tensor() {
    let row = |v: f32| [v; 64].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut w = Int4RowsWriter::new(3, 64, false);
    w.push(&row(1.0)).unwrap();
    assert_eq!(w.push(&row(f32::INFINITY)).map(|_| ()), Err(1), "the infinite row is named");
    let mut w = Int4RowsWriter::new(3, 64, false);
    w.push(&row(1.0)).unwrap();
    w.push(&row(2.0)[..7]).unwrap();
    assert!(w.finish().is_none(), "a tensor that ends early is not a matrix");
}

#[test]
fn int4_dot_kernels_agree_bit_exactly() {
    let mut rng = Rng(18);
    for trial in 0..100 {
        let cols = 64 * (1 + rng.below(60) as usize);
        // Trials 0-1 reach the kernels' i16 partial-sum bound: every code 15 (each block's values
        // equal and positive) against all -128, then all 127.
        let row: Vec<f32> = (0..cols).map(|_| if trial < 2 { 1.5 } else { (rng.below(2001) as f32 - 1000.0) / 500.0 }).collect();
        let dense = DenseMatrix::from_bytes(TensorType::F32, bytemuck::cast_slice(&row), cols, 1).unwrap();
        let w = Int4Rows::quantize(&dense);
        let q: Vec<i8> = match trial {
            0 => vec![-128; cols],
            1 => vec![127; cols],
            _ => random_q(&mut rng, cols),
        };
        let (codes, scales) = (w.row_codes(0), w.row_scales(0));
        let want = scalar::dot_int4(codes, scales, &q);
        // The reference against f64 arithmetic on the decoded values.
        let terms: Vec<f64> = (0..cols)
            .map(|j| {
                let block = &codes[j / 64 * 32..][..32];
                scales[j / 64] as f64 * int4_rows::value(block, j % 64) as f64 * q[j] as f64
            })
            .collect();
        let exact: f64 = terms.iter().sum();
        let size: f64 = terms.iter().map(|t| t.abs()).sum();
        assert!((want as f64 - exact).abs() <= 1e-6 * size + 1e-9, "{want} vs {exact}");
        let offsets = int4_offsets(&q);
        for kind in KernelKind::available() {
            assert_eq!(kind.dot_int4(codes, scales, &q, &offsets).to_bits(), want.to_bits(), "{kind:?}, {cols} columns, trial {trial}");
        }
    }
}

#[test]
fn best_rows_are_the_largest_values() {
    let mut rng = Rng(19);
    for _ in 0..200 {
        let (n, k) = (rng.below(300) as usize, rng.below(80) as usize);
        // Many ties, and some NaNs, which rank below every number.
        let v: Vec<f32> = (0..n).map(|_| if rng.below(20) == 0 { f32::NAN } else { rng.below(40) as f32 - 20.0 }).collect();
        let got = best_rows(&v, k);
        let mut distinct = got.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!((got.len(), distinct.len()), (n.min(k), n.min(k)));
        let key = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
        let mut want: Vec<f32> = v.iter().map(|&x| key(x)).collect();
        want.sort_by(|a, b| b.total_cmp(a));
        want.truncate(k);
        let mut chosen: Vec<f32> = got.iter().map(|&r| key(v[r])).collect();
        chosen.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(chosen, want);
    }
}

#[test]
fn shortlist_head_scores_its_candidates_exactly() {
    let mut rng = Rng(20);
    for _ in 0..12 {
        let (rows, cols) = (40 + rng.below(400) as usize, 64 * (1 + rng.below(12) as usize));
        let (m, dense) = random_matrix(&mut rng, rows, cols);
        let w = Int4Rows::quantize(&dense);
        let x: Vec<f32> = (0..cols).map(|_| (rng.below(2001) as f32 - 1000.0) / 300.0).collect();
        let mut exact = vec![0f32; rows];
        dense_matvec(&dense, &x, &mut exact);
        let mut got = vec![0f32; rows];
        let scored = shortlist_matvec(KernelKind::Scalar, &w, &dense, &x, &mut got);
        // The shortlist carries the stored head's values bit for bit, and it includes the best row.
        let same = got.iter().zip(&exact).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
        assert!(scored >= rows.min(CANDIDATES) && same >= scored, "{same} of {rows} rows exact, {scored} scored");
        let argmax = |v: &[f32]| (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b });
        assert_eq!(got[argmax(&exact)], exact[argmax(&exact)]);
        assert_eq!(argmax(&got), argmax(&exact));
        // Every estimate is within its rounding: half a block step per weight, half an int8 step
        // (max|x| / 254) per activation.
        let xmax = x.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
        for r in 0..rows {
            let row = &m[r * cols..(r + 1) * cols];
            let bound: f64 = (0..cols)
                .map(|j| w.row_scales(r)[j / 64] as f64 / 2.0 * x[j].abs() as f64 + row[j].abs() as f64 * xmax / 254.0)
                .sum();
            assert!((got[r] - exact[r]).abs() as f64 <= bound * 1.01 + 1e-3, "row {r}: {} vs {}", got[r], exact[r]);
        }
        for kind in KernelKind::available() {
            let mut other = vec![0f32; rows];
            assert_eq!(shortlist_matvec(kind, &w, &dense, &x, &mut other), scored);
            assert!(other.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "{kind:?}");
        }
    }
}

/// `kernels::bandwidth::read_sum` (the read-rate pass of "benchmark this device") against its plain
/// reference, on pieces of every length around its 64 KiB split and a word, at 1 and all threads.
#[test]
fn the_read_pass_sums_every_byte_as_the_reference_does() {
    use bitnet_web::kernels::bandwidth::{read_sum, read_sum_reference};
    use bitnet_web::kernels::{limit_threads, pool_threads};
    let mut rng = Rng(0x7e57_0b0d);
    let lens = [0usize, 1, 7, 8, 9, 31, 32, 33, 65535, 65536, 65537, 3 << 16, 200_003];
    let parts: Vec<Vec<u8>> = lens.iter().map(|&n| (0..n).map(|_| rng.below(256) as u8).collect()).collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let want = read_sum_reference(&refs);
    assert_ne!(want, 0);
    for t in [1, pool_threads()] {
        limit_threads(Some(t));
        assert_eq!(read_sum(&refs), want, "at {t} thread(s)");
    }
    limit_threads(None);
    // One byte changed changes the sum: every byte is read.
    let mut changed = parts.clone();
    changed[8][40000] ^= 1;
    assert_ne!(read_sum(&changed.iter().map(Vec::as_slice).collect::<Vec<_>>()), want);
}
