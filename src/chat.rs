//! Chat formats: messages → prompt text.
//!
//! BitNet b1.58 2B4T was tuned on `<|begin_of_text|>System: …<|eot_id|>User: …<|eot_id|>Assistant: `
//! (spec §5.5 #1). Its GGUF carries a `BITNETAssistant` placeholder template instead, which must not be
//! rendered; so that arch (and any file with the placeholder) uses the built-in format, and other
//! models render their `tokenizer.chat_template` with minijinja as HF's `apply_chat_template`
//! renders it with Jinja2 (`hf_env`), sandboxed by a fuel limit.

mod bounded;
mod hf_env;
pub mod strftime;
pub mod tools;

use minijinja::context;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::gguf::Gguf;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// An assistant's calls, as templates take them (`tools::normalize_calls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<serde_json::Value>,
    /// A tool message's answer to this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message { role: role.into(), content: content.into(), tool_calls: None, tool_call_id: None }
    }

    /// The message as a template sees it: `role`, `content` (None for an assistant's calls with no
    /// text, as OpenAI sends `content: null`), and `tool_calls`/`tool_call_id` where there are.
    fn to_jinja(&self) -> minijinja::Value {
        let mut pairs = vec![("role", minijinja::Value::from(self.role.as_str()))];
        let content = if self.content.is_empty() && self.tool_calls.is_some() { minijinja::Value::from(()) } else { self.content.as_str().into() };
        pairs.push(("content", content));
        if let Some(calls) = &self.tool_calls {
            pairs.push(("tool_calls", minijinja::Value::from(minijinja::value::Serde(calls))));
        }
        if let Some(id) = &self.tool_call_id {
            pairs.push(("tool_call_id", id.as_str().into()));
        }
        minijinja::Value::from_pairs(pairs)
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ChatError {
    #[error("the model's chat template cannot be used: {0}")]
    Template(String),
    #[error("message role '{0}' is not one of system, user, assistant (and tool, with `tools`)")]
    BadRole(String),
    #[error(
        "the model's chat template is {bytes} bytes, more than the {max} bitnet-web accepts (official templates \
         are 41 KB at most): the file is malformed"
    )]
    TemplateTooLong { bytes: usize, max: usize },
    #[error(
        "the model's chat template (tokenizer.chat_template) is empty, so the file does not say how to format a \
         chat; write the model's template into the file, or remove the key for BitNet 2B4T's format"
    )]
    EmptyTemplate,
    #[error(
        "a message contains special-token text, and the model's chat template changes message text in a way \
         that cannot be told apart from the template's own markup; remove the special-token text"
    )]
    UnplaceableText,
}

