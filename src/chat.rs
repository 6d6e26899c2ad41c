//! Chat formats: messages → prompt text.
//!
//! BitNet b1.58 2B4T was tuned on `<|begin_of_text|>System: …<|eot_id|>User: …<|eot_id|>Assistant: `
//! (spec §5.5 #1). Its GGUF carries a `BITNETAssistant` placeholder template instead, which must not be
//! rendered; so that arch (and any file with the placeholder) uses the built-in format, and other
//! models render their `tokenizer.chat_template` with minijinja, sandboxed by a fuel limit.

use minijinja::{Environment, Error as JinjaError, ErrorKind, context};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::gguf::Gguf;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message { role: role.into(), content: content.into() }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ChatError {
    #[error("the model's chat template cannot be used: {0}")]
    Template(String),
    #[error("message role '{0}' is not one of system, user, assistant")]
    BadRole(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChatFormat {
    /// `Role: content<|eot_id|>` turns after BOS, then `Assistant: `.
    Bitnet2B4T,
    /// A Jinja template from the GGUF, with the tokenizer's BOS and EOS texts.
    Template { source: String, bos: String, eos: String },
}

/// Jinja templates cannot loop forever: rendering stops after this many steps.
const TEMPLATE_FUEL: u64 = 1_000_000;

impl ChatFormat {
    /// The format for a model: the 2B4T format for the BitNet b1.58 archs, for files carrying the
    /// `BITNETAssistant` placeholder, and for files without a template.
    pub fn for_model(g: &Gguf, bos: &str, eos: &str) -> ChatFormat {
        let arch = g.architecture().unwrap_or_default();
        match g.get_str("tokenizer.chat_template") {
            Some(t) if !t.contains("BITNET") && !matches!(arch, "bitnet-b1.58" | "bitnet-25") => {
                ChatFormat::Template { source: t.to_string(), bos: bos.into(), eos: eos.into() }
            }
            _ => ChatFormat::Bitnet2B4T,
        }
    }

    /// The prompt text for `messages`, ending with the assistant's cue when `add_generation_prompt`.
    /// The text contains special-token text (BOS, EOT), so tokenize it with special parsing and
    /// without adding another BOS.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, ChatError> {
        for m in messages {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                return Err(ChatError::BadRole(m.role.clone()));
            }
        }
        match self {
            ChatFormat::Bitnet2B4T => {
                let mut s = String::from("<|begin_of_text|>");
                for m in messages {
                    let mut role = m.role.clone();
                    role[..1].make_ascii_uppercase();
                    s += &format!("{role}: {}<|eot_id|>", m.content.trim());
                }
                if add_generation_prompt {
                    s += "Assistant: ";
                }
                Ok(s)
            }
            ChatFormat::Template { source, bos, eos } => {
                let mut env = Environment::new();
                env.set_fuel(Some(TEMPLATE_FUEL));
                env.add_function("raise_exception", |msg: String| -> Result<String, JinjaError> {
                    Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
                });
                let tmpl = env.template_from_str(source).map_err(|e| ChatError::Template(e.to_string()))?;
                tmpl.render(context! {
                    messages => messages
                        .iter()
                        .map(|m| minijinja::Value::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())]))
                        .collect::<minijinja::Value>(),
                    add_generation_prompt => add_generation_prompt,
                    bos_token => bos,
                    eos_token => eos,
                })
                .map_err(|e| ChatError::Template(e.to_string()))
            }
        }
    }
}
