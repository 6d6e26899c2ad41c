//! A checkpoint's tokenizer as GGUF metadata, the way the converters people use write it, so that a file
//! we convert tokenizes as theirs does:
//! - `tokenizer.model` (SentencePiece: 1bitLLM's, LLaMA-2's vocabulary): `llama`, pieces, scores and types
//!   as Microsoft's `_set_vocab_sentencepiece` takes them from the SentencePiece processor, then
//!   `added_tokens.json`, then `[PADn]` up to the config's vocab size;
//! - else `tokenizer.json` with a byte-level BPE model (2B4T's, Llama 3's, Falcon's): `gpt2`, tokens by id
//!   (`[PADn]` for holes), added tokens as control (special) or user-defined, the merges, and the
//!   pre-tokenizer named from its split pattern, or by the caller: never guessed;
//! - special ids as gguf-py's `SpecialVocab` finds them (tokenizer_config.json's token, else config.json's
//!   `*_token_id` when it is a single id), `add_bos_token`/`add_eos_token`, and the chat template.
//!
//! The SentencePiece model is protobuf. Only three fields of one message are read (piece, score, type), so
//! a 60-line reader here stands in for a protobuf code generator and its build step.

use std::path::Path;

use crate::gguf::{Array, Value};

use super::ConvertError;

/// SentencePiece's piece types, which GGUF's `token_type` uses as they are.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// Llama 3's split pattern, as its tokenizer.json (and 2B4T's) holds it; llama.cpp names it `llama-bpe`.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn err(why: impl Into<String>) -> ConvertError {
    ConvertError::Tokenizer(why.into())
}

