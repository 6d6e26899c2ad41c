//! Bad input gets a typed error: never a panic, a hang, or an allocation the input cannot back.
//! Runs natively and in headless Chromium.

use crate::common;

use bitnet_web::gguf::{self, GgufError, GgufStream, Limits};
use common::raw::Raw;
use common::{FIXTURES, Rng};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Streams `bytes` with no known length (like a fetch without Content-Length).
fn stream_err(bytes: &[u8]) -> GgufError {
    let mut s = GgufStream::default();
    match s.feed(bytes, |_| Ok::<(), GgufError>(())) {
        Err(e) => e,
        Ok(()) => s.finish().expect_err("expected an error"),
    }
}

/// Parses `bytes` as a whole file of known length.
fn file_err(bytes: &[u8]) -> GgufError {
    gguf::read_all(bytes).expect_err("expected an error")
}

#[test]
fn truncation_at_every_byte_of_the_header_and_data() {
    for fx in FIXTURES {
        let (g, _) = gguf::read_all(fx.gguf).unwrap();
        // The last tensor's padding is optional: cutting it off is fine.
        for cut in g.required_file_len() as usize..fx.gguf.len() {
            gguf::read_all(&fx.gguf[..cut]).unwrap();
        }
        for cut in 0..g.required_file_len() as usize {
            let part = &fx.gguf[..cut];
            match stream_err(part) {
                GgufError::Truncated { got, .. } => assert!(cut < g.data_offset as usize && got == cut as u64),
                GgufError::TruncatedData { needed, file_len } => {
                    assert!(cut + g.alignment as usize > g.data_offset as usize && file_len == cut as u64 && needed > file_len)
                }
                e => panic!("{} cut at {cut}: unexpected {e:?}", fx.name),
            }
            match file_err(part) {
                GgufError::Truncated { .. } | GgufError::TensorOutOfBounds { .. } => {}
                e => panic!("{} cut at {cut} (known length): unexpected {e:?}", fx.name),
            }
        }
    }
}

#[test]
fn not_gguf_at_all() {
    assert!(matches!(stream_err(b"<!DOCTYPE html><html>"), GgufError::BadMagic { found } if &found == b"<!DO"));
    assert!(matches!(stream_err(b"GGML\x03\0\0\0"), GgufError::BadMagic { .. }));
    // Detected from the first 4 bytes, before anything else arrives.
    let mut s = GgufStream::default();
    assert!(s.feed(b"PK\x03\x04", |_| Ok::<(), GgufError>(())).is_err());
    let msg = stream_err(b"{\"error\": \"not found\"}").to_string();
    assert!(msg.contains("not a GGUF file"), "{msg}");
}

#[test]
fn big_endian_and_unknown_versions() {
    let be = Raw(b"GGUF\0\0\0\x03".to_vec()).build();
    assert!(matches!(stream_err(&be), GgufError::BigEndian { .. }));
    for v in [0u32, 1, 4, 0xFFFF_FFFF] {
        assert!(matches!(stream_err(&Raw::header(v, 0, 0).build()), GgufError::UnsupportedVersion { version } if version == v));
    }
    // Version 2 has the same layout as 3.
    gguf::read_all(&Raw::header(2, 0, 0).build()).unwrap();
}

#[test]
fn absurd_counts_fail_at_once() {
    for (nt, nkv) in [(u64::MAX, 0), (0, u64::MAX), (1 << 40, 0), (0, 1 << 40)] {
        let e = stream_err(&Raw::header(3, nt, nkv).build());
        assert!(matches!(e, GgufError::TooMany { .. }), "{e:?}");
    }
    // An array claiming 2^60 elements.
    let mut r = Raw::header(3, 0, 1);
    r.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1 << 60);
    assert!(matches!(stream_err(&r.build()), GgufError::TooMany { what: "array elements", .. }));
    // A string claiming 2^63 bytes, as a key and as a value.
    let mut r = Raw::header(3, 0, 1);
    r.u64(1 << 63);
    assert!(matches!(stream_err(&r.build()), GgufError::StringTooLong { .. }));
    let mut r = Raw::header(3, 0, 1);
    r.str("general.name").u32(8).u64(u64::MAX);
    assert!(matches!(stream_err(&r.build()), GgufError::StringTooLong { .. }));
    // A tensor name longer than ggml allows.
    let mut r = Raw::header(3, 1, 0);
    r.str(&"x".repeat(64));
    assert!(matches!(stream_err(&r.build()), GgufError::BadTensorName { len: 64, .. }));
}

#[test]
fn header_size_limit() {
    let limits = Limits { max_header_bytes: 1000, max_string_bytes: 100 };
    let mut r = Raw::header(3, 0, 60);
    for i in 0..60 {
        r.kv_u32(&format!("key.{i:04}"), i);
    }
    let mut s = GgufStream::new(limits, None);
    let e = s.feed(&r.build(), |_| Ok::<(), GgufError>(())).unwrap_err();
    assert!(matches!(e, GgufError::HeaderTooLarge { limit: 1000 }), "{e:?}");
}

