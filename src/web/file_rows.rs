//! The model's copy kept offline (OPFS) as a [`RowStore`]: the token embedding's rows are read from
//! it when the forward pass needs them (`weights::file_rows`), through a read-only
//! `FileSystemSyncAccessHandle`, which dedicated workers have.
//!
//! Why this handle: in Chromium 156, reading 64 scattered 5 KiB rows of a kept file took 0.16 ms
//! with it, against 62 ms with one `FileReaderSync` read a row and 35 ms with one read of a blob
//! joined from the 64 slices (`make bench`'s 2B4T decode step is 50-85 ms). A `File` the user picked
//! has no such handle, so its embedding is held in memory.
//!
//! A handle lives on the JS heap of the thread that opened it and cannot be sent, so the store holds
//! a number and the handle stays in this thread's table: the engine's thread reads; a kernel thread
//! that asked would get an error, not another thread's object. The handle is closed when the model
//! is dropped, which releases the file (a kept model can then be deleted).

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::JsCast;
use web_sys::{FileSystemReadWriteOptions, FileSystemSyncAccessHandle};

use crate::weights::file_rows::RowStore;

thread_local! {
    /// The last id given, and each store's handle (`None` until the file is complete: `bind`).
    static HANDLES: RefCell<(u32, HashMap<u32, Option<FileSystemSyncAccessHandle>>)> = RefCell::new((0, HashMap::new()));
}

/// Rows read through a handle in this thread's table; the handle is given once the file is
/// complete (`bind`: after a first download is kept, or once a kept model has streamed in).
pub struct KeptFile {
    pub id: u32,
}

impl KeptFile {
    pub fn pending() -> KeptFile {
        let id = HANDLES.with(|h| {
            let (next, table) = &mut *h.borrow_mut();
            *next += 1;
            table.insert(*next, None);
            *next
        });
        KeptFile { id }
    }
}

/// Gives store `id` its handle; false if no such store is alive (the handle is then closed).
pub fn bind(id: u32, handle: FileSystemSyncAccessHandle) -> bool {
    HANDLES.with(|h| match h.borrow_mut().1.get_mut(&id) {
        Some(slot) => {
            *slot = Some(handle);
            true
        }
        None => {
            handle.close();
            false
        }
    })
}

impl Drop for KeptFile {
    fn drop(&mut self) {
        if let Some(Some(handle)) = HANDLES.with(|h| h.borrow_mut().1.remove(&self.id)) {
            handle.close();
        }
    }
}

impl RowStore for KeptFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        self.read_many(&[(offset, buf.len())], buf)
    }

    fn read_many(&self, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<(), String> {
        let handle = HANDLES.with(|h| h.borrow().1.get(&self.id).cloned()).ok_or("the file is not reachable from this thread")?;
        let handle = handle.ok_or("the model's kept copy was never opened for reading")?;
        let options = FileSystemReadWriteOptions::new();
        let mut at = 0;
        for &(offset, len) in ranges {
            options.set_at(offset as f64);
            let read = handle.read_with_u8_array_and_options(&mut buf[at..at + len], &options).map_err(describe)?;
            if read as usize != len {
                return Err("the kept copy is shorter than when it was loaded: it changed".into());
            }
            at += len;
        }
        Ok(())
    }
}

/// A DOMException's name and message.
fn describe(e: wasm_bindgen::JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => format!("{}: {}", String::from(err.name()), String::from(err.message())),
        None => format!("{e:?}"),
    }
}
