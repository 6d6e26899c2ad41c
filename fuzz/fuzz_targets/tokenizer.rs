//! Fuzzes the tokenizer built from GGUF metadata: the input chooses the vocabulary (tokens, types,
//! scores, merges, special ids, model and pre-tokenizer names), which goes through a GGUF file in
//! memory into `Tokenizer::from_gguf`; a tokenizer that builds then encodes and decodes the rest
//! of the input. A typed error or ids inside the vocabulary, never a panic or a hang.
#![no_main]

use bitnet_web::chat::Segment;
use bitnet_web::gguf::{self, Array, GgufWriter, Value};
use bitnet_web::tokenizer::{PreTokenizerKind, TextStream, Tokenizer};
use libfuzzer_sys::fuzz_target;

/// Reads the input front to back; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    /// A short string: a length byte (0..=15), then that many bytes as lossy UTF-8.
    fn string(&mut self) -> String {
        let n = (self.byte() & 15) as usize;
        let (s, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }
}

/// GPT-2's printable stand-in for byte `b`.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let n = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + n).unwrap()
}

const PRE_NAMES: [&str; 8] = ["llama3", "gpt2", "gpt-2", "default", "falcon3", "llama-bpe", "qwen2", ""];
const OVERRIDES: [Option<PreTokenizerKind>; 5] = [
    None,
    Some(PreTokenizerKind::Llama3),
    Some(PreTokenizerKind::Gpt2),
    Some(PreTokenizerKind::LlamaCppDefault),
    Some(PreTokenizerKind::SentencePiece),
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.byte();
    let spm = flags & 1 != 0;
    let mut tokens: Vec<String> = Vec::new();
    // A base alphabet, so that merges and text meet real tokens: the 256 byte-level symbols, or
    // SentencePiece's <0xNN> byte pieces.
    if flags & 2 != 0 {
        tokens.extend((0..=255u8).map(|b| if spm { format!("<0x{b:02X}>") } else { byte_char(b).to_string() }));
    }
    let base = tokens.len();
    for _ in 0..input.byte() & 63 {
        tokens.push(input.string());
    }
    // Merges of two tokens by index, the merged token added to the vocabulary.
    let mut merges: Vec<String> = Vec::new();
    for _ in 0..input.byte() & 63 {
        let (a, b) = (input.byte() as usize, input.byte() as usize);
        if tokens.is_empty() {
            break;
        }
        let (a, b) = (tokens[a % tokens.len()].clone(), tokens[b % tokens.len()].clone());
        if input.byte() & 1 == 0 && tokens.len() < 400 {
            tokens.push(format!("{a}{b}"));
        }
        merges.push(format!("{a} {b}"));
    }
    // And a few raw ones.
    for _ in 0..input.byte() & 3 {
        merges.push(input.string());
    }
    let n = tokens.len();
    let mut types: Vec<i32> = vec![1; n];
    let mut scores: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
    if spm && flags & 2 != 0 {
        types[..base].fill(6);
    }
    for _ in 0..input.byte() & 31 {
        let (i, v) = (input.byte() as usize, input.byte());
        if n > 0 {
            types[i % n] = (v % 8) as i32;
            scores[i % n] = match v >> 3 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                s => s as f32,
            };
        }
    }

    let mut w = GgufWriter::new();
    w.kv("tokenizer.ggml.model", Value::String(if spm { "llama" } else { "gpt2" }.into()));
    w.kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    let keys = input.byte();
    if keys & 1 != 0 {
        w.kv("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
    }
    if keys & 2 != 0 {
        w.kv("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
    }
    if keys & 4 != 0 {
        w.kv("tokenizer.ggml.merges", Value::Array(Array::String(merges)));
    }
    if keys & 8 != 0 {
        w.kv("tokenizer.ggml.pre", Value::String(PRE_NAMES[(keys >> 4) as usize % PRE_NAMES.len()].into()));
    }
    for key in ["bos", "eos", "eot", "unknown"] {
        let v = input.byte();
        if v & 1 != 0 {
            w.kv(format!("tokenizer.ggml.{key}_token_id"), Value::U32((v >> 1) as u32 * 3));
        }
    }
    let bools = input.byte();
    for (i, key) in ["add_bos_token", "add_eos_token", "add_space_prefix"].iter().enumerate() {
        if bools >> (2 * i) & 1 != 0 {
            w.kv(format!("tokenizer.ggml.{key}"), Value::Bool(bools >> (2 * i + 1) & 1 != 0));
        }
    }
    let pre = OVERRIDES[input.byte() as usize % OVERRIDES.len()];
    let text = String::from_utf8_lossy(&input.0[..input.0.len().min(4096)]).into_owned();

    let bytes = w.to_bytes().unwrap();
    let (g, _) = gguf::read_all(&bytes).unwrap();
    let _ = Tokenizer::check_header(&g, n, pre);
    let Ok(tok) = Tokenizer::from_gguf(&g, pre) else { return };
    assert_eq!(tok.n_vocab(), n);
    let in_vocab = |ids: &[u32]| assert!(ids.iter().all(|&id| (id as usize) < n), "{ids:?} outside {n} tokens");
    for special in [true, false] {
        let ids = tok.encode(&text, special);
        in_vocab(&ids);
        let _ = tok.decode(&ids, special);
        in_vocab(&tok.encode_prompt(&text, special));
    }
    // Alternating markup and message text, cut at U+0001.
    let segments: Vec<Segment> = text
        .split('\u{1}')
        .enumerate()
        .map(|(i, s)| if i % 2 == 0 { Segment::Markup(s.into()) } else { Segment::Text(s.into()) })
        .collect();
    let ids = tok.encode_segments(&segments);
    in_vocab(&ids);
    let mut stream = TextStream::default();
    for &id in &ids {
        let _ = (stream.push(tok.token_bytes(id)), tok.is_control(id), tok.is_special(id));
    }
    let _ = (stream.finish(), tok.max_token_bytes(), tok.contains_special_text(&text));
});
