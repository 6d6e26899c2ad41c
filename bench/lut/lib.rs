//! `run(variant, passes)`: GEMV passes over one random ROWS × COLS ternary matrix, with the shipped
//! relaxed-SIMD kernel (variant 0) or the lookup-table kernel (variant 1, tables built every pass);
//! returns a checksum of Σ w·q so that the caller can check both agree.

mod lut;
#[allow(dead_code)] // the experiment uses only the GEMV kernel
#[path = "../../src/kernels/relaxed.rs"]
mod relaxed;
#[allow(dead_code)] // for `relaxed.rs`'s `hsum`
#[path = "../../src/kernels/simd128.rs"]
mod simd128;
#[allow(dead_code)] // for `simd128.rs`
#[path = "../../src/kernels/scalar.rs"]
mod scalar;
/// What the kernel files import from the engine's `quant` and `weights` (which need the whole
/// crate): the layout constants, and `int4_rows::value` restated for the scalar 4-bit head kernel.
#[allow(dead_code)]
mod quant {
    pub mod ternary {
        pub const BLOCK: usize = 128;
        pub const BLOCK_BYTES: usize = BLOCK / 4;
    }
}
#[allow(dead_code)]
mod weights {
    pub mod int4_rows {
        pub const BLOCK: usize = 64;
        pub const BLOCK_BYTES: usize = BLOCK / 2;
        pub const OFFSET: i32 = 8;
        pub fn value(block: &[u8], j: usize) -> i32 {
            (if j < BLOCK_BYTES { block[j] & 15 } else { block[j - BLOCK_BYTES] >> 4 }) as i32 - OFFSET
        }
    }
}

use std::cell::RefCell;

pub const ROWS: usize = 2560;
pub const COLS: usize = 2560;

struct Data {
    codes: Vec<u8>,
    index: Vec<u8>,
    q: Vec<i8>,
}

thread_local! {
    static DATA: RefCell<Option<Data>> = const { RefCell::new(None) };
}

/// Random codes and activations from `seed` (xorshift).
#[unsafe(no_mangle)]
pub extern "C" fn setup(seed: u32) {
    let mut s = seed as u64 | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let codes: Vec<u8> = (0..ROWS * COLS / 4).map(|_| (0..4).fold(0u8, |b, _| b << 2 | (next() % 3) as u8)).collect();
    let q: Vec<i8> = (0..COLS).map(|_| next() as i8).collect();
    let index = lut::build_index(&codes, ROWS, COLS);
    DATA.with(|d| *d.borrow_mut() = Some(Data { codes, index, q }));
}

#[unsafe(no_mangle)]
pub extern "C" fn run(variant: u32, passes: u32) -> i32 {
    DATA.with(|d| {
        let d = d.borrow();
        let d = d.as_ref().expect("setup first");
        let qsum: i32 = d.q.iter().map(|&v| v as i32).sum();
        let mut check = 0i32;
        for _ in 0..passes {
            if variant == 0 {
                for r in 0..ROWS {
                    check = check.wrapping_add(relaxed::dot_codes(&d.codes[r * COLS / 4..][..COLS / 4], &d.q) - qsum);
                }
            } else {
                let tables = lut::build_tables(&d.q);
                for t in 0..ROWS / lut::TILE {
                    let tile = &d.index[t * lut::TILE * COLS / 4..][..lut::TILE * COLS / 4];
                    check = lut::tile_dot(tile, &tables, COLS).iter().fold(check, |a, &v| a.wrapping_add(v));
                }
            }
        }
        check
    })
}
