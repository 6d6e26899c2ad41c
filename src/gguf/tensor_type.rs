//! ggml tensor type ids and their exact byte sizes.
//!
//! The container needs sizes to lay out the data section, so the table lives here; decoding the
//! bytes is `quant`'s job. Sizes for the block types are checked against gguf-py's
//! `GGML_QUANT_SIZES` by `tests/suite/gguf_fixtures.rs`.

use serde::Serialize;

#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TensorType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    /// Microsoft bitnet.cpp's 2-bit ternary format (id 36 in its llama.cpp fork only): one f32 scale
    /// for the whole tensor, stored after the packed codes.
    I2_S,
    /// bitnet.cpp's lookup-table formats (ids 38 and 39 in its fork; 39 is MXFP4 upstream): ternary
    /// weights tiled for kernels generated per matrix shape, with the scale in a `<name>_scale` tensor
    /// beside them (`quant::tl`). TL1 is 2 bits a weight; TL2 is 5 bits per 3, its last columns 2 bits
    /// a weight, and its size depends on the shape, not only the element count ([`TensorType::bytes_for`]).
    TL1,
    TL2,
}

use TensorType::*;

/// (type, id, elements per block, bytes per block). I2_S is not block-sized; see [`TensorType::byte_size`].
const TABLE: &[(TensorType, u32, u64, u64)] = &[
    (F32, 0, 1, 4),
    (F16, 1, 1, 2),
    (Q4_0, 2, 32, 18),
    (Q4_1, 3, 32, 20),
    (Q5_0, 6, 32, 22),
    (Q5_1, 7, 32, 24),
    (Q8_0, 8, 32, 34),
    (Q8_1, 9, 32, 36),
    (Q2_K, 10, 256, 84),
    (Q3_K, 11, 256, 110),
    (Q4_K, 12, 256, 144),
    (Q5_K, 13, 256, 176),
    (Q6_K, 14, 256, 210),
    (Q8_K, 15, 256, 292),
    (IQ2_XXS, 16, 256, 66),
    (IQ2_XS, 17, 256, 74),
    (IQ3_XXS, 18, 256, 98),
    (IQ1_S, 19, 256, 50),
    (IQ4_NL, 20, 32, 18),
    (IQ3_S, 21, 256, 110),
    (IQ2_S, 22, 256, 82),
    (IQ4_XS, 23, 256, 136),
    (I8, 24, 1, 1),
    (I16, 25, 1, 2),
    (I32, 26, 1, 4),
    (I64, 27, 1, 8),
    (F64, 28, 1, 8),
    (IQ1_M, 29, 256, 56),
    (BF16, 30, 1, 2),
    (TQ1_0, 34, 256, 54),
    (TQ2_0, 35, 256, 66),
    (I2_S, 36, 1, 0),
    (TL1, 38, 1, 0),
    (TL2, 39, 1, 0),
];

/// Type ids that name a real format this runtime does not read (as opposed to garbage): bitnet.cpp's
/// I8_S and types removed from ggml. A file using one is a valid model that needs converting, which
/// [`unsupported_reason`] says how to do. (TL1 and TL2 are read, for the shapes whose tiling is known:
/// `model::plan` decides that, and what a type-39 tensor with no scale beside it is.)
pub fn is_known_unsupported(id: u32) -> bool {
    matches!(id, 4 | 5 | 31..=33 | 37)
}

/// Why a type id cannot be used; the text goes into [`crate::gguf::GgufError::UnknownTensorType`].
pub fn unsupported_reason(id: u32) -> String {
    match id {
        37 => "type 37 is bitnet.cpp's I8_S, an activation-only type that never appears in model files".into(),
        4 | 5 | 31..=33 => format!("type {id} was removed from ggml long ago; re-convert the model"),
        _ => format!("type id {id} is not a known ggml tensor type; the file is corrupt or too new"),
    }
}

impl TensorType {
    pub fn from_id(id: u32) -> Option<Self> {
        TABLE.iter().find(|e| e.1 == id).map(|e| e.0)
    }

