//! The model's `File` (or any `Blob` of it) as a [`RowStore`]: the token embedding's rows are read
//! from the browser's copy of the file when the forward pass needs them (`quant::file_rows`), with
//! `FileReaderSync`, which dedicated workers have in every engine and which needs no lock on the
//! file (an OPFS sync access handle would lock it against the next tab).
//!
//! A `Blob` lives on the JS heap of the thread that made it and cannot be sent, so the store holds
//! a number and the blob stays in this thread's table: the engine's thread reads; a kernel thread
//! that asked would get an error, not another thread's object.

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::JsCast;

use crate::quant::file_rows::RowStore;

thread_local! {
    /// The last id given, and each store's blob (`None` until the file is kept: `bind`).
    static BLOBS: RefCell<(u32, HashMap<u32, Option<web_sys::Blob>>)> = RefCell::new((0, HashMap::new()));
}

/// A blob in this thread's table; removed from it when dropped.
pub struct BlobStore {
    pub id: u32,
}

impl BlobStore {
    /// `blob`: the file, or `None` when it is still being written (a first download kept for
    /// offline use): `bind` gives it once it is complete, before the first row is read.
    pub fn new(blob: Option<web_sys::Blob>) -> BlobStore {
        let id = BLOBS.with(|b| {
            let (next, table) = &mut *b.borrow_mut();
            *next += 1;
            table.insert(*next, blob);
            *next
        });
        BlobStore { id }
    }
}

/// Gives store `id` its file; false if no such store is alive.
pub fn bind(id: u32, blob: web_sys::Blob) -> bool {
    BLOBS.with(|b| match b.borrow_mut().1.get_mut(&id) {
        Some(slot) => {
            *slot = Some(blob);
            true
        }
        None => false,
    })
}

impl Drop for BlobStore {
    fn drop(&mut self) {
        BLOBS.with(|b| b.borrow_mut().1.remove(&self.id));
    }
}

impl RowStore for BlobStore {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let blob = BLOBS.with(|b| b.borrow().1.get(&self.id).cloned()).ok_or("the file is not reachable from this thread")?;
        let blob = blob.ok_or("the model was not kept in browser storage")?;
        let end = offset + buf.len() as u64;
        let part = blob.slice_with_f64_and_f64(offset as f64, end as f64).map_err(describe)?;
        let reader = web_sys::FileReaderSync::new().map_err(describe)?;
        let bytes = reader.read_as_array_buffer(&part).map_err(describe)?;
        let bytes = js_sys::Uint8Array::new(&bytes);
        if bytes.length() as usize != buf.len() {
            return Err(format!("the file ends before byte {end}: it changed after loading"));
        }
        bytes.copy_to(buf);
        Ok(())
    }
}

/// A DOMException's name and message (a cleared cache: "NotFoundError", "NotReadableError").
fn describe(e: wasm_bindgen::JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => format!("{}: {}", String::from(err.name()), String::from(err.message())),
        None => format!("{e:?}"),
    }
}
