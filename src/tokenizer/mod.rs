//! The tokenizer stored in a GGUF file, built on the `tokenizers` crate's BPE: byte-level BPE
//! (`tokenizer.ggml.model = "gpt2"`: 2B4T, Llama 3, Falcon3) or SentencePiece BPE (`"llama"`:
//! Llama-2 and 1bitLLM's models, see [`sentencepiece`]).
//!
//! The pre-tokenizer is the main trap (spec §5.3): Microsoft's 2B4T file has no
//! `tokenizer.ggml.pre`, so bitnet.cpp falls back to llama.cpp's "default" regex chain, while HF (and
//! training) use the Llama-3 regex with `ignore_merges`. We use Llama-3 unless the file or the caller
//! asks otherwise.

mod sentencepiece;

use std::collections::HashMap;

use thiserror::Error;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::{Model, NormalizedString, Normalizer, OffsetType, PreTokenizedString, PreTokenizer, SplitDelimiterBehavior};

use crate::chat::Segment;
use crate::gguf::{Array, Gguf, Value};

/// Llama-3's regex, as in its tokenizer.json.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's regex (Qwen2.5's and Qwen3's tokenizer.json, llama.cpp's `qwen2` pre-type): Llama-3's,
/// but digits one at a time.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-2's regex (llama.cpp's `gpt-2` pre-type).
const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// llama.cpp's "default" chain, what bitnet.cpp uses for a file without `tokenizer.ggml.pre`:
/// each regex splits the pieces the previous one left.
const LLAMACPP_DEFAULT_REGEXES: [&str; 4] = [
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

use sentencepiece::TOKEN_NORMAL;
const TOKEN_UNKNOWN: i32 = 2;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// The Llama-3 regex with `ignore_merges` (HF's tokenizer for 2B4T; our default).
    Llama3,
    /// llama.cpp's fallback chain: bitnet.cpp-compatible tokenization of the official file.
    LlamaCppDefault,
    /// The GPT-2 regex.
    Gpt2,
    /// SentencePiece: no splitting, spaces as `▁` (the only kind for `tokenizer.ggml.model = "llama"`).
    SentencePiece,
    /// Qwen2's regex, after NFC normalisation as its tokenizer.json asks (BitNet-embedding-0.6B's
    /// Qwen3 vocabulary).
    Qwen2,
}

impl PreTokenizerKind {
    /// The kind a `tokenizer.ggml.pre` value names (an absent key means Llama-3, see the module docs).
    pub fn from_gguf_name(name: Option<&str>) -> Option<Self> {
        match name {
            // llama.cpp's llama3 group (llama-vocab.cpp, which names Falcon-E's `falcon-h1`), with
            // bitnet.cpp's name for Falcon-E, `falcon_e`.
            None | Some("llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "falcon_e") => Some(Self::Llama3),
            Some("gpt-2" | "gpt2") => Some(Self::Gpt2),
            Some("qwen2") => Some(Self::Qwen2),
            Some("default") => Some(Self::LlamaCppDefault),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum TokenizerError {
    #[error("the model file has no tokenizer (missing '{0}')")]
    Missing(&'static str),
    #[error(
        "tokenizer model '{0}' is not supported; bitnet-web reads byte-level BPE vocabularies \
         (tokenizer.ggml.model = \"gpt2\": 2B4T, Llama 3, Falcon3) and SentencePiece BPE ones \
         (\"llama\": Llama-2, bitnet_b1_58-large and -3B)"
    )]
    UnsupportedModel(String),
    #[error(
        "pre-tokenizer '{0}' is not supported (llama3, llama-bpe, falcon3, falcon-h1, falcon_e, gpt-2, qwen2 and llama.cpp's default are); \
         choose one explicitly to load this model anyway"
    )]
    UnsupportedPreTokenizer(String),
    #[error("the {0:?} pre-tokenizer does not apply to a '{1}' vocabulary")]
    PreTokenizerMismatch(PreTokenizerKind, String),
    #[error("the tokenizer data in the model file is inconsistent: {0}")]
    Corrupt(String),
}

fn corrupt(e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Corrupt(e.to_string())
}

/// GPT-2's reversible map from bytes to printable characters, inverted: char → byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..=255u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    printable.iter().zip(&chars).map(|(&b, &c)| (char::from_u32(c).expect("valid char"), b as u8)).collect()
}