    pub fn id(self) -> u32 {
        self.entry().1
    }

    pub fn name(self) -> &'static str {
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ2_XXS => "IQ2_XXS",
            IQ2_XS => "IQ2_XS",
            IQ3_XXS => "IQ3_XXS",
            IQ1_S => "IQ1_S",
            IQ4_NL => "IQ4_NL",
            IQ3_S => "IQ3_S",
            IQ2_S => "IQ2_S",
            IQ4_XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1_M => "IQ1_M",
            BF16 => "BF16",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            I2_S => "I2_S",
            TL1 => "TL1",
            TL2 => "TL2",
        }
    }

    fn entry(self) -> &'static (TensorType, u32, u64, u64) {
        TABLE.iter().find(|e| e.0 == self).expect("every type is in TABLE")
    }

    /// Elements per block: the first dimension must be a multiple of it.
    pub fn block_size(self) -> u64 {
        self.entry().2
    }

    /// Exact bytes of a tensor with `n_elements` elements (already checked to be a whole number of
    /// blocks). I2_S is `n/4` bytes of 2-bit codes plus one f32 scale padded to 32 bytes; generic
    /// `blck_size/type_size` tables get this wrong (spec §2.9, pitfall 1).
    /// TL2's size depends on the shape: `None` here, [`TensorType::bytes_for`] has it.
    pub fn byte_size(self, n_elements: u64) -> Option<u64> {
        match self {
            I2_S => Some(n_elements / 4 + 32),
            // The codes only: the scale is a tensor of its own (`<name>_scale`).
            TL1 => Some(n_elements / 4),
            TL2 => None,
            _ => {
                let (_, _, blck, size) = *self.entry();
                (n_elements / blck).checked_mul(size)
            }
        }
    }

    /// Exact bytes of a tensor of this shape (ggml order), as its writer lays them out.
    ///
    /// TL2 is what Microsoft's converter writes (`preprocess_weights_tl2`, padded with zeros to
    /// `(K-256)*M//3*5//8 + 256*M//2*4//8` bytes, in Python's integer arithmetic): the first K - K % BK
    /// columns at 5 bits per 3 weights, the rest at 2 bits a weight, sized as if the rest were 256.
    pub fn bytes_for(self, shape: &[u64]) -> Option<u64> {
        match (self, shape) {
            (TL2, &[k, m]) => Some((k.checked_sub(256)?.checked_mul(m)? / 3).checked_mul(5)? / 8 + m.checked_mul(64)?),
            (TL2, _) => None,
            _ => self.byte_size(shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?),
        }
    }

    /// Why `shape` cannot be stored in this type, if it cannot.
    pub fn shape_error(self, shape: &[u64]) -> Option<String> {
        let ne0 = shape.first().copied().unwrap_or(1);
        match self {
            TL1 if shape.len() != 2 => Some("TL1 holds matrices only".into()),
            TL1 => (ne0 % 2 != 0).then(|| "TL1 packs pairs of weights, so a row's length must be even".into()),
            // Microsoft's converter sizes TL2 as `(K - 256) * …` and cannot write a narrower matrix.
            TL2 => (shape.len() != 2 || ne0 < 256 || ne0 % 32 != 0).then(|| {
                "type 39 is TL2 in bitnet.cpp's fork, whose matrices have rows of at least 256 weights in whole \
                 32-weight groups, and MXFP4 in upstream llama.cpp, which bitnet-web does not read"
                    .into()
            }),
            I2_S => {
                let n: u64 = shape.iter().product();
                (n % 4 != 0).then(|| "I2_S packs 4 weights per byte, so the element count must be a multiple of 4".into())
            }
            _ => {
                let blck = self.block_size();
                (ne0 % blck != 0).then(|| format!("its first dimension must be a multiple of the block size {blck}"))
            }
        }
    }

    pub fn all() -> impl Iterator<Item = TensorType> {
        TABLE.iter().map(|e| e.0)
    }
}

impl std::fmt::Display for TensorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
