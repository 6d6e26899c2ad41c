//! A push-based streaming GGUF reader.
//!
//! Feed it bytes in chunks of any size (one byte at a time gives the same result); it parses the
//! header as soon as its bytes arrive, then hands out each tensor's bytes as they stream past,
//! borrowed straight from the caller's chunk. It never needs the whole file, never buffers tensor
//! data, and never allocates more than the bytes it has been given can back: counts and lengths are
//! checked against [`Limits`] before anything is reserved.
//!
//! The header is parsed item by item (one key-value pair, one array element, one tensor-table
//! entry); an item cut by a chunk boundary is retried when more bytes arrive, so feeding the file in
//! tiny chunks stays linear.

use std::collections::HashMap;

use super::header::{DEFAULT_ALIGNMENT, Gguf, TensorInfo};
use super::tensor_type::{TensorType, unsupported_reason};
use super::value::{Array, Value, ValueType};
use super::GgufError;

const MAGIC: &[u8; 4] = b"GGUF";
const MAX_DIMS: u32 = 4;
/// ggml's GGML_MAX_NAME is 64, including the NUL.
const MAX_NAME_LEN: u64 = 63;
/// Smallest possible encodings, used to reject absurd counts before reading them.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Bounds on what a header may claim, so corrupt input fails fast instead of exhausting memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The header (metadata and tensor table) may not be longer than this.
    pub max_header_bytes: u64,
    /// No single string may be longer than this.
    pub max_string_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // The official 2B4T header (a 128k vocabulary and 280k merges) is about 8 MB.
        Limits { max_header_bytes: 256 << 20, max_string_bytes: 16 << 20 }
    }
}

/// What the stream reports as bytes arrive.
#[derive(Debug)]
pub enum Event<'a> {
    /// The header, metadata and tensor table are complete and checked; tensor data follows.
    Header(&'a Gguf),
    /// Bytes `offset .. offset + bytes.len()` of tensor `index` (an index into `Gguf::tensors`).
    /// Tensors arrive in file order, each as one or more contiguous pieces.
    TensorData { index: usize, offset: u64, bytes: &'a [u8] },
    /// Tensor `index` has received all of its bytes.
    TensorEnd { index: usize },
}

enum Stage {
    Fixed,
    Kv,
    Array { key: String, array: Array, remaining: u64 },
    TensorInfo,
    Data,
}

/// Why a parse step stopped: it needs more bytes, or the input is bad.
enum Stop {
    Need,
    Bad(GgufError),
}

impl From<GgufError> for Stop {
    fn from(e: GgufError) -> Self {
        Stop::Bad(e)
    }
}

/// A read cursor over buffered header bytes; `base` is the absolute file offset of `buf[0]`.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    fn at(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Stop> {
        let avail = (self.buf.len() - self.pos) as u64;
        if n > avail {
            return Err(Stop::Need);
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        Ok(self.take(N as u64)?.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8, Stop> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, Stop> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Stop> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self, limit: u64) -> Result<String, Stop> {
        let at = self.at();
        let len = self.u64()?;
        if len > limit {
            return Err(GgufError::StringTooLong { at, len, limit }.into());
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::InvalidUtf8 { at }.into())
    }

    fn scalar(&mut self, ty: ValueType, key: &str, limits: &Limits) -> Result<Value, Stop> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.u8()?),
            ValueType::I8 => Value::I8(self.u8()? as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array()?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array()?)),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array()?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array()?)),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array()?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array()?)),
            ValueType::Bool => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                value => return Err(GgufError::BadBool { key: key.into(), value }.into()),
            },
            ValueType::String => Value::String(self.string(limits.max_string_bytes)?),
            ValueType::Array => return Err(GgufError::NestedArray { key: key.into() }.into()),
        })
    }
}

/// The push-based reader. See the module docs.
pub struct GgufStream {
    limits: Limits,
    /// Total file length, when known (e.g. from Content-Length): lets bad offsets fail before download.
    file_len: Option<u64>,
    stage: Stage,
    /// Header bytes not yet parsed; `buf[0]` sits at absolute offset `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    n_tensors: u64,
    n_kv: u64,
    gguf: Gguf,
    /// Tensor indices sorted by offset: the order their bytes arrive in.
    order: Vec<usize>,
    next: usize,
    /// Absolute offset of the next byte to be fed.
    pos: u64,
}

