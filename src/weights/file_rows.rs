//! A dense tensor left in the model file and read a row at a time when the forward pass needs one.
//!
//! Why: the token embedding is read one row per token, and a tied head with a 4-bit shortlist
//! (`kernels::shortlist_matvec`) scores only its ~64 best rows exactly; neither needs the stored
//! matrix in memory. For 2B4T that matrix (F16, 128256 × 2560) is 626 MiB, over half of the
//! 1144 MiB file, and keeping it was what held a tab's peak at 1.36× the file (bench/RESULTS.md).
//! Read from the file it costs 65 rows of 5 KiB a token, and the logits are the same bits. The rows
//! a step needs are asked for together (`RowStore::read_many`), so a store can make one request.
//!
//! Where the bytes come from is a [`RowStore`]: the file natively, the copy kept offline in a
//! browser worker (`web::file_rows`: 64 rows in 0.16 ms). A read that fails (the cache was cleared, the file changed) leaves zeros and is kept as
//! this matrix's failure, which the engine reports as a typed error after the step that met it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::row_stream::widen;

/// The most rows one request reads: a decode step needs 65, a long prompt's lookups thousands.
pub const REQUEST_ROWS: usize = 256;

/// Random reads of the model file.
pub trait RowStore: Send + Sync {
    /// Fills `buf` from the file's bytes at `offset`; the error says why it could not.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String>;

    /// Fills `buf` with the byte ranges `(offset, len)` one after another: one request where the
    /// store has a way to make one.
    fn read_many(&self, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<(), String> {
        let mut at = 0;
        for &(offset, len) in ranges {
            self.read_at(offset, &mut buf[at..at + len])?;
            at += len;
        }
        Ok(())
    }
}

/// Rows of a tensor at `offset` in a [`RowStore`]'s file.
#[derive(Clone)]
pub struct FileRows {
    store: Arc<dyn RowStore>,
    offset: u64,
    cols: usize,
    f16: bool,
    failure: Arc<OnceLock<RowsError>>,
}

/// Why rows of a matrix left in the model file are missing from a step (it then saw zeros).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RowsError {
    /// The store could not read them (the copy kept offline was deleted, an I/O error): `why` is
    /// the store's own description (the browser's or the OS's error).
    #[error("rows {rows:?} of the model file could not be read again: {why}")]
    Unreadable { rows: Vec<usize>, why: String },
    /// A row read back is not what streamed past at load (which had no NaN or infinity).
    #[error("row {0} of the model file is not what was loaded: the file changed")]
    Changed(usize),
}

impl fmt::Debug for FileRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRows").field("offset", &self.offset).field("cols", &self.cols).field("f16", &self.f16).finish()
    }
}

impl FileRows {
    /// `offset`: where the tensor starts in the file; `f16`: stored as F16 (else F32). The rows
    /// were checked for NaN and infinity as they streamed past (`RowStream`).
    pub fn new(store: Arc<dyn RowStore>, offset: u64, cols: usize, f16: bool) -> FileRows {
        FileRows { store, offset, cols, f16, failure: Arc::new(OnceLock::new()) }
    }

    pub fn is_f16(&self) -> bool {
        self.f16
    }

    fn row_bytes(&self) -> usize {
        self.cols * if self.f16 { 2 } else { 4 }
    }

    /// Row `r`'s stored bytes into `buf` (a row's length).
    pub fn read_row(&self, r: usize, buf: &mut [u8]) -> Result<(), String> {
        self.store.read_at(self.offset + (r * self.row_bytes()) as u64, buf)
    }

    /// Row `r` widened to f32 into `out`; zeros if it cannot be read (see `failure`).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        self.rows_into(&[r], out);
    }

    /// Rows `rows` widened to f32, one after another, into `out`, read `REQUEST_ROWS` to a request
    /// (a shortlist that grows to the whole vocabulary never holds its stored bytes at once); zeros
    /// if they cannot be read (see `failure`).
    pub fn rows_into(&self, rows: &[usize], out: &mut [f32]) {
        let n = self.row_bytes();
        let mut bytes = vec![0u8; n * rows.len().min(REQUEST_ROWS)];
        for (part, out) in rows.chunks(REQUEST_ROWS).zip(out.chunks_mut(REQUEST_ROWS * self.cols)) {
            let ranges: Vec<(u64, usize)> = part.iter().map(|&r| (self.offset + (r * n) as u64, n)).collect();
            let bytes = &mut bytes[..n * part.len()];
            match self.store.read_many(&ranges, bytes) {
                Ok(()) => widen(bytes, self.f16, out),
                Err(e) => {
                    let _ = self.failure.set(RowsError::Unreadable { rows: part.to_vec(), why: e });
                    out.fill(0.0);
                }
            }
            if let Some(i) = out.iter().position(|v| !v.is_finite()) {
                let _ = self.failure.set(RowsError::Changed(part[i / self.cols]));
                out.fill(0.0);
            }
        }
    }

    /// Why a read failed, once one has.
    pub fn failure(&self) -> Option<&RowsError> {
        self.failure.get()
    }
}

/// A file on disk (the native CLI, tests): a seek and a read under a lock, on every target.
pub struct DiskStore(std::sync::Mutex<std::fs::File>);

impl DiskStore {
    pub fn open(path: &std::path::Path) -> std::io::Result<DiskStore> {
        std::fs::File::open(path).map(|f| DiskStore(std::sync::Mutex::new(f)))
    }
}

impl RowStore for DiskStore {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.0.lock().map_err(|_| "a reader of the file panicked".to_string())?;
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_exact(buf)).map_err(|e| e.to_string())
    }
}
