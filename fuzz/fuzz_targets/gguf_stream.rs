//! Fuzzes the streaming GGUF reader and the decoders: any input, cut into chunks chosen by the
//! input itself, must give the same typed result as the whole input in one piece, and never panic.
#![no_main]

use bitnet_web::gguf::{self, Event, GgufError, GgufStream, Limits};
use bitnet_web::quant::{self, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fn parse(chunks: &[&[u8]], limits: Limits) -> Result<(gguf::Gguf, Vec<Vec<u8>>), GgufError> {
    let mut stream = GgufStream::new(limits, None);
    let mut data: Vec<Vec<u8>> = Vec::new();
    for c in chunks {
        stream.feed(c, |ev| {
            match ev {
                Event::Header(g) => data = vec![Vec::new(); g.tensors.len()],
                Event::TensorData { index, bytes, .. } => data[index].extend_from_slice(bytes),
                Event::TensorEnd { .. } => {}
            }
            Ok::<(), GgufError>(())
        })?;
    }
    Ok((stream.finish()?, data))
}

fuzz_target!(|input: &[u8]| {
    // Small limits keep each run fast; the first byte picks the chunk size.
    let limits = Limits { max_header_bytes: 1 << 20, max_string_bytes: 1 << 16 };
    let Some((&step, bytes)) = input.split_first() else { return };
    let step = 1 + step as usize;
    let whole = parse(&[bytes], limits);
    let pieces: Vec<&[u8]> = bytes.chunks(step).collect();
    let chunked = parse(&pieces, limits);
    match (&whole, &chunked) {
        (Ok((g1, d1)), Ok((g2, d2))) => {
            assert_eq!(g1.tensors, g2.tensors);
            // Debug strings, so that NaN metadata compares equal to itself.
            assert_eq!(format!("{:?}", g1.metadata), format!("{:?}", g2.metadata));
            assert_eq!(d1, d2);
            for (t, d) in g1.tensors.iter().zip(d1) {
                assert_eq!(d.len() as u64, t.n_bytes);
                if t.n_elements <= 1 << 16 {
                    let _ = quant::decode(t.ty, d, t.n_elements, DecodeOptions::default());
                }
            }
        }
        (Err(a), Err(b)) => assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
        _ => panic!("chunking changed the outcome: {whole:?} vs {chunked:?}"),
    }
});
