//! Fuzzes the chat template renderer: any template source with any messages gives a typed error
//! or a prompt, never a panic, within the fuel limit and the 16 MiB output cap.
//!
//! Input: the template, then NUL-separated messages, each a role byte and its content; the first
//! byte of the input chooses the generation prompt and the BOS/EOS texts.
#![no_main]

use bitnet_web::chat::{ChatFormat, Message, Segment};
use libfuzzer_sys::fuzz_target;

const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];
const MAX_RENDERED_BYTES: usize = 16 << 20;

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or_default().to_string();
    let messages: Vec<Message> = parts
        .map(|p| {
            let role = p.bytes().next().map_or(1, |b| b as usize % ROLES.len());
            Message::new(ROLES[role], p.get(1..).unwrap_or_default())
        })
        .collect();
    let (bos, eos) = match flags >> 1 & 3 {
        0 => ("<|begin_of_text|>", "<|eot_id|>"),
        1 => ("<s>", "</s>"),
        2 => ("", ""),
        _ => ("<|endoftext|>", "<|endoftext|>"),
    };
    let format = ChatFormat::Template { source: source.clone(), bos: bos.into(), eos: eos.into() };
    let generation = flags & 1 != 0;
    let rendered = format.render(&messages, generation);
    if let Ok(r) = &rendered {
        assert!(r.len() <= MAX_RENDERED_BYTES, "{} bytes rendered", r.len());
    }
    let segments = format.segments(&messages, generation);
    if let (Ok(r), Ok(s)) = (&rendered, &segments) {
        // The segments are the rendering, cut (a template that reads the clock may differ).
        if !source.contains("strftime") {
            assert_eq!(s.iter().map(Segment::as_str).collect::<String>(), *r);
        }
    }
});
