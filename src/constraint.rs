//! Structured output: OpenAI's `response_format` (`json_object`, or `json_schema` with a schema)
//! enforced while decoding. Before each token is sampled, every token the grammar does not allow
//! next is masked out, so the answer always parses and matches the schema (unless `max_tokens` cuts
//! it short, which `finish_reason: "length"` says).
//!
//! The grammar engine is llguidance. It was compared with outlines-core, the other well-kept Rust
//! crate for this:
//! - **outlines-core** turns the schema into a regular expression and builds, before the first
//!   token, an index of every (automaton state, token) pair over the whole vocabulary, for each
//!   schema. A regular expression cannot nest, so recursive schemas (a tree) are cut at a fixed
//!   depth, and its default features fetch tokenizers from the Hugging Face hub, which a tab
//!   cannot rely on.
//! - **llguidance** computes each token's mask when it is needed, walking a trie of the vocabulary
//!   with an Earley parser: nothing is built per schema beyond the grammar, recursion works, and it
//!   builds for wasm32 with no default features (no Lark, no external `$ref` resolution, no threads
//!   of its own; the `wasm` feature times its work with `performance.now()`).
//!
//! Measured here (`bitnet-web generate --json-schema`, 1-layer 2B4T-shape model with the real
//! 128,256-token Llama-3 vocabulary, AVX2): 0.19 ms per token for the mask, against 70-100 ms per
//! token to decode 2B4T; in Chromium (`make bench-structured`, bench/RESULTS.md) 0.21 ms for
//! `json_object` and 0.31 ms for a schema.
//!
//! The JSON it allows is compact (no whitespace between tokens): a model cannot spend its tokens
//! on blanks, which is also what OpenAI's structured outputs emit. And a number stops growing after
//! [`MAX_DIGITS`] digits in a row: JSON Schema cannot bound a number's length, llguidance's number
//! grammar is unbounded, and six of our eight test models, sampled or greedy, ran a number on
//! until the context was full (`"y":9.8999…`, 200 digits). llama.cpp's JSON-schema grammars
//! cap the integer and the fraction part at 16 digits each; here, past 16 digits in a row (3 in an
//! exponent), a digit is allowed only when the grammar allows nothing else (so a string whose
//! pattern allows only digits is not cut). With that, every test model's answer completes.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use serde_json::{Value, json};
use thiserror::Error;

use crate::tokenizer::Tokenizer;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConstraintError {
    #[error("response_format: {0}")]
    BadFormat(String),
    #[error("the JSON schema cannot be enforced: {0}")]
    Schema(String),
    #[error("structured output failed: {0}")]
    Grammar(String),
}

/// What the answer must be.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ResponseFormat {
    /// Free text (no constraint).
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching this schema.
    JsonSchema(Value),
    /// A Lark grammar (llguidance's dialect, with `%json` for JSON parts): tool calls
    /// (`chat::tools`), never a request's `response_format`.
    Lark(String),
}

impl ResponseFormat {
    /// Reads OpenAI's `response_format`: `{ "type": "text" }`, `{ "type": "json_object" }` or
    /// `{ "type": "json_schema", "json_schema": { "name", "schema", "strict"?, "description"? } }`.
    pub fn from_openai(v: &Value) -> Result<ResponseFormat, ConstraintError> {
        let bad = |m: &str| ConstraintError::BadFormat(m.to_string());
        let obj = v.as_object().ok_or_else(|| bad("must be an object such as { \"type\": \"json_object\" }"))?;
        match obj.get("type").and_then(Value::as_str) {
            Some("text") => Ok(ResponseFormat::Text),
            Some("json_object") => Ok(ResponseFormat::JsonObject),
            Some("json_schema") => {
                let js = obj.get("json_schema").and_then(Value::as_object).ok_or_else(|| bad("`json_schema` must be an object with a `schema`"))?;
                if let Some(k) = js.keys().find(|k| !["name", "schema", "strict", "description"].contains(&k.as_str())) {
                    return Err(bad(&format!("`json_schema.{k}` is not supported")));
                }
                let schema = js.get("schema").ok_or_else(|| bad("`json_schema.schema` is missing"))?;
                if !schema.is_object() {
                    return Err(bad("`json_schema.schema` must be a JSON schema object"));
                }
                Ok(ResponseFormat::JsonSchema(schema.clone()))
            }
            Some(t) => Err(bad(&format!("type {t:?} is not supported (\"text\", \"json_object\" or \"json_schema\")"))),
            None => Err(bad("`type` is missing")),
        }
    }

    /// The schema to enforce, if any, with llguidance's options for compact JSON.
    fn schema(&self) -> Option<Value> {
        let schema = match self {
            ResponseFormat::Text | ResponseFormat::Lark(_) => return None,
            ResponseFormat::JsonObject => json!({ "type": "object" }),
            ResponseFormat::JsonSchema(s) => s.clone(),
        };
        Some(compact(schema))
    }
}

/// The schema with llguidance's options for compact JSON (no whitespace between tokens).
pub fn compact(mut schema: Value) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.insert("x-guidance".into(), json!({ "item_separator": ",", "key_separator": ":", "whitespace_flexible": false }));
    }
    schema
}

