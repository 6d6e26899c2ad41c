//! CPU math. `scalar` is the reference; the wasm SIMD128 and relaxed-SIMD kernels must agree with
//! it (the integer parts bit-exactly), which `tests/kernels.rs` checks on random shapes and values.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
pub mod relaxed;
mod ternary;

pub use ternary::{ternary_matmul, ternary_matvec};

/// Which implementation of the integer dot product runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    Scalar,
    /// wasm SIMD128: widening multiplies and `i32x4.dot_i16x8_s`.
    Simd128,
    /// wasm relaxed SIMD: `i32x4.relaxed_dot_i8x16_i7x16_add_s` on (int8 activation, 2-bit code).
    RelaxedSimd,
}

impl KernelKind {
    /// Every kernel this build can run, best last.
    pub fn available() -> Vec<KernelKind> {
        #[allow(unused_mut)]
        let mut v = vec![KernelKind::Scalar];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        v.push(KernelKind::Simd128);
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
        v.push(KernelKind::RelaxedSimd);
        v
    }

    pub fn best() -> KernelKind {
        *Self::available().last().expect("scalar is always available")
    }

    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Scalar => "scalar",
            KernelKind::Simd128 => "simd128",
            KernelKind::RelaxedSimd => "relaxed-simd",
        }
    }

    /// Σ code·q over one packed row, with this kernel.
    #[inline]
    pub fn dot_codes(self, codes: &[u8], q: &[i8]) -> i32 {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 => simd128::dot_codes(codes, q),
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            KernelKind::RelaxedSimd => relaxed::dot_codes(codes, q),
            _ => scalar::dot_codes(codes, q),
        }
    }
}
