//! Human- and machine-readable summaries of a GGUF header (the CLI's `inspect`, the web page).

use serde_json::{Value as Json, json};

use super::{Gguf, Value};

/// Arrays longer than this are summarised (type, length, first elements) rather than listed.
const MAX_LISTED: usize = 16;

fn value_json(v: &Value) -> Json {
    match v {
        Value::Array(a) if a.len() > MAX_LISTED => {
            let head: Vec<Json> = (0..8).filter_map(|i| a.get(i)).map(|x| value_json(&x)).collect();
            json!({ "array_of": a.elem_type().name(), "len": a.len(), "first": head })
        }
        other => serde_json::to_value(other).unwrap_or(Json::Null),
    }
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("arr[{},{}]", a.elem_type().name(), a.len()),
        other => other.value_type().name().to_string(),
    }
}

pub fn to_json(g: &Gguf) -> Json {
    json!({
        "version": g.version,
        "alignment": g.alignment,
        "data_offset": g.data_offset,
        "file_len": g.required_file_len(),
        "tensor_bytes": g.tensor_bytes(),
        "metadata": g.metadata.iter().map(|(k, v)| json!({ "key": k, "type": type_name(v), "value": value_json(v) })).collect::<Vec<_>>(),
        "tensors": g.tensors.iter().map(|t| json!({
            "name": t.name, "type": t.ty.name(), "shape": t.shape, "offset": t.offset, "bytes": t.n_bytes,
        })).collect::<Vec<_>>(),
    })
}

pub fn to_text(g: &Gguf) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "GGUF v{}: {} metadata keys, {} tensors, {} bytes of tensor data, data at byte {} (alignment {})",
        g.version,
        g.metadata.len(),
        g.tensors.len(),
        g.tensor_bytes(),
        g.data_offset,
        g.alignment
    );
    let _ = writeln!(s, "\nmetadata:");
    for (k, v) in &g.metadata {
        let _ = writeln!(s, "  {k:<44} {:<16} {}", type_name(v), v.summary());
    }
    let _ = writeln!(s, "\ntensors:");
    if g.tensors.is_empty() {
        let _ = writeln!(s, "  (none: this file holds only metadata)");
        return s;
    }
    let _ = writeln!(s, "  {:<36} {:<7} {:<22} {:>12} {:>12}", "name", "type", "shape", "offset", "bytes");
    for t in &g.tensors {
        let _ = writeln!(
            s,
            "  {:<36} {:<7} {:<22} {:>12} {:>12}",
            t.name,
            t.ty.name(),
            format!("{:?}", t.shape),
            t.offset,
            t.n_bytes
        );
    }
    s
}