/// The metadata keys, in the order the converters write them.
pub fn metadata(dir: &Path, n_vocab: usize, config: &serde_json::Value, pre: Option<&str>) -> Result<Vec<(String, Value)>, ConvertError> {
    let mut kv = Vec::new();
    let json = read_json(&dir.join("tokenizer.json"))?;
    let tok_config = read_json(&dir.join("tokenizer_config.json"))?;
    if dir.join("tokenizer.model").is_file() {
        let (tokens, scores, types) = sentencepiece(&std::fs::read(dir.join("tokenizer.model"))?, dir, n_vocab)?;
        kv.push(("tokenizer.ggml.model".into(), Value::String("llama".into())));
        kv.push(("tokenizer.ggml.pre".into(), Value::String(pre.unwrap_or("default").into())));
        kv.push(("tokenizer.ggml.tokens".into(), Value::Array(Array::String(tokens))));
        kv.push(("tokenizer.ggml.scores".into(), Value::Array(Array::F32(scores))));
        kv.push(("tokenizer.ggml.token_type".into(), Value::Array(Array::I32(types))));
    } else if let Some(json) = &json {
        let (tokens, types, merges, found_pre) = byte_level_bpe(json, n_vocab)?;
        let pre = match (pre, found_pre) {
            (Some(p), _) => p.to_string(),
            (None, Some(p)) => p.to_string(),
            (None, None) => {
                return Err(err("the tokenizer's pre-tokenizer split is not one this converter knows (Llama 3's, \
                     llama.cpp's `llama-bpe`); name llama.cpp's pre-tokenizer for it with --pre (falcon3, falcon_e, …)"))
            }
        };
        kv.push(("tokenizer.ggml.model".into(), Value::String("gpt2".into())));
        kv.push(("tokenizer.ggml.pre".into(), Value::String(pre)));
        kv.push(("tokenizer.ggml.tokens".into(), Value::Array(Array::String(tokens))));
        kv.push(("tokenizer.ggml.token_type".into(), Value::Array(Array::I32(types))));
        kv.push(("tokenizer.ggml.merges".into(), Value::Array(Array::String(merges))));
    } else {
        return Err(err(format!("{} has neither tokenizer.model nor tokenizer.json", dir.display())));
    }
    let n_tokens = kv.iter().find_map(|(k, v)| match v {
        Value::Array(Array::String(t)) if k == "tokenizer.ggml.tokens" => Some(t.len()),
        _ => None,
    }).unwrap_or(0);
    // Special ids: tokenizer_config.json's token looked up in tokenizer.json, else config.json's single id.
    for typ in ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] {
        let by_content = tok_config.as_ref().and_then(|c| special_content(c.get(format!("{typ}_token"))?)).and_then(|content| {
            json.as_ref().and_then(|j| token_id(j, &content))
        });
        let id = by_content.or_else(|| config.get(format!("{typ}_token_id")).and_then(|v| v.as_u64()));
        if let Some(id) = id.filter(|&id| (id as usize) < n_tokens) {
            let key = if typ == "pad" { "padding" } else { typ };
            kv.push((format!("tokenizer.ggml.{key}_token_id"), Value::U32(id as u32)));
        }
    }
    if let Some(c) = &tok_config {
        for typ in ["bos", "eos"] {
            if let Some(b) = c.get(format!("add_{typ}_token")).and_then(|v| v.as_bool()) {
                kv.push((format!("tokenizer.ggml.add_{typ}_token"), Value::Bool(b)));
            }
        }
        match c.get("chat_template") {
            Some(serde_json::Value::String(t)) => kv.push(("tokenizer.chat_template".into(), Value::String(t.clone()))),
            Some(serde_json::Value::Array(named)) => {
                // Several named templates: the default one is the chat template.
                if let Some(t) = named.iter().find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default")) {
                    if let Some(s) = t.get("template").and_then(|s| s.as_str()) {
                        kv.push(("tokenizer.chat_template".into(), Value::String(s.into())));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(kv)
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, ConvertError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map(Some).map_err(|e| err(format!("{}: {e}", path.display())))
}

fn special_content(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(String::from),
        _ => None,
    }
}

fn token_id(json: &serde_json::Value, content: &str) -> Option<u64> {
    let added = json.get("added_tokens")?.as_array()?;
    if let Some(t) = added.iter().find(|t| t.get("content").and_then(|c| c.as_str()) == Some(content)) {
        return t.get("id")?.as_u64();
    }
    json.get("model")?.get("vocab")?.get(content)?.as_u64()
}

type SpmVocab = (Vec<String>, Vec<f32>, Vec<i32>);

/// `tokenizer.model`'s pieces (ModelProto field 1: SentencePiece { piece = 1; score = 2; type = 3 }).
fn sentencepiece(bytes: &[u8], dir: &Path, n_vocab: usize) -> Result<SpmVocab, ConvertError> {
    let (mut tokens, mut scores, mut types) = (Vec::new(), Vec::new(), Vec::new());
    let mut r = Proto { b: bytes, at: 0 };
    while let Some((field, wire)) = r.key()? {
        if field == 1 && wire == 2 {
            let mut p = Proto { b: r.bytes()?, at: 0 };
            let (mut piece, mut score, mut ty) = (String::new(), 0f32, NORMAL);
            while let Some((f, w)) = p.key()? {
                match (f, w) {
                    (1, 2) => piece = String::from_utf8(p.bytes()?.to_vec()).map_err(|_| err("tokenizer.model: a piece is not UTF-8"))?,
                    (2, 5) => score = f32::from_le_bytes(p.fixed::<4>()?),
                    (3, 0) => ty = p.varint()? as i32,
                    _ => p.skip(w)?,
                }
            }
            tokens.push(piece);
            scores.push(score);
            types.push(ty);
        } else {
            r.skip(wire)?;
        }
    }
    if tokens.is_empty() {
        return Err(err("tokenizer.model holds no pieces"));
    }
    if let Some(added) = read_json(&dir.join("added_tokens.json"))? {
        let mut added: Vec<(&String, u64)> = added.as_object().into_iter().flatten().filter_map(|(k, v)| Some((k, v.as_u64()?))).collect();
        added.sort_by_key(|&(_, id)| id);
        for (piece, _) in added {
            if !tokens.contains(piece) {
                tokens.push(piece.clone());
                scores.push(-1000.0);
                types.push(USER_DEFINED);
            }
        }
    }
    if tokens.len() > n_vocab {
        return Err(err(format!("tokenizer.model has {} pieces, more than the config's vocab_size {n_vocab}", tokens.len())));
    }
    for i in 1..=n_vocab - tokens.len() {
        tokens.push(format!("[PAD{i}]"));
        scores.push(-1000.0);
        types.push(UNUSED);
    }
    Ok((tokens, scores, types))
}

/// The four products of a byte-level BPE `tokenizer.json`: tokens and types by id, merges, and the
/// pre-tokenizer's llama.cpp name when its split pattern is a known one.
fn byte_level_bpe(json: &serde_json::Value, n_vocab: usize) -> Result<(Vec<String>, Vec<i32>, Vec<String>, Option<&'static str>), ConvertError> {
    let model = json.get("model").ok_or_else(|| err("tokenizer.json has no model"))?;
    // A SentencePiece vocabulary exported as tokenizer.json (▁ for spaces, byte fallback) is not byte-level
    // BPE: written as `gpt2` it would tokenize wrong. Its scores and types are in tokenizer.model.
    if model.get("byte_fallback").and_then(|b| b.as_bool()) == Some(true) {
        return Err(err("tokenizer.json holds a SentencePiece vocabulary (byte fallback); put its tokenizer.model beside it"));
    }
    if model.get("type").and_then(|t| t.as_str()) != Some("BPE") {
        return Err(err(format!("tokenizer.json's model is {}, not BPE", model.get("type").unwrap_or(&serde_json::Value::Null))));
    }
    let mut tokens: Vec<Option<String>> = vec![None; n_vocab];
    let mut types = vec![NORMAL; n_vocab];
    let mut put = |id: u64, s: &str| -> Result<(), ConvertError> {
        let slot = tokens.get_mut(id as usize).ok_or_else(|| err(format!("token id {id} is past the config's vocab_size {n_vocab}")))?;
        *slot = Some(s.to_string());
        Ok(())
    };
    for (s, id) in model.get("vocab").and_then(|v| v.as_object()).ok_or_else(|| err("tokenizer.json has no vocab"))? {
        put(id.as_u64().ok_or_else(|| err("a vocab id is not a number"))?, s)?;
    }
    for t in json.get("added_tokens").and_then(|a| a.as_array()).into_iter().flatten() {
        let (Some(id), Some(content)) = (t.get("id").and_then(|v| v.as_u64()), t.get("content").and_then(|v| v.as_str())) else {
            return Err(err("an added token has no id or content"));
        };
        put(id, content)?;
        let special = t.get("special").and_then(|v| v.as_bool()).unwrap_or(false);
        types[id as usize] = if special { CONTROL } else { USER_DEFINED };
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.unwrap_or_else(|| {
                types[i] = UNUSED;
                format!("[PAD{i}]")
            })
        })
        .collect();
    let merges = model
        .get("merges")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .map(|m| match m {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Array(p) if p.len() == 2 => Ok(format!("{} {}", p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or(""))),
            _ => Err(err("a merge is neither \"a b\" nor [a, b]")),
        })
        .collect::<Result<_, _>>()?;
    let split = json.get("pre_tokenizer").and_then(find_split);
    let pre = (split.as_deref() == Some(LLAMA3_SPLIT)).then_some("llama-bpe");
    Ok((tokens, types, merges, pre))
}

/// The regex of the first `Split` pre-tokenizer, in a `Sequence` or alone.
fn find_split(p: &serde_json::Value) -> Option<String> {
    match p.get("type")?.as_str()? {
        "Split" => p.get("pattern")?.get("Regex")?.as_str().map(String::from),
        "Sequence" => p.get("pretokenizers")?.as_array()?.iter().find_map(find_split),
        _ => None,
    }
}

/// Protobuf's wire format, as far as SentencePiece's model needs it.
struct Proto<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Proto<'a> {
    fn truncated() -> ConvertError {
        err("tokenizer.model is truncated or not a SentencePiece model")
    }

    fn varint(&mut self) -> Result<u64, ConvertError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at).ok_or_else(Self::truncated)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Self::truncated())
    }

    fn key(&mut self) -> Result<Option<(u64, u8)>, ConvertError> {
        if self.at == self.b.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some((k >> 3, (k & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ConvertError> {
        let n = self.varint()? as usize;
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(Self::truncated)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ConvertError> {
        let s = self.b.get(self.at..self.at + N).ok_or_else(Self::truncated)?;
        self.at += N;
        Ok(s.try_into().unwrap())
    }

    fn skip(&mut self, wire: u8) -> Result<(), ConvertError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed::<8>().map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.fixed::<4>().map(|_| ()),
            _ => Err(Self::truncated()),
        }
    }
}