pub struct Tokenizer {
    /// The BPE model (merges from the file, or from the scores of a SentencePiece vocabulary).
    bpe: BPE,
    /// Byte-level vocabularies: the regex split and byte mapping; `None` for SentencePiece.
    pre: Option<PreTokenizerWrapper>,
    /// SentencePiece's dummy prefix: a `▁` before the text (`tokenizer.ggml.add_space_prefix`).
    add_space_prefix: bool,
    /// Each token's bytes (specials: their text).
    token_bytes: Vec<Vec<u8>>,
    is_control: Vec<bool>,
    /// Unknown, control and user-defined tokens: whole tokens, never pieces of text.
    is_special: Vec<bool>,
    /// The special tokens' texts and ids, longest first (so `<|eot_id|>` wins over a prefix of it).
    specials: Vec<(String, u32)>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// End of turn: `<|eot_id|>` when the vocabulary has it.
    pub eot: Option<u32>,
    pub add_bos: bool,
    /// EOS after a text prompt (`tokenizer.ggml.add_eos_token`; some SentencePiece vocabularies set it).
    pub add_eos: bool,
    pub pre_tokenizer: PreTokenizerKind,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("n_vocab", &self.n_vocab()).field("pre", &self.pre_tokenizer).finish()
    }
}

impl Tokenizer {
    /// Checks, from the header alone, that a tokenizer can be built for a model of `n_vocab`
    /// embedding rows: a supported tokenizer model and pre-tokenizer, and one token per row.
    pub fn check_header(g: &Gguf, n_vocab: usize, pre: Option<PreTokenizerKind>) -> Result<(), TokenizerError> {
        let (tokens, _) = Self::metadata(g, pre)?;
        if tokens.len() != n_vocab {
            return Err(corrupt(format!("{} tokens in the vocabulary, but the model has {n_vocab} embeddings", tokens.len())));
        }
        Ok(())
    }

    /// The tokens and the pre-tokenizer, once the tokenizer model is known to be supported.
    fn metadata(g: &Gguf, pre: Option<PreTokenizerKind>) -> Result<(&[String], PreTokenizerKind), TokenizerError> {
        let model = g.get_str("tokenizer.ggml.model").ok_or(TokenizerError::Missing("tokenizer.ggml.model"))?;
        let Some(Value::Array(Array::String(tokens))) = g.get("tokenizer.ggml.tokens") else {
            return Err(TokenizerError::Missing("tokenizer.ggml.tokens"));
        };
        let sentencepiece = PreTokenizerKind::SentencePiece;
        match (model, pre) {
            // llama.cpp ignores `tokenizer.ggml.pre` for SentencePiece vocabularies, and so do we.
            ("llama", None) => Ok((tokens, sentencepiece)),
            ("llama", Some(p)) if p == sentencepiece => Ok((tokens, p)),
            ("gpt2", Some(p)) if p != sentencepiece => Ok((tokens, p)),
            ("llama" | "gpt2", Some(p)) => Err(TokenizerError::PreTokenizerMismatch(p, model.into())),
            ("gpt2", None) => {
                let pre_name = g.get_str("tokenizer.ggml.pre");
                let kind = PreTokenizerKind::from_gguf_name(pre_name)
                    .ok_or_else(|| TokenizerError::UnsupportedPreTokenizer(pre_name.unwrap_or_default().into()))?;
                Ok((tokens, kind))
            }
            _ => Err(TokenizerError::UnsupportedModel(model.into())),
        }
    }