/// Digits in a row after which a digit is allowed only if nothing else is.
pub const MAX_DIGITS: usize = 16;
/// The same for an exponent: f64 overflows past 308, so a fourth exponent digit is never useful
/// (a random model wrote `6666e666666666`, which JSON allows and serde_json refuses as out of range).
pub const MAX_EXPONENT_DIGITS: usize = 3;

/// The vocabulary as llguidance walks it: built once per engine, on the first structured request.
pub struct Vocabulary {
    factory: ParserFactory,
    /// Each token's bytes, to follow the digits at the end of the answer.
    words: Arc<Vec<Vec<u8>>>,
}

impl Vocabulary {
    pub fn new(tokenizer: &Tokenizer) -> Result<Vocabulary, ConstraintError> {
        let n = tokenizer.n_vocab();
        // Special tokens carry llguidance's marker byte, so no text the grammar allows can use them.
        let words: Vec<Vec<u8>> = (0..n as u32)
            .map(|t| {
                let bytes = tokenizer.token_bytes(t);
                if tokenizer.is_special(t) { [&[TokTrie::SPECIAL_TOKEN_MARKER], bytes].concat() } else { bytes.to_vec() }
            })
            .collect();
        let end = tokenizer.eot.or(tokenizer.eos).ok_or_else(|| ConstraintError::Grammar("the model has no end-of-turn token".into()))?;
        let info = TokRxInfo { tok_bos: tokenizer.bos, ..TokRxInfo::new(n as u32, end) };
        // Greedy tokenization over the trie is enough: every token is sampled under the mask,
        // none is forced from a tokenization.
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(TokTrie::from(&info, &words)));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| ConstraintError::Grammar(e.to_string()))?;
        factory.quiet();
        Ok(Vocabulary { factory, words: Arc::new(words) })
    }

    /// A constraint for one answer, or `None` for free text.
    pub fn constraint(&self, format: &ResponseFormat) -> Result<Option<Constraint>, ConstraintError> {
        let grammar = match (format, format.schema()) {
            (ResponseFormat::Lark(g), _) => TopLevelGrammar::from_lark(g.clone()),
            (_, Some(schema)) => TopLevelGrammar::from_json_schema(schema),
            (_, None) => return Ok(None),
        };
        let parser = self.factory.create_parser(grammar).map_err(|e| ConstraintError::Schema(e.to_string()))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(ConstraintError::Schema(e));
        }
        Ok(Some(Constraint { matcher, words: self.words.clone(), tail: Vec::new() }))
    }
}

/// The grammar state of one answer.
pub struct Constraint {
    matcher: Matcher,
    words: Arc<Vec<Vec<u8>>>,
    /// The last bytes of the answer so far (enough to see a run of digits and what precedes it).
    tail: Vec<u8>,
}

impl Constraint {
    /// Sets the logits of every token the grammar does not allow next to −∞ (the end-of-turn token
    /// is allowed once the JSON is complete).
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<(), ConstraintError> {
        let mut allowed = self.matcher.compute_mask_or_eos().map_err(|e| ConstraintError::Grammar(e.to_string()))?;
        if allowed.is_zero() {
            return Err(ConstraintError::Grammar("no token can continue the answer".into()));
        }
        if self.digits_at_limit() {
            let leads_with_digit = |t: usize| self.words.get(t).and_then(|w| w.first()).is_some_and(u8::is_ascii_digit);
            let mut other = false;
            allowed.iter_set_entries(|t| other |= !leads_with_digit(t));
            if other {
                for t in (0..self.words.len()).filter(|&t| leads_with_digit(t)) {
                    allowed.disallow_token(t as u32);
                }
            }
        }
        for (t, l) in logits.iter_mut().enumerate() {
            if !allowed.is_allowed(t as u32) {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// The answer ends in as many digits in a row as a number may have: [`MAX_EXPONENT_DIGITS`]
    /// after `1e`, `1e+` or `1E-`, else [`MAX_DIGITS`].
    fn digits_at_limit(&self) -> bool {
        let run = self.tail.iter().rev().take_while(|b| b.is_ascii_digit()).count();
        let before = &self.tail[..self.tail.len() - run];
        let exponent = match before {
            [.., d, b'e' | b'E'] | [.., d, b'e' | b'E', b'+' | b'-'] => d.is_ascii_digit(),
            _ => false,
        };
        run >= if exponent { MAX_EXPONENT_DIGITS } else { MAX_DIGITS }
    }

    /// Advances the grammar past the sampled token.
    pub fn commit(&mut self, token: u32) -> Result<(), ConstraintError> {
        self.matcher.consume_token(token).map_err(|e| ConstraintError::Grammar(e.to_string()))?;
        self.tail.extend_from_slice(self.words.get(token as usize).map_or(&[][..], Vec::as_slice));
        let keep = MAX_DIGITS + 8;
        if self.tail.len() > 2 * keep {
            self.tail.drain(..self.tail.len() - keep);
        }
        Ok(())
    }

    /// The answer is complete: nothing but the end-of-turn token may follow.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }
}
