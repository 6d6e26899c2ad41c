//! The tensors of a HF checkpoint's `*.safetensors` files, read one at a time.
//!
//! Why not the `safetensors` crate: its `read_metadata` checks the header against the whole file's bytes,
//! so it wants the file in memory or mapped; a Llama3-8B checkpoint is 16 GB of shards, and `convert`
//! promises bounded memory. The format is a little-endian u64 `n`, `n` bytes of JSON
//! (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`), then the data; this
//! reads the JSON, checks every entry against its dtype and the file's length, and seeks to each tensor.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use serde::Deserialize;

use super::ConvertError;

/// No published checkpoint's header comes near this (Llama3-8B's shard headers are ~30 KB).
const MAX_HEADER: u64 = 100 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    U8,
    I8,
}

impl Dtype {
    pub fn size(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::U8 | Dtype::I8 => 1,
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// One tensor of one shard.
#[derive(Clone, Debug)]
pub struct TensorRef {
    pub file: PathBuf,
    pub dtype: Dtype,
    /// HF's order: rows first.
    pub shape: Vec<u64>,
    /// Absolute byte offset in `file`.
    pub offset: u64,
    pub len: u64,
}

impl TensorRef {
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn read_bytes(&self) -> Result<Vec<u8>, ConvertError> {
        let mut f = File::open(&self.file)?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = vec![0u8; self.len as usize];
        f.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// The values widened to f32 (F32, F16 and BF16 tensors).
    pub fn read_f32(&self) -> Result<Vec<f32>, ConvertError> {
        widen(self.dtype, &self.read_bytes()?)
    }

    /// The values widened to f32, `chunk` at a time: a 1 GB embedding never sits in memory whole.
    pub fn for_each_f32(&self, chunk: usize, mut f: impl FnMut(&[f32]) -> Result<(), ConvertError>) -> Result<(), ConvertError> {
        let mut file = File::open(&self.file)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let size = self.dtype.size();
        let mut left = self.len;
        let mut buf = vec![0u8; (chunk as u64 * size).min(left) as usize];
        while left > 0 {
            let n = (buf.len() as u64).min(left) as usize;
            file.read_exact(&mut buf[..n])?;
            f(&widen(self.dtype, &buf[..n])?)?;
            left -= n as u64;
        }
        Ok(())
    }
}

fn widen(dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, ConvertError> {
    Ok(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(ConvertError::Checkpoint(format!("{other:?} is not a float type"))),
    })
}

/// Every tensor of every `*.safetensors` file in `dir`, by name.
pub fn index(dir: &Path) -> Result<BTreeMap<String, TensorRef>, ConvertError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ConvertError::Checkpoint(format!(
            "{} holds no *.safetensors file (PyTorch .bin checkpoints are not read: save them with safetensors)",
            dir.display()
        )));
    }
    let mut all = BTreeMap::new();
    for file in files {
        for (name, t) in read_header(&file)? {
            if all.insert(name.clone(), t).is_some() {
                return Err(ConvertError::Checkpoint(format!("tensor {name} is in two shards")));
            }
        }
    }
    Ok(all)
}

fn read_header(file: &Path) -> Result<Vec<(String, TensorRef)>, ConvertError> {
    let bad = |why: String| ConvertError::Checkpoint(format!("{}: {why}", file.display()));
    let mut f = File::open(file)?;
    let file_len = f.metadata()?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| bad("shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || 8 + n > file_len {
        return Err(bad(format!("a header of {n} bytes does not fit (the file has {file_len})")));
    }
    let mut json = vec![0u8; n as usize];
    f.read_exact(&mut json)?;
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|e| bad(format!("header is not safetensors JSON: {e}")))?;
    let data_start = 8 + n;
    let mut out = Vec::new();
    for (name, v) in map {
        if name == "__metadata__" {
            continue;
        }
        let e: Entry = serde_json::from_value(v).map_err(|e| bad(format!("{name}: {e}")))?;
        let dtype: Dtype = serde_json::from_value(serde_json::Value::String(e.dtype.clone()))
            .map_err(|_| bad(format!("{name}: dtype {} is not one a ternary checkpoint uses (F32, F16, BF16, U8, I8)", e.dtype)))?;
        let [begin, end] = e.data_offsets;
        let elements = e.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let want = elements.and_then(|n| n.checked_mul(dtype.size()));
        if begin > end || want != Some(end - begin) || data_start.checked_add(end).is_none_or(|e| e > file_len) {
            return Err(bad(format!("{name}: offsets {begin}..{end} do not hold {:?} {:?} within the file", dtype, e.shape)));
        }
        out.push((name, TensorRef { file: file.to_path_buf(), dtype, shape: e.shape, offset: data_start + begin, len: end - begin }));
    }
    Ok(out)
}