impl Default for GgufStream {
    fn default() -> Self {
        Self::new(Limits::default(), None)
    }
}

impl GgufStream {
    pub fn new(limits: Limits, file_len: Option<u64>) -> Self {
        GgufStream {
            limits,
            file_len,
            stage: Stage::Fixed,
            buf: Vec::new(),
            buf_start: 0,
            n_tensors: 0,
            n_kv: 0,
            gguf: Gguf::default(),
            order: Vec::new(),
            next: 0,
            pos: 0,
        }
    }

    /// The header, once it has been fully received.
    pub fn header(&self) -> Option<&Gguf> {
        matches!(self.stage, Stage::Data).then_some(&self.gguf)
    }

    /// Bytes fed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// True once every tensor has received all of its bytes.
    pub fn is_complete(&self) -> bool {
        matches!(self.stage, Stage::Data) && self.next == self.order.len()
    }

    /// Feeds the next chunk of the file. `on` sees the header once, then tensor bytes in file order.
    /// An error from `on` stops the stream and is returned as is.
    pub fn feed<E: From<GgufError>>(
        &mut self,
        chunk: &[u8],
        mut on: impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if matches!(self.stage, Stage::Data) {
            return self.emit_data(chunk, &mut on);
        }
        self.buf.extend_from_slice(chunk);
        self.pos += chunk.len() as u64;
        let parsed = self.parse_header();
        let used = match parsed {
            Ok(used) => used,
            Err(e) => return Err(e.into()),
        };
        if !matches!(self.stage, Stage::Data) {
            self.buf.drain(..used);
            self.buf_start += used as u64;
            return Ok(());
        }
        // The header is done: what is left of the buffer is the start of the data section.
        let rest = std::mem::take(&mut self.buf);
        let data_start = self.buf_start + used as u64;
        self.buf_start = data_start;
        on(Event::Header(&self.gguf))?;
        self.emit_data_at(&rest[used..], data_start, &mut on)
    }

    /// Ends the stream: an error if the header or any tensor is incomplete.
    pub fn finish(self) -> Result<Gguf, GgufError> {
        let context = match self.stage {
            Stage::Data => {
                if self.next < self.order.len() {
                    return Err(GgufError::TruncatedData {
                        needed: self.gguf.required_file_len(),
                        file_len: self.pos,
                    });
                }
                return Ok(self.gguf);
            }
            Stage::Fixed => "the fixed header (magic, version, counts)",
            Stage::Kv | Stage::Array { .. } => "the metadata key-value pairs",
            Stage::TensorInfo => "the tensor table",
        };
        Err(GgufError::Truncated { context, got: self.pos })
    }

    fn emit_data<E>(
        &mut self,
        chunk: &[u8],
        on: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = self.pos;
        self.pos += chunk.len() as u64;
        self.emit_data_at(chunk, at, on)
    }

    /// Hands out the parts of `chunk` (which starts at absolute offset `at`) that belong to tensors.
    fn emit_data_at<E>(
        &mut self,
        chunk: &[u8],
        at: u64,
        on: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut off = 0usize;
        while self.next < self.order.len() {
            let index = self.order[self.next];
            let t = &self.gguf.tensors[index];
            let start = self.gguf.data_offset + t.offset;
            let end = start + t.n_bytes;
            if t.n_bytes == 0 {
                on(Event::TensorEnd { index })?;
                self.next += 1;
                continue;
            }
            if off == chunk.len() {
                break;
            }
            let abs = at + off as u64;
            if abs < start {
                // Padding or a gap between tensors.
                off += (start - abs).min((chunk.len() - off) as u64) as usize;
                continue;
            }
            let take = (end - abs).min((chunk.len() - off) as u64) as usize;
            on(Event::TensorData { index, offset: abs - start, bytes: &chunk[off..off + take] })?;
            off += take;
            if abs + take as u64 == end {
                on(Event::TensorEnd { index })?;
                self.next += 1;
            }
        }
        Ok(())
    }

