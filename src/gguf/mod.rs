//! GGUF v2/v3: a push-based streaming reader, the parsed header, and a writer.

mod error;
mod header;
pub mod inspect;
mod stream;
mod tensor_type;
mod value;
mod writer;

pub use error::GgufError;
pub use header::{DEFAULT_ALIGNMENT, Gguf, TensorInfo};
pub use stream::{Event, GgufStream, Limits};
pub use tensor_type::{TensorType, is_known_unsupported, unsupported_reason};
pub use value::{Array, Value, ValueType};
pub use writer::GgufWriter;

/// Parses a whole in-memory file and returns the header with every tensor's bytes (in table order).
pub fn read_all(bytes: &[u8]) -> Result<(Gguf, Vec<Vec<u8>>), GgufError> {
    let mut stream = GgufStream::new(Limits::default(), Some(bytes.len() as u64));
    let mut data: Vec<Vec<u8>> = Vec::new();
    stream.feed(bytes, |ev| {
        match ev {
            Event::Header(g) => data = g.tensors.iter().map(|t| Vec::with_capacity(t.n_bytes as usize)).collect(),
            Event::TensorData { index, bytes, .. } => data[index].extend_from_slice(bytes),
            Event::TensorEnd { .. } => {}
        }
        Ok::<(), GgufError>(())
    })?;
    Ok((stream.finish()?, data))
}