/// A piece of the rendered prompt: the format's own markup, in which special-token text is the
/// special token, or a message's text, in which it is only text (a user who types `<|eot_id|>`
/// must not end the turn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Markup(String),
    Text(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChatFormat {
    /// `Role: content<|eot_id|>` turns after BOS, then `Assistant: `.
    Bitnet2B4T,
    /// A Jinja template from the GGUF, with the tokenizer's BOS and EOS texts.
    Template { source: String, bos: String, eos: String },
}

/// The longest chat template a file may carry. The largest of the 26 official templates llama.cpp
/// keeps as test data (`models/templates`, December 2026) is GigaChat 3.5's, 40,436 characters; most
/// are 5-15 KB. A template is compiled again for every prompt, and its compiled form grows with its
/// length (a 15 MB one made the CLI peak at 2 GB), so a longer one is refused at the header. The
/// largest accepted one, in the shapes that compile to the most per byte, renders in at most 14 ms
/// with the heap growing by at most 6.3 MB (`tests/template_bombs.rs`, 2-core VM, 2026-12-06).
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// A template's budget: minijinja's fuel charges one unit per instruction and one per 64 bytes of
/// data it creates (strings, list slots, output), so a template can neither loop forever nor build
/// more than about 16 MB (`{{ 'lorem ' * 5000000 }}`, 28 bytes of template, made the CLI abort at
/// 3.5 GB). Real templates spend a few thousand units a message; `tests/template_bombs.rs`
/// measures the bombs.
const TEMPLATE_FUEL: u64 = 250_000;

impl ChatFormat {
    /// The format for a model: the 2B4T format for the BitNet b1.58 archs, for files carrying the
    /// `BITNETAssistant` placeholder, and for files without a template. Call `check_header` first.
    pub fn for_model(g: &Gguf, bos: &str, eos: &str) -> ChatFormat {
        match template_in_use(g) {
            Some(t) => ChatFormat::Template { source: t.to_string(), bos: bos.into(), eos: eos.into() },
            None => ChatFormat::Bitnet2B4T,
        }
    }

    /// What the header says about the chat format, decided before the first weight byte: a
    /// template longer than `MAX_TEMPLATE_BYTES` is refused, whatever the arch; an empty one is
    /// refused where it would be used (a silent fallback would format the chat in another model's
    /// markup), and passes where the arch ignores it.
    pub fn check_header(g: &Gguf) -> Result<(), ChatError> {
        let Some(t) = g.get_str("tokenizer.chat_template") else { return Ok(()) };
        if t.len() > MAX_TEMPLATE_BYTES {
            return Err(ChatError::TemplateTooLong { bytes: t.len(), max: MAX_TEMPLATE_BYTES });
        }
        match template_in_use(g) {
            Some(t) if t.trim().is_empty() => Err(ChatError::EmptyTemplate),
            _ => Ok(()),
        }
    }

    /// The prompt text for `messages`, ending with the assistant's cue when `add_generation_prompt`.
    /// The text contains special-token text (BOS, EOT), so tokenize it with special parsing and
    /// without adding another BOS.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, ChatError> {
        self.render_with(messages, None, add_generation_prompt)
    }

    /// `render`, with the request's `tools` passed to the template as HF passes them.
    pub fn render_with(&self, messages: &[Message], tools: Option<&serde_json::Value>, add_generation_prompt: bool) -> Result<String, ChatError> {
        match self {
            ChatFormat::Bitnet2B4T => Ok(self.segments(messages, add_generation_prompt)?.iter().map(Segment::as_str).collect()),
            ChatFormat::Template { .. } => self.render_jinja(messages, tools, add_generation_prompt),
        }
    }

    /// How this format writes tool calls.
    pub fn tool_syntax(&self) -> tools::Syntax {
        match self {
            ChatFormat::Bitnet2B4T => tools::Syntax::Tagged,
            ChatFormat::Template { source, .. } => tools::syntax_of(Some(source)),
        }
    }

    /// The rendered prompt as markup and message text, in order (their concatenation is `render`).
    pub fn segments(&self, messages: &[Message], add_generation_prompt: bool) -> Result<Vec<Segment>, ChatError> {
        self.segments_with(messages, None, add_generation_prompt)
    }

    /// `segments`, with the request's `tools` passed to the template.
    pub fn segments_with(&self, messages: &[Message], tools: Option<&serde_json::Value>, add_generation_prompt: bool) -> Result<Vec<Segment>, ChatError> {
        check_roles(messages, self)?;
        match self {
            ChatFormat::Bitnet2B4T => {
                let mut out = vec![Segment::Markup("<|begin_of_text|>".into())];
                for m in messages {
                    let mut role = m.role.clone();
                    role[..1].make_ascii_uppercase();
                    out.push(Segment::Markup(format!("{role}: ")));
                    out.push(Segment::Text(m.content.trim().to_string()));
                    out.push(Segment::Markup("<|eot_id|>".into()));
                }
                if add_generation_prompt {
                    out.push(Segment::Markup("Assistant: ".into()));
                }
                Ok(out)
            }
            ChatFormat::Template { .. } => self.jinja_segments(messages, tools, add_generation_prompt),
        }
    }

    /// A Jinja template's segments: the template runs a second time with each message's content
    /// replaced by a marker, which shows where contents go and what markup lies between. Each
    /// content is then found in the real rendering as the template placed it: verbatim or trimmed
    /// (what HF templates do to it), followed by the next piece of markup. Anything else is refused.
    fn jinja_segments(&self, messages: &[Message], tools: Option<&serde_json::Value>, add_generation_prompt: bool) -> Result<Vec<Segment>, ChatError> {
        let real = self.render_jinja(messages, tools, add_generation_prompt)?;
        // An empty content stays empty: a template may test it (`if message.content`).
        let marked: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| Message {
                content: if m.content.is_empty() { String::new() } else { format!("\u{E000}{i}\u{E001}") },
                ..m.clone()
            })
            .collect();
        let layout = self.render_jinja(&marked, tools, add_generation_prompt)?;
        // Alternating markup and marker indices.
        let mut pieces: Vec<(String, Option<usize>)> = Vec::new();
        let mut rest = layout.as_str();
        while let Some(at) = rest.find('\u{E000}') {
            pieces.push((rest[..at].to_string(), None));
            let end = rest[at..].find('\u{E001}').ok_or(ChatError::UnplaceableText)? + at;
            let index: usize = rest[at + '\u{E000}'.len_utf8()..end].parse().map_err(|_| ChatError::UnplaceableText)?;
            pieces.push((String::new(), Some(index)));
            rest = &rest[end + '\u{E001}'.len_utf8()..];
        }
        pieces.push((rest.to_string(), None));
        let mut out = Vec::new();
        let mut pos = 0;
        for (k, (markup, index)) in pieces.iter().enumerate() {
            match index {
                None => {
                    if !real[pos..].starts_with(markup.as_str()) {
                        return Err(ChatError::UnplaceableText);
                    }
                    out.push(Segment::Markup(markup.clone()));
                    pos += markup.len();
                }
                Some(i) => {
                    let content = &messages.get(*i).ok_or(ChatError::UnplaceableText)?.content;
                    let next = pieces.get(k + 1).map_or("", |p| p.0.as_str());
                    let strip = |start, end| hf_env::py_strip(content, None, start, end);
                    // Llama 3.1 writes a tool's answer as a JSON string (`tojson`): the quotes are
                    // the marker's too, so the text between them is the escaped content.
                    let quoted = hf_env::py_dumps(&serde_json::Value::String(content.clone()), None);
                    let escaped = &quoted[1..quoted.len() - 1];
                    let placed = [content.as_str(), strip(true, true), strip(true, false), strip(false, true), escaped]
                        .into_iter()
                        .find(|c| real[pos..].starts_with(c) && real[pos + c.len()..].starts_with(next))
                        .ok_or(ChatError::UnplaceableText)?;
                    out.push(Segment::Text(placed.to_string()));
                    pos += placed.len();
                }
            }
        }
        if pos != real.len() {
            return Err(ChatError::UnplaceableText);
        }
        Ok(out)
    }

    fn render_jinja(&self, messages: &[Message], tools: Option<&serde_json::Value>, add_generation_prompt: bool) -> Result<String, ChatError> {
        check_roles(messages, self)?;
        match self {
            ChatFormat::Bitnet2B4T => unreachable!("only templates render with Jinja"),
            ChatFormat::Template { source, bos, eos } => {
                let env = hf_env::environment(TEMPLATE_FUEL);
                let compiled = bounded::compile(source, hf_env::syntax()).map_err(|e| ChatError::Template(e.to_string()))?;
                bounded::render(&env, &compiled, context! {
                    messages => messages.iter().map(Message::to_jinja).collect::<minijinja::Value>(),
                    add_generation_prompt => add_generation_prompt,
                    bos_token => bos,
                    eos_token => eos,
                    // HF passes these to every template, as None when there are none.
                    tools => tools.map(|t| minijinja::Value::from(minijinja::value::Serde(t))),
                    documents => (),
                })
                .map_err(|e| match e.kind() {
                    minijinja::ErrorKind::OutOfFuel => {
                        ChatError::Template(format!("it needs more than its budget ({TEMPLATE_FUEL} steps, about 16 MB of text)"))
                    }
                    _ => ChatError::Template(e.to_string()),
                })
            }
        }
    }
}

/// The file's template, where this model uses it rather than the 2B4T format.
fn template_in_use(g: &Gguf) -> Option<&str> {
    let arch = g.architecture().unwrap_or_default();
    g.get_str("tokenizer.chat_template").filter(|t| !t.contains("BITNET") && !matches!(arch, "bitnet-b1.58" | "bitnet-25"))
}

/// The roles a format writes: a template also gets `tool` answers (the tool-calling ones render
/// them; `tools::check_turns` checks them first); the 2B4T format has no such role, and tool turns
/// reach it rewritten (`tools::tagged_messages`).
fn check_roles(messages: &[Message], format: &ChatFormat) -> Result<(), ChatError> {
    let tool = matches!(format, ChatFormat::Template { .. });
    match messages.iter().find(|m| !(matches!(m.role.as_str(), "system" | "user" | "assistant") || (tool && m.role == "tool"))) {
        Some(m) => Err(ChatError::BadRole(m.role.clone())),
        None => Ok(()),
    }
}

impl Segment {
    pub fn as_str(&self) -> &str {
        match self {
            Segment::Markup(s) | Segment::Text(s) => s,
        }
    }
}