    /// Builds the tokenizer from `tokenizer.ggml.*` metadata. `pre` overrides `tokenizer.ggml.pre`.
    pub fn from_gguf(g: &Gguf, pre: Option<PreTokenizerKind>) -> Result<Tokenizer, TokenizerError> {
        let (tokens, pre) = Self::metadata(g, pre)?;
        let spm = pre == PreTokenizerKind::SentencePiece;
        let types: Vec<i32> = match g.get("tokenizer.ggml.token_type") {
            Some(Value::Array(Array::I32(t))) if t.len() == tokens.len() => t.clone(),
            Some(Value::Array(a)) if a.len() == tokens.len() => {
                (0..a.len()).map(|i| a.get(i).and_then(|v| v.as_f64()).unwrap_or(1.0) as i32).collect()
            }
            Some(_) => return Err(corrupt("token_type has a different length than tokens")),
            None => vec![TOKEN_NORMAL; tokens.len()],
        };

        // Matched whole in text, as llama.cpp and HF do (`<unk>` included).
        let is_special = |t: i32| matches!(t, TOKEN_UNKNOWN | TOKEN_CONTROL | TOKEN_USER_DEFINED);
        let mut vocab = Vocab::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            vocab.entry(t.clone()).or_insert(i as u32);
        }
        let merges = if spm {
            let scores: Vec<f32> = match g.get("tokenizer.ggml.scores") {
                Some(Value::Array(Array::F32(s))) if s.len() == tokens.len() => s.clone(),
                Some(_) => return Err(corrupt("scores has a different length than tokens")),
                None => return Err(TokenizerError::Missing("tokenizer.ggml.scores")),
            };
            sentencepiece::merges_from_scores(tokens, &scores, &types)
        } else {
            let merges: &[String] = match g.get("tokenizer.ggml.merges") {
                Some(Value::Array(Array::String(m))) => m,
                _ => &[],
            };
            merges
                .iter()
                .map(|m| {
                    // Split at the first space after position 0 (a merge may start with a space symbol).
                    let at = m.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(i, _)| i);
                    at.map(|i| (m[..i].to_string(), m[i + 1..].to_string())).ok_or_else(|| corrupt(format!("merge {m:?}")))
                })
                .collect::<Result<_, _>>()?
        };
        // A merge whose result is not a token is corrupt. `tokenizers` says so itself, unless the
        // result is longer than every token: then its builder panics slicing a buffer of the
        // longest token's size (tokenizers 0.23, found by fuzz/fuzz_targets/tokenizer.rs).
        if let Some((a, b)) = merges.iter().find(|(a, b)| !vocab.contains_key(&format!("{a}{b}"))) {
            return Err(corrupt(format!("merge {a:?} + {b:?} is not a token of the vocabulary")));
        }
        let id = |key: &str| g.get_u64(key).map(|v| v as u32).filter(|&v| (v as usize) < tokens.len());
        let mut builder = BPE::builder().vocab_and_merges(vocab, merges).ignore_merges(pre == PreTokenizerKind::Llama3);
        if spm {
            builder = builder.byte_fallback(true).fuse_unk(true);
            if let Some(unk) = id("tokenizer.ggml.unknown_token_id") {
                builder = builder.unk_token(tokens[unk as usize].clone());
            }
        }
        let bpe = builder.build().map_err(corrupt)?;

        let to_byte = unicode_to_byte();
        let token_bytes = tokens
            .iter()
            .zip(&types)
            .map(|(s, &t)| match () {
                _ if is_special(t) => s.as_bytes().to_vec(),
                _ if spm => sentencepiece::piece_bytes(s, t),
                // Byte-level symbols map back to bytes; anything else stands for itself.
                _ => s.chars().flat_map(|c| match to_byte.get(&c) {
                    Some(&b) => vec![b],
                    None => c.to_string().into_bytes(),
                }).collect(),
            })
            .collect();
        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|&(_, (s, &t))| is_special(t) && !s.is_empty())
            .map(|(i, (s, _))| (s.clone(), i as u32))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()));
        let find = |text: &str| tokens.iter().position(|t| t == text).map(|i| i as u32);
        Ok(Tokenizer {
            bpe,
            pre: if spm { None } else { Some(pre_tokenizer(pre)?) },
            add_space_prefix: g.get("tokenizer.ggml.add_space_prefix").and_then(Value::as_bool).unwrap_or(true),
            token_bytes,
            is_control: types.iter().map(|&t| t == TOKEN_CONTROL).collect(),
            is_special: types.iter().map(|&t| is_special(t)).collect(),
            specials,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            eot: id("tokenizer.ggml.eot_token_id").or_else(|| find("<|eot_id|>")),
            add_bos: g.get("tokenizer.ggml.add_bos_token").and_then(Value::as_bool).unwrap_or(true),
            add_eos: g.get("tokenizer.ggml.add_eos_token").and_then(Value::as_bool).unwrap_or(false),
            pre_tokenizer: pre,
        })
    }

    pub fn n_vocab(&self) -> usize {
        self.token_bytes.len()
    }

    /// Token ids for `text`, without BOS. With `parse_special`, the text of special tokens
    /// (`<|eot_id|>`) becomes their ids; without it, it is tokenized as plain text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        match parse_special {
            false => self.encode_text(text, true),
            // All of it is markup: special-token text anywhere becomes the special token.
            true => self.encode_segments(&[Segment::Markup(text.to_string())]),
        }
    }

    /// The leftmost special-token text in `text`, the longest at that place (as HF's added
    /// vocabulary matches): its offset, text and id.
    fn next_special<'a>(&'a self, text: &str) -> Option<(usize, &'a str, u32)> {
        self.specials
            .iter()
            .filter_map(|(s, id)| text.find(s.as_str()).map(|at| (at, s.as_str(), *id)))
            .min_by_key(|&(at, s, _)| (at, usize::MAX - s.len()))
    }

    /// Plain text (no special tokens) to ids. `at_start`: the text opens the prompt, where
    /// SentencePiece puts its dummy prefix.
    fn encode_text(&self, text: &str, at_start: bool) -> Vec<u32> {
        let Some(pre) = &self.pre else {
            if text.is_empty() {
                return Vec::new();
            }
            let escaped = sentencepiece::escape(text, at_start && self.add_space_prefix);
            return self.bpe.tokenize(&escaped).map(|t| t.into_iter().map(|t| t.id).collect()).unwrap_or_default();
        };
        let mut normalized = NormalizedString::from(text);
        if self.pre_tokenizer == PreTokenizerKind::Qwen2 && NFC.normalize(&mut normalized).is_err() {
            return Vec::new();
        }
        let mut pts = PreTokenizedString::from(normalized);
        let ok = pre.pre_tokenize(&mut pts).is_ok() && pts.tokenize(|n| self.bpe.tokenize(n.get())).is_ok();
        match (ok, pts.into_encoding(None, 0, OffsetType::None)) {
            (true, Ok(e)) => e.get_ids().to_vec(),
            _ => Vec::new(),
        }
    }

    /// The most bytes one token stands for: a text longer than `n` times this cannot fit in `n`
    /// tokens, which lets a prompt be refused by its length before any tokenizing.
    pub fn max_token_bytes(&self) -> usize {
        self.token_bytes.iter().map(Vec::len).max().unwrap_or(1).max(1)
    }

    /// Whether `text` holds the text of a special token (`<|eot_id|>`).
    pub fn contains_special_text(&self, text: &str) -> bool {
        self.specials.iter().any(|(s, _)| text.contains(s.as_str()))
    }

    /// Token ids for a prompt of markup and message text: special-token text becomes the special
    /// token only in the markup. The text between two markup specials is encoded as one piece,
    /// which is what encoding the whole string with special parsing does when no message holds
    /// special-token text, so ordinary prompts get exactly HF's ids.
    pub fn encode_segments(&self, segments: &[Segment]) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut piece = String::new();
        let mut at_start = true;
        for seg in segments {
            match seg {
                Segment::Text(t) => piece.push_str(t),
                Segment::Markup(m) => {
                    let mut rest = m.as_str();
                    while let Some((at, s, id)) = self.next_special(rest) {
                        piece.push_str(&rest[..at]);
                        if !piece.is_empty() {
                            ids.extend(self.encode_text(&piece, at_start));
                            piece.clear();
                        }
                        ids.push(id);
                        at_start = false;
                        rest = &rest[at + s.len()..];
                    }
                    piece.push_str(rest);
                }
            }
        }
        ids.extend(self.encode_text(&piece, at_start));
        ids
    }

    /// `encode` with BOS before and EOS after, as far as the model wants them.
    pub fn encode_prompt(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut ids = Vec::new();
        if let (true, Some(bos)) = (self.add_bos, self.bos) {
            ids.push(bos);
        }
        ids.extend(self.encode(text, parse_special));
        if let (true, Some(eos)) = (self.add_eos, self.eos) {
            ids.push(eos);
        }
        ids
    }

    /// The bytes token `id` stands for (special tokens: their text).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// Control tokens (BOS, EOT, reserved) are not shown to a reader.
    pub fn is_control(&self, id: u32) -> bool {
        self.is_control.get(id as usize).copied().unwrap_or(false)
    }

    /// Control and user-defined tokens (`<|eot_id|>`), which stand for themselves, not for text.
    pub fn is_special(&self, id: u32) -> bool {
        self.is_special.get(id as usize).copied().unwrap_or(false)
    }

    /// End-of-generation: EOS or EOT ({128001, 128009} for 2B4T).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        Some(id) == self.eos || Some(id) == self.eot
    }

    /// Decodes ids to text; invalid UTF-8 (a character cut between tokens) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_control: bool) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .filter(|&&id| !(skip_control && self.is_control(id)))
            .flat_map(|&id| self.token_bytes(id).iter().copied())
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        // SentencePiece's dummy prefix is not part of the text (HF's decoder strips it too).
        match (self.pre.is_none() && self.add_space_prefix, text.strip_prefix(' ')) {
            (true, Some(rest)) => rest.to_string(),
            _ => text.into_owned(),
        }
    }
}

