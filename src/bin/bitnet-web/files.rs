//! Streaming a GGUF file from disk through the readers, in 1 MiB chunks: nothing holds the whole
//! file, so memory measurements reflect the model alone.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bitnet_web::engine::{Engine, EngineError, EngineOptions};
use bitnet_web::gguf::{Event, Gguf, GgufError, GgufStream, Limits};
use bitnet_web::model::{ModelError, ModelLoader};
use bitnet_web::quant::QuantError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Tokenizer(#[from] bitnet_web::tokenizer::TokenizerError),
    #[cfg(not(target_arch = "wasm32"))]
    #[error(transparent)]
    Convert(#[from] bitnet_web::convert::ConvertError),
    #[error("{0}")]
    Usage(String),
}

fn open(path: &Path) -> Result<(File, u64), CliError> {
    let io = |e| CliError::Io(path.to_owned(), e);
    let f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    Ok((f, len))
}

/// Feeds the file to `feed` chunk by chunk until it ends or `done` says to stop.
fn pump(path: &Path, mut feed: impl FnMut(&[u8]) -> Result<bool, CliError>) -> Result<(), CliError> {
    let (mut f, _) = open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| CliError::Io(path.to_owned(), e))?;
        if n == 0 || feed(&buf[..n])? {
            return Ok(());
        }
    }
}

/// Reads only the header.
pub fn header(path: &Path) -> Result<Gguf, CliError> {
    let (_, len) = open(path)?;
    let mut stream = GgufStream::new(Limits::default(), Some(len));
    pump(path, |chunk| {
        stream.feed(chunk, |_| Ok::<(), GgufError>(()))?;
        Ok(stream.header().is_some())
    })?;
    match stream.header() {
        Some(g) => Ok(g.clone()),
        None => Err(stream.finish().expect_err("no header means truncated").into()),
    }
}

/// The stored bytes of tensor `index`.
pub fn tensor_bytes(path: &Path, index: usize, n_bytes: u64) -> Result<Vec<u8>, CliError> {
    let (_, len) = open(path)?;
    let mut stream = GgufStream::new(Limits::default(), Some(len));
    let mut bytes = Vec::with_capacity(n_bytes as usize);
    pump(path, |chunk| {
        stream.feed(chunk, |ev| {
            if let Event::TensorData { index: i, bytes: b, .. } = ev {
                if i == index {
                    bytes.extend_from_slice(b);
                }
            }
            Ok::<(), GgufError>(())
        })?;
        Ok(bytes.len() as u64 == n_bytes)
    })?;
    if bytes.len() as u64 != n_bytes {
        stream.finish()?;
    }
    Ok(bytes)
}

/// Loads a model and its tokenizer.
pub fn engine(path: &Path, opts: EngineOptions) -> Result<Engine, CliError> {
    let (_, len) = open(path)?;
    let mut loader = ModelLoader::new(opts.loader_options(), Some(len));
    if opts.load.rows_in_file {
        let store = bitnet_web::weights::file_rows::DiskStore::open(path).map_err(|e| CliError::Io(path.to_path_buf(), e))?;
        loader.rows_from(std::sync::Arc::new(store));
    }
    pump(path, |chunk| {
        loader.feed(chunk)?;
        Ok(false)
    })?;
    let (model, gguf) = loader.finish()?;
    Ok(Engine::new(model, &gguf, opts)?)
}

/// `engine` on the GPU path: each tensor goes to `gpu` as it is read, so the process never holds
/// the weights (only the tensor in transit, the norms and the tokenizer).
pub fn engine_on_gpu(path: &Path, mut opts: EngineOptions, gpu: bitnet_web::gpu::Gpu) -> Result<Engine, CliError> {
    opts.load.on_gpu = true;
    let (_, len) = open(path)?;
    let mut loader = ModelLoader::new(opts.loader_options(), Some(len));
    loader.use_gpu(gpu);
    pump(path, |chunk| {
        loader.feed(chunk)?;
        Ok(false)
    })?;
    let max_len = loader.config().map_or(0, |c| c.context_length(opts.max_context));
    let (gpu, gguf) = loader.finish_on_gpu(max_len)?;
    Ok(Engine::on_gpu(gpu, &gguf, opts)?)
}

/// Peak resident memory of this process, in bytes (Linux).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