#[test]
fn metadata_errors() {
    let one = |f: &dyn Fn(&mut Raw)| {
        let mut r = Raw::header(3, 0, 1);
        f(&mut r);
        stream_err(&r.build())
    };
    assert!(matches!(one(&|r| { r.str("k").u32(13); }), GgufError::UnknownValueType { id: 13, .. }));
    assert!(matches!(one(&|r| { r.str("k").u32(9).u32(9).u64(1); }), GgufError::NestedArray { .. }));
    assert!(matches!(one(&|r| { r.str("k").u32(9).u32(77).u64(1); }), GgufError::UnknownValueType { id: 77, .. }));
    assert!(matches!(one(&|r| { r.str("k").u32(7).u8(2); }), GgufError::BadBool { value: 2, .. }));
    assert!(matches!(one(&|r| { r.u64(2).bytes(&[0xC3, 0x28]); }), GgufError::InvalidUtf8 { at: 24 }));
    let mut r = Raw::header(3, 0, 2);
    r.kv_u32("a", 1).kv_u32("a", 2);
    assert!(matches!(stream_err(&r.build()), GgufError::DuplicateKey { .. }));
    for bad in [0u32, 3, 48] {
        let mut r = Raw::header(3, 0, 1);
        r.kv_u32("general.alignment", bad);
        assert!(matches!(stream_err(&r.build()), GgufError::BadAlignment { .. }), "{bad}");
    }
    let mut r = Raw::header(3, 0, 1);
    r.str("general.alignment").u32(8).str("32");
    assert!(matches!(stream_err(&r.build()), GgufError::BadAlignment { .. }));
}

/// A file with the given tensor-table entries and `data` bytes of tensor data.
fn with_tensors(entries: &[(&str, &[u64], u32, u64)], data: usize) -> Vec<u8> {
    let mut r = Raw::header(3, entries.len() as u64, 0);
    for &(name, shape, ty, off) in entries {
        r.tensor(name, shape, ty, off);
    }
    r.data(32, data).build()
}

#[test]
fn tensor_table_errors() {
    let e = file_err(&with_tensors(&[("t", &[1 << 32, 1 << 32, 1 << 8], 0, 0)], 0));
    assert!(matches!(e, GgufError::DimensionOverflow { .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("t", &[u64::MAX / 2, 3], 0, 0)], 0));
    assert!(matches!(e, GgufError::DimensionOverflow { .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("t", &[1, 1, 1, 1, 1], 0, 0)], 0));
    assert!(matches!(e, GgufError::TooManyDims { n_dims: 5, .. }), "{e:?}");
    for id in [4u32, 37, 41, 1000] {
        let e = file_err(&with_tensors(&[("t", &[256], id, 0)], 256));
        assert!(matches!(e, GgufError::UnknownTensorType { .. }), "{id}: {e:?}");
    }
    // TL1 and TL2 are matrices; a type-39 vector is neither TL2 nor anything else read here.
    for id in [38u32, 39] {
        let e = file_err(&with_tensors(&[("t", &[256], id, 0)], 256));
        assert!(matches!(e, GgufError::BadShape { .. }), "{id}: {e:?}");
    }
    let msg = file_err(&with_tensors(&[("t", &[256], 39, 0)], 256)).to_string();
    assert!(msg.contains("TL2") && msg.contains("MXFP4"), "{msg}");
    // Block types need whole blocks in the first dimension; I2_S needs whole bytes.
    let e = file_err(&with_tensors(&[("t", &[100], 35, 0)], 1000));
    assert!(matches!(e, GgufError::BadShape { .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("t", &[6], 36, 0)], 1000));
    assert!(matches!(e, GgufError::BadShape { .. }), "{e:?}");
    // Data outside the file, misaligned, overlapping, or duplicated.
    let e = file_err(&with_tensors(&[("t", &[64], 0, 0)], 100));
    assert!(matches!(e, GgufError::TensorOutOfBounds { .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("t", &[4], 0, u64::MAX - 31)], 16));
    assert!(matches!(e, GgufError::TensorOutOfBounds { .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("t", &[4], 0, 8)], 64));
    assert!(matches!(e, GgufError::MisalignedTensor { offset: 8, .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("a", &[16], 0, 0), ("b", &[16], 0, 32)], 128));
    assert!(matches!(e, GgufError::OverlappingTensors { .. }), "{e:?}");
    let e = file_err(&with_tensors(&[("a", &[4], 0, 0), ("a", &[4], 0, 32)], 64));
    assert!(matches!(e, GgufError::DuplicateTensor { .. }), "{e:?}");
    // A good table with the data cut short, when the length is unknown up front.
    let e = stream_err(&with_tensors(&[("a", &[16], 0, 0)], 63));
    assert!(matches!(e, GgufError::TruncatedData { .. }), "{e:?}");
    // Tensors listed out of offset order still stream correctly.
    let (g, data) = gguf::read_all(&with_tensors(&[("b", &[8], 0, 32), ("a", &[8], 0, 0)], 64)).unwrap();
    assert_eq!(g.tensors[0].name, "b");
    assert_eq!(data[0], (32u8..64).collect::<Vec<_>>());
    assert_eq!(data[1], (0u8..32).collect::<Vec<_>>());
}

#[test]
fn random_corruption_never_panics() {
    let mut rng = Rng(0x5EED);
    for fx in FIXTURES {
        for _ in 0..300 {
            let mut bytes = fx.gguf.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = rng.next() as u8;
            }
            let cut = bytes.len() - rng.below(8) as usize;
            // Either result is fine; panicking or hanging is not.
            let _ = gguf::read_all(&bytes[..cut]);
            let _ = common::parse_chunks(common::uneven_chunks(&bytes[..cut], rng.next()));
        }
    }
}