fn pre_tokenizer(kind: PreTokenizerKind) -> Result<PreTokenizerWrapper, TokenizerError> {
    let split = |re: &str| -> Result<PreTokenizerWrapper, TokenizerError> {
        Ok(Split::new(SplitPattern::Regex(re.into()), SplitDelimiterBehavior::Isolated, false).map_err(corrupt)?.into())
    };
    let mut steps = match kind {
        PreTokenizerKind::Llama3 => vec![split(LLAMA3_REGEX)?],
        PreTokenizerKind::Gpt2 => vec![split(GPT2_REGEX)?],
        PreTokenizerKind::Qwen2 => vec![split(QWEN2_REGEX)?],
        PreTokenizerKind::LlamaCppDefault => LLAMACPP_DEFAULT_REGEXES.iter().map(|r| split(r)).collect::<Result<_, _>>()?,
        PreTokenizerKind::SentencePiece => unreachable!("SentencePiece vocabularies are not pre-tokenized"),
    };
    steps.push(ByteLevel::new(false, false, false).into());
    Ok(Sequence::new(steps).into())
}

/// Turns a stream of token bytes into text, holding back a UTF-8 character cut between tokens.
#[derive(Default, Debug)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// Adds a token's bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // A byte sequence that can never become valid: show it as U+FFFD now.
            Err(_) => {
                let text = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                return text;
            }
        };
        let text = String::from_utf8(self.pending.drain(..valid).collect()).expect("checked above");
        text
    }

    /// Whatever is left at the end (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}
