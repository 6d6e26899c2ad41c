//! CPU math. `scalar` is the reference; the wasm SIMD128 and relaxed-SIMD kernels must agree with
//! it (the integer parts bit-exactly), which `tests/suite/kernels.rs` checks on random shapes and values.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
pub mod relaxed;
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
pub mod avx2;
pub mod bandwidth;
mod dense;
mod int8;
mod parallel;
mod shortlist;
mod streams;
mod ternary;

pub use dense::{dense_matvec, dense_row, dense_rows};
pub use int8::{activation_limit, int8_matvec};
pub use shortlist::{CANDIDATES, best_rows, int4_offsets, shortlist_matvec};
pub use parallel::{for_each_row_chunk, for_each_row_chunk_of, limit_threads, pool_threads, threads};
pub use streams::interleaved;
pub use ternary::{ternary_matmul, ternary_matmuls, ternary_matvec};

/// Which implementation of the integer dot product runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    Scalar,
    /// wasm SIMD128: widening multiplies and `i32x4.dot_i16x8_s`.
    Simd128,
    /// wasm relaxed SIMD: `i16x8.relaxed_dot_i8x16_i7x16_s` on (int8 activation, 2-bit code).
    RelaxedSimd,
    /// wasm relaxed SIMD with the i32 dot (`i32x4.relaxed_dot_i8x16_i7x16_add_s`), which V8 makes
    /// one `vpdpbusd` on CPUs with AVX-VNNI (see `relaxed`).
    RelaxedSimdI32,
    /// Native x86-64 with AVX2: `vpmaddubsw` on (2-bit code, int8 activation).
    Avx2,
}

impl KernelKind {
    /// Every kernel this build can run.
    pub fn available() -> Vec<KernelKind> {
        #[allow(unused_mut)]
        let mut v = vec![KernelKind::Scalar];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        v.push(KernelKind::Simd128);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
        v.extend([KernelKind::RelaxedSimd, KernelKind::RelaxedSimdI32]);
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
        v.push(KernelKind::Avx2);
        v
    }

    /// The fastest kernel here: the last of `available`, except that a relaxed build runs the
    /// i32 dot only where it is one fused instruction (`relaxed::fused_i32_dot`).
    pub fn best() -> KernelKind {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
        if !relaxed::fused_i32_dot() {
            return KernelKind::RelaxedSimd;
        }
        *Self::available().last().expect("scalar is always available")
    }

    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Scalar => "scalar",
            KernelKind::Simd128 => "simd128",
            KernelKind::RelaxedSimd => "relaxed-simd",
            KernelKind::RelaxedSimdI32 => "relaxed-simd-i32",
            KernelKind::Avx2 => "avx2",
        }
    }

    /// Σ code·q over one packed row, with this kernel.
    #[inline]
    pub fn dot_codes(self, codes: &[u8], q: &[i8]) -> i32 {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 => simd128::dot_codes(codes, q),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimd => relaxed::dot_codes(codes, q),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimdI32 => relaxed::dot_codes_i32(codes, q),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            KernelKind::Avx2 => avx2::dot_codes(codes, q),
            _ => scalar::dot_codes(codes, q),
        }
    }

    /// `dot_codes` of two rows against one token: the relaxed kernels run them in lockstep,
    /// sharing the activation loads; the others one after the other.
    #[inline]
    pub fn dot_codes_x2(self, rows: [&[u8]; 2], q: &[i8]) -> [i32; 2] {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimd => relaxed::dot_codes_x2(rows, q),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimdI32 => relaxed::dot_codes_x2_i32(rows, q),
            _ => rows.map(|codes| self.dot_codes(codes, q)),
        }
    }

    /// `dot_codes` of one row against four tokens at once.
    #[inline]
    pub fn dot_codes_x4(self, codes: &[u8], q: [&[i8]; 4]) -> [i32; 4] {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 => simd128::dot_codes_x4(codes, q),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimd => relaxed::dot_codes_x4(codes, q),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimdI32 => relaxed::dot_codes_x4_i32(codes, q),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            KernelKind::Avx2 => avx2::dot_codes_x4(codes, q),
            _ => scalar::dot_codes_x4(codes, q),
        }
    }

    /// `scalar::dot_rows` (attention's q·k) with this kernel's instructions (the same result).
    #[inline]
    pub fn dot_rows(self, q: &[f32], rows: &[f32], out: &mut [f32]) {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 | KernelKind::RelaxedSimd | KernelKind::RelaxedSimdI32 => simd128::dot_rows(q, rows, out),
            _ => scalar::dot_rows(q, rows, out),
        }
    }

    /// `scalar::add_weighted_rows` (attention's Σ p·v) with this kernel's instructions (the same
    /// result).
    #[inline]
    pub fn add_weighted_rows(self, p: &[f32], rows: &[f32], out: &mut [f32]) {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 | KernelKind::RelaxedSimd | KernelKind::RelaxedSimdI32 => simd128::add_weighted_rows(p, rows, out),
            _ => scalar::add_weighted_rows(p, rows, out),
        }
    }

    /// `scalar::softmax` with this kernel's instructions (the same result).
    #[inline]
    pub fn softmax(self, x: &mut [f32]) {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 | KernelKind::RelaxedSimd | KernelKind::RelaxedSimdI32 => simd128::softmax(x),
            _ => scalar::softmax(x),
        }
    }

    /// `scalar::quantize_activations` with this kernel's instructions (the same result).
    #[inline]
    pub fn quantize_activations(self, x: &[f32], q: &mut [i8]) -> f32 {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 | KernelKind::RelaxedSimd | KernelKind::RelaxedSimdI32 => simd128::quantize_activations(x, q),
            _ => scalar::quantize_activations(x, q),
        }
    }

    /// `scalar::dot_int4` (a 4-bit shortlist row) with this kernel's instructions (the same
    /// result); `offsets` come from `int4_offsets(q)`, which only the SIMD kernels need.
    #[inline]
    pub fn dot_int4(self, codes: &[u8], scales: &[f32], q: &[i8], offsets: &[i32]) -> f32 {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 => simd128::dot_int4(codes, scales, q, offsets),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "relaxed-simd"))]
            KernelKind::RelaxedSimd | KernelKind::RelaxedSimdI32 => relaxed::dot_int4(codes, scales, q, offsets),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            KernelKind::Avx2 => avx2::dot_int4(codes, scales, q, offsets),
            _ => {
                let _ = offsets;
                scalar::dot_int4(codes, scales, q)
            }
        }
    }

    /// Σ w·x over an int8 row and int16 activations. Relaxed SIMD runs the SIMD128 kernel too:
    /// two relaxed 7-bit dots on split activations were measured slower (14 vs 18 GMAC/s).
    #[inline]
    pub fn dot_i8_i16(self, w: &[i8], x: &[i16]) -> i32 {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 | KernelKind::RelaxedSimd | KernelKind::RelaxedSimdI32 if w.len() % 16 == 0 => simd128::dot_i8_i16(w, x),
            _ => scalar::dot_i8_i16(w, x),
        }
    }
}
