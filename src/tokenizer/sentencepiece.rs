//! SentencePiece BPE vocabularies (`tokenizer.ggml.model = "llama"`: Llama-2, 1bitLLM's
//! bitnet_b1_58-large and -3B), run on the `tokenizers` crate's BPE.
//!
//! A SentencePiece file has scores, not merges. SentencePiece merges the adjacent pair whose union
//! is the best-scored piece; ranking every split of every piece by the piece's score gives a merge
//! list that makes the same choices (HF's `generate_merges` does the same for GGUF files). Only
//! NORMAL pieces are merge results: control, byte and unused pieces never come out of merging, so
//! the text `<s>` stays text. Checked against the PyPI `sentencepiece` model the test vocabulary
//! was trained from, on 417 strings (tests/suite/tokenizer_family.rs).
//!
//! Spaces become `▁`, and the start of the text gets one more (SentencePiece's dummy prefix),
//! even when it already begins with a space: that is what `sentencepiece` and llama.cpp do. HF's
//! `Metaspace` skips the prefix there, so HF's ids differ for text that starts with a space; the
//! test lists exactly those. After a special token no prefix is added, as in HF's
//! `prepend_scheme = "first"`.

use std::collections::HashMap;

/// GGUF token types (llama.cpp's `llama_token_type`).
pub const TOKEN_NORMAL: i32 = 1;
pub const TOKEN_BYTE: i32 = 6;

/// The space symbol.
pub const SPACE: char = '\u{2581}';

/// Merges ranked best first: every split of every NORMAL piece into two pieces of the vocabulary,
/// by the piece's score (descending), then by the halves' lengths (longer left first), as HF ranks
/// them; splits of one piece keep the order of their halves' ids.
pub fn merges_from_scores(tokens: &[String], scores: &[f32], types: &[i32]) -> Vec<(String, String)> {
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        ids.entry(t.as_str()).or_insert(i);
    }
    let mut ranked: Vec<(f32, usize, usize, &str, &str)> = Vec::new();
    for (i, piece) in tokens.iter().enumerate() {
        if types.get(i) != Some(&TOKEN_NORMAL) {
            continue;
        }
        let mut local: Vec<(usize, usize, &str, &str)> = piece
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (l, r) = piece.split_at(at);
                Some((*ids.get(l)?, *ids.get(r)?, l, r))
            })
            .collect();
        local.sort_by_key(|&(a, b, _, _)| (a, b));
        let score = scores.get(i).copied().unwrap_or(0.0);
        ranked.extend(local.into_iter().map(|(_, _, l, r)| (score, l.chars().count(), r.chars().count(), l, r)));
    }
    // Stable, so equal keys keep the order above.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    ranked.into_iter().map(|(_, _, _, l, r)| (l.to_string(), r.to_string())).collect()
}

/// The text as SentencePiece sees it: spaces as `▁`, with the dummy prefix at the start of the text.
pub fn escape(text: &str, prefix: bool) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    if prefix {
        out.push(SPACE);
    }
    out.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));
    out
}

/// The bytes a piece stands for: `<0x0A>` byte pieces are their byte, `▁` is a space.
pub fn piece_bytes(piece: &str, ty: i32) -> Vec<u8> {
    if ty == TOKEN_BYTE {
        if let Some(b) = piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            return vec![b];
        }
    }
    piece.replace(SPACE, " ").into_bytes()
}
