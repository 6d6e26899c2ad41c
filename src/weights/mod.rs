//! The embedding's and the LM head's matrices as the engine holds them: dense rows as stored
//! (`dense`), int8 and 4-bit copies (`int8_rows`, `int4_rows`), rows left in the model file
//! (`file_rows`), and the writer that turns a tensor's bytes into rows as they stream in
//! (`row_stream`).
//!
//! Why a floor of its own: these are the model's storage, not file formats. `quant` decodes the
//! file's types to f32 (the reference); these files hold what the kernels read, and they sit
//! between the two (`gguf` → `quant` → `weights` → `kernels` | `gpu` → `model`). Each conversion
//! points one way: `dense` knows the int8 form it can hold, and `int8_rows` takes rows from any
//! source (`Int8Rows::from_rows`), so neither file imports the other.

pub mod dense;
pub mod file_rows;
pub mod int4_rows;
pub mod int8_rows;
pub mod row_stream;
