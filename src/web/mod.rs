//! The wasm-bindgen face: what JavaScript sees. Only glue lives here; the work is done elsewhere.

use wasm_bindgen::prelude::*;

use crate::gguf::{GgufError, GgufStream, Limits, inspect};

/// Reads a GGUF header from a byte stream (e.g. a `fetch` body) and describes it, without keeping
/// the tensor data. Feed chunks as they arrive; `feed` returns true once the header is complete.
#[wasm_bindgen]
pub struct GgufInspector {
    stream: GgufStream,
}

#[wasm_bindgen]
impl GgufInspector {
    /// `file_len`, when known (Content-Length, `File.size`), lets bad offsets fail before the download ends.
    #[wasm_bindgen(constructor)]
    pub fn new(file_len: Option<f64>) -> GgufInspector {
        GgufInspector { stream: GgufStream::new(Limits::default(), file_len.map(|l| l as u64)) }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<bool, JsError> {
        self.stream.feed(chunk, |_| Ok::<(), GgufError>(())).map_err(to_js)?;
        Ok(self.stream.header().is_some())
    }

    /// Bytes fed so far.
    pub fn position(&self) -> f64 {
        self.stream.position() as f64
    }

    /// The header as JSON (see `bitnet-web inspect --json`), once complete.
    #[wasm_bindgen(js_name = headerJson)]
    pub fn header_json(&self) -> Option<String> {
        self.stream.header().map(|g| inspect::to_json(g).to_string())
    }

    /// The header as the CLI's text table, once complete.
    #[wasm_bindgen(js_name = headerText)]
    pub fn header_text(&self) -> Option<String> {
        self.stream.header().map(inspect::to_text)
    }

    /// Ends the stream; throws if the file was truncated.
    pub fn finish(self) -> Result<String, JsError> {
        let g = self.stream.finish().map_err(to_js)?;
        Ok(inspect::to_json(&g).to_string())
    }
}

fn to_js(e: GgufError) -> JsError {
    JsError::new(&e.to_string())
}
