//! A GGUF v3 writer, laid out exactly as gguf-py's `GGUFWriter` lays files out: header, metadata,
//! tensor table, zero padding to the alignment, then each tensor padded to the alignment.
//! Used by tests, fixtures and the synthetic benchmark models.

use std::io::{self, Write};

use super::header::DEFAULT_ALIGNMENT;
use super::{Array, TensorType, Value};

struct PendingTensor {
    name: String,
    shape: Vec<u64>,
    ty: TensorType,
    /// `None`: declared only, for a header written before its tensors are made (see `write_header`).
    data: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn kv(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Adds a tensor; `data` must already be encoded in `ty` (its length is checked when writing).
    pub fn tensor(&mut self, name: impl Into<String>, ty: TensorType, shape: &[u64], data: Vec<u8>) -> &mut Self {
        self.tensors.push(PendingTensor { name: name.into(), shape: shape.to_vec(), ty, data: Some(data) });
        self
    }

    /// Adds a tensor to the table only: its bytes are streamed after [`write_header`](Self::write_header),
    /// in table order, each padded to the alignment (a multi-gigabyte model never sits in memory).
    pub fn declare(&mut self, name: impl Into<String>, ty: TensorType, shape: &[u64]) -> &mut Self {
        self.tensors.push(PendingTensor { name: name.into(), shape: shape.to_vec(), ty, data: None });
        self
    }

    pub fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        self.write_header(out)?;
        let align = self.alignment();
        for t in &self.tensors {
            let data = t.data.as_ref().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("tensor {} was declared without data", t.name))
            })?;
            out.write_all(data)?;
            let padding = (data.len() as u64).next_multiple_of(align) - data.len() as u64;
            out.write_all(&vec![0u8; padding as usize])?;
        }
        Ok(())
    }

    /// The header, metadata and tensor table, padded to the alignment: everything before the first
    /// tensor byte.
    pub fn write_header(&self, out: &mut impl Write) -> io::Result<()> {
        let align = self.alignment();
        let mut head = Vec::new();
        head.extend_from_slice(b"GGUF");
        head.extend_from_slice(&3u32.to_le_bytes());
        head.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_str(&mut head, key);
            head.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
            put_value(&mut head, value);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            let expected = t.ty.bytes_for(&t.shape).unwrap_or(u64::MAX);
            let len = t.data.as_ref().map_or(expected, |d| d.len() as u64);
            if len != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("tensor {} has {len} bytes, but {} {:?} needs {expected}", t.name, t.ty, t.shape),
                ));
            }
            put_str(&mut head, &t.name);
            head.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for d in &t.shape {
                head.extend_from_slice(&d.to_le_bytes());
            }
            head.extend_from_slice(&t.ty.id().to_le_bytes());
            head.extend_from_slice(&offset.to_le_bytes());
            offset += len.next_multiple_of(align);
        }
        pad(&mut head, align);
        out.write_all(&head)
    }

    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_to(&mut v)?;
        Ok(v)
    }
}

fn pad(v: &mut Vec<u8>, align: u64) {
    v.resize((v.len() as u64).next_multiple_of(align) as usize, 0);
}

fn put_str(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u64).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
}

fn put_value(v: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(x) => v.push(*x),
        Value::I8(x) => v.push(*x as u8),
        Value::U16(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => v.push(*x as u8),
        Value::String(s) => put_str(v, s),
        Value::U64(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => v.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => {
            v.extend_from_slice(&(a.elem_type() as u32).to_le_bytes());
            v.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for i in 0..a.len() {
                put_value(v, &a.get(i).expect("index in range"));
            }
        }
    }
}

impl From<Array> for Value {
    fn from(a: Array) -> Self {
        Value::Array(a)
    }
}