    /// Parses as many header items as the buffer holds; returns how many buffer bytes were used.
    fn parse_header(&mut self) -> Result<usize, GgufError> {
        let buf = std::mem::take(&mut self.buf);
        let mut cur = Cursor { buf: &buf, pos: 0, base: self.buf_start };
        let result = loop {
            let mark = cur.pos;
            match self.parse_item(&mut cur) {
                Ok(()) => {
                    if cur.at() > self.limits.max_header_bytes {
                        break Err(GgufError::HeaderTooLarge { limit: self.limits.max_header_bytes });
                    }
                    if matches!(self.stage, Stage::Data) {
                        break Ok(cur.pos);
                    }
                }
                Err(Stop::Need) => {
                    // An item cut by the chunk boundary: retry it when more bytes arrive. The buffer
                    // stays bounded, since no item is longer than two strings of the maximum length.
                    cur.pos = mark;
                    break Ok(cur.pos);
                }
                Err(Stop::Bad(e)) => break Err(e),
            }
        };
        self.buf = buf;
        result
    }

    /// Parses one item at the cursor and advances the stage; on `Need` the caller rewinds.
    fn parse_item(&mut self, cur: &mut Cursor<'_>) -> Result<(), Stop> {
        match &mut self.stage {
            Stage::Fixed => self.parse_fixed(cur),
            Stage::Kv => {
                if self.gguf.metadata.len() as u64 == self.n_kv {
                    self.stage = Stage::TensorInfo;
                    return self.check_metadata().map_err(Stop::Bad);
                }
                let key = cur.string(self.limits.max_string_bytes)?;
                let type_id = cur.u32()?;
                let ty = ValueType::from_id(type_id)
                    .ok_or_else(|| GgufError::UnknownValueType { key: key.clone(), id: type_id })?;
                if ty != ValueType::Array {
                    let value = cur.scalar(ty, &key, &self.limits)?;
                    return self.push_kv(key, value).map_err(Stop::Bad);
                }
                let elem_id = cur.u32()?;
                let elem = ValueType::from_id(elem_id)
                    .ok_or_else(|| GgufError::UnknownValueType { key: key.clone(), id: elem_id })?;
                let array = Array::empty(elem).ok_or_else(|| GgufError::NestedArray { key: key.clone() })?;
                let remaining = cur.u64()?;
                let min_elem = elem.fixed_size().unwrap_or(8) as u64;
                if remaining.saturating_mul(min_elem) > self.limits.max_header_bytes {
                    return Err(GgufError::TooMany {
                        what: "array elements",
                        count: remaining,
                        limit: self.limits.max_header_bytes,
                    }
                    .into());
                }
                self.stage = Stage::Array { key, array, remaining };
                Ok(())
            }
            Stage::Array { key, array, remaining } => {
                if *remaining == 0 {
                    let Stage::Array { key, array, .. } = std::mem::replace(&mut self.stage, Stage::Kv) else {
                        unreachable!()
                    };
                    return self.push_kv(key, Value::Array(array)).map_err(Stop::Bad);
                }
                array.push(cur.scalar(array.elem_type(), key, &self.limits)?);
                *remaining -= 1;
                Ok(())
            }
            Stage::TensorInfo => {
                if self.gguf.tensors.len() as u64 == self.n_tensors {
                    let header_end = cur.at();
                    self.finish_table(header_end).map_err(Stop::Bad)?;
                    self.stage = Stage::Data;
                    return Ok(());
                }
                let index = self.gguf.tensors.len() as u64;
                let name = match cur.string(MAX_NAME_LEN) {
                    Err(Stop::Bad(GgufError::StringTooLong { len, .. })) => {
                        return Err(GgufError::BadTensorName { index, len }.into());
                    }
                    name => name?,
                };
                let n_dims = cur.u32()?;
                if n_dims > MAX_DIMS {
                    return Err(GgufError::TooManyDims { name, n_dims }.into());
                }
                let mut shape = Vec::with_capacity(n_dims as usize);
                for _ in 0..n_dims {
                    shape.push(cur.u64()?);
                }
                let type_id = cur.u32()?;
                let offset = cur.u64()?;
                let ty = TensorType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
                    name: name.clone(),
                    id: type_id,
                    reason: unsupported_reason(type_id),
                })?;
                let info = checked_tensor(name, shape, ty, offset)?;
                self.gguf.tensors.push(info);
                Ok(())
            }
            Stage::Data => unreachable!("parse_item is only called before the data section"),
        }
    }

    fn parse_fixed(&mut self, cur: &mut Cursor<'_>) -> Result<(), Stop> {
        let avail = &cur.buf[cur.pos..];
        if avail.len() >= 4 && &avail[..4] != MAGIC {
            return Err(GgufError::BadMagic { found: avail[..4].try_into().unwrap() }.into());
        }
        if avail.len() >= 8 {
            let version = u32::from_le_bytes(avail[4..8].try_into().unwrap());
            match version {
                2 | 3 => {}
                v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                    return Err(GgufError::BigEndian { raw: v }.into());
                }
                v => return Err(GgufError::UnsupportedVersion { version: v }.into()),
            }
        }
        cur.take(4)?;
        self.gguf.version = cur.u32()?;
        let n_tensors = cur.u64()?;
        let n_kv = cur.u64()?;
        let budget = self.limits.max_header_bytes;
        if n_kv.saturating_mul(MIN_KV_BYTES) > budget {
            return Err(GgufError::TooMany { what: "metadata keys", count: n_kv, limit: budget }.into());
        }
        if n_tensors.saturating_mul(MIN_TENSOR_INFO_BYTES) > budget {
            return Err(GgufError::TooMany { what: "tensors", count: n_tensors, limit: budget }.into());
        }
        self.n_tensors = n_tensors;
        self.n_kv = n_kv;
        self.stage = Stage::Kv;
        Ok(())
    }

    fn push_kv(&mut self, key: String, value: Value) -> Result<(), GgufError> {
        if self.gguf.key_index.contains_key(&key) {
            return Err(GgufError::DuplicateKey { key });
        }
        self.gguf.key_index.insert(key.clone(), self.gguf.metadata.len());
        self.gguf.metadata.push((key, value));
        Ok(())
    }

    fn check_metadata(&mut self) -> Result<(), GgufError> {
        self.gguf.alignment = match self.gguf.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if a.is_power_of_two() => *a as u64,
            Some(v) => return Err(GgufError::BadAlignment { value: v.summary() }),
        };
        Ok(())
    }

    /// Lays out the data section and checks every tensor's place in it.
    fn finish_table(&mut self, header_end: u64) -> Result<(), GgufError> {
        let g = &mut self.gguf;
        let mut names = HashMap::with_capacity(g.tensors.len());
        for (i, t) in g.tensors.iter().enumerate() {
            if names.insert(t.name.as_str(), i).is_some() {
                return Err(GgufError::DuplicateTensor { name: t.name.clone() });
            }
            if t.offset % g.alignment != 0 {
                return Err(GgufError::MisalignedTensor {
                    name: t.name.clone(),
                    offset: t.offset,
                    alignment: g.alignment,
                });
            }
        }
        g.data_offset = header_end.next_multiple_of(g.alignment);
        let mut order: Vec<usize> = (0..g.tensors.len()).collect();
        order.sort_by_key(|&i| g.tensors[i].offset);
        for pair in order.windows(2) {
            let (a, b) = (&g.tensors[pair[0]], &g.tensors[pair[1]]);
            if a.offset + a.n_bytes > b.offset {
                return Err(GgufError::OverlappingTensors { first: a.name.clone(), second: b.name.clone() });
            }
        }
        for t in &g.tensors {
            let end = g.data_offset.checked_add(t.offset).and_then(|s| s.checked_add(t.n_bytes));
            match (end, self.file_len) {
                (None, _) => {
                    return Err(GgufError::TensorOutOfBounds {
                        name: t.name.clone(),
                        end: u64::MAX,
                        file_len: self.file_len.unwrap_or(0),
                    });
                }
                (Some(end), Some(file_len)) if end > file_len => {
                    return Err(GgufError::TensorOutOfBounds { name: t.name.clone(), end, file_len });
                }
                _ => {}
            }
        }
        self.order = order;
        Ok(())
    }
}

/// Builds a tensor-table entry, checking that its shape and size are representable.
fn checked_tensor(name: String, shape: Vec<u64>, ty: TensorType, offset: u64) -> Result<TensorInfo, GgufError> {
    let n_elements = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| GgufError::DimensionOverflow { name: name.clone(), shape: shape.clone() })?;
    if let Some(reason) = ty.shape_error(&shape) {
        return Err(GgufError::BadShape { name, ty: ty.name(), shape, reason });
    }
    let n_bytes = ty
        .bytes_for(&shape)
        .ok_or_else(|| GgufError::DimensionOverflow { name: name.clone(), shape: shape.clone() })?;
    Ok(TensorInfo { name, shape, ty, offset, n_elements, n_bytes })
}
