//! Tool calling, as OpenAI shapes it: the request's `tools` and `tool_choice` checked, the chat
//! rendered with them, the grammar a call must follow, and the calls read back out of the answer.
//!
//! How a call is written depends on what the model was tuned on, which its template shows:
//! - **Llama 3.1+** (templates that set up `Environment: ipython`): the whole answer is one JSON
//!   object, `{"name": "f", "parameters": {...}}`, as the template's own instructions ask.
//! - **Falcon3** (its template's tools branch): `<tool_call>\n[\n  {"name": "f", "arguments": {...}}\n]\n</tool_call>`,
//!   a list of calls, as that template's instructions show.
//! - **Any other format** (2B4T's built-in one, templates that ignore tools): our own tool prompt,
//!   added to the system message, and `<tool_call>{"name": "f", "arguments": {...}}</tool_call>`,
//!   one per call. The `<tool_call>` tags are what the tool-calling templates of Falcon3, Qwen 2.5
//!   and Hermes use, so a model tuned on any of them has seen them; the calls already made and
//!   the tools' answers are written into the conversation in the same tags (`<tool_response>` for
//!   an answer, as those templates write it), in user turns, since such a format has no tool role.
//!
//! The JSON is written as Python's `json.dumps` writes it (`", "` and `": "`), as the templates
//! render calls and as their instructions show them, so the constrained call is tokenized as the
//! model saw calls in training.

use serde_json::{Map, Value, json};
use thiserror::Error;

use super::Message;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ToolError {
    #[error("`tools` {0}")]
    BadTools(String),
    #[error("`tool_choice` {0}")]
    BadChoice(String),
    #[error("{0}")]
    BadMessage(String),
}

/// How the answer may call tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides with its first token: a call's opening commits it to a call.
    Auto,
    /// No call: the tools are shown, the answer is text.
    None,
    /// At least one call, of any tool.
    Required,
    /// One call of this tool.
    Named(String),
}

/// A request's tools, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Tools {
    /// The `tools` array as the caller gave it (templates render it as HF passes it).
    pub raw: Value,
    /// Each tool's name and JSON schema for its arguments.
    pub functions: Vec<(String, Value)>,
    pub choice: ToolChoice,
    /// More than one call in an answer (where the format can write several).
    pub parallel: bool,
}

/// How a model writes calls (see the module's doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    LlamaJson,
    Falcon3,
    Tagged,
}

/// At most this many tools, as OpenAI allows.
pub const MAX_TOOLS: usize = 128;
/// At most this many calls in one answer, where calls may be parallel.
pub const MAX_CALLS: usize = 8;

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Tools {
    /// Reads OpenAI's `tools`, `tool_choice` and `parallel_tool_calls`.
    pub fn from_openai(tools: &Value, choice: Option<&Value>, parallel: Option<bool>) -> Result<Tools, ToolError> {
        let bad = |m: String| ToolError::BadTools(m);
        let list = tools.as_array().ok_or_else(|| bad("must be an array of { type: \"function\", function } objects".into()))?;
        if list.len() > MAX_TOOLS {
            return Err(bad(format!("may hold at most {MAX_TOOLS} tools, not {}", list.len())));
        }
        let mut functions = Vec::new();
        for (i, t) in list.iter().enumerate() {
            if t.get("type").and_then(Value::as_str) != Some("function") {
                return Err(bad(format!("[{i}] must have `type: \"function\"` (the only tool type)")));
            }
            let f = t.get("function").and_then(Value::as_object).ok_or_else(|| bad(format!("[{i}].function must be an object")))?;
            if let Some(k) = f.keys().find(|k| !["name", "description", "parameters", "strict"].contains(&k.as_str())) {
                return Err(bad(format!("[{i}].function.{k} is not supported")));
            }
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            if !valid_name(name) {
                return Err(bad(format!("[{i}].function.name must be 1-64 letters, digits, _ or -, not {name:?}")));
            }
            if functions.iter().any(|(n, _)| n == name) {
                return Err(bad(format!("name {name:?} twice")));
            }
            let params = match f.get("parameters") {
                None | Some(Value::Null) => json!({ "type": "object", "properties": {}, "additionalProperties": false }),
                Some(p) if p.is_object() => p.clone(),
                Some(_) => return Err(bad(format!("[{i}].function.parameters must be a JSON schema object"))),
            };
            functions.push((name.to_string(), params));
        }
        let choice = match choice {
            None | Some(Value::Null) => ToolChoice::Auto,
            Some(Value::String(s)) => match s.as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => return Err(ToolError::BadChoice(format!("must be \"auto\", \"none\", \"required\" or a function, not {other:?}"))),
            },
            Some(v) => {
                let name = v.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
                match (v.get("type").and_then(Value::as_str), name) {
                    (Some("function"), Some(n)) if functions.iter().any(|(f, _)| f == n) => ToolChoice::Named(n.to_string()),
                    (Some("function"), Some(n)) => return Err(ToolError::BadChoice(format!("names {n:?}, which is not one of `tools`"))),
                    _ => return Err(ToolError::BadChoice("must be { type: \"function\", function: { name } }".into())),
                }
            }
        };
        if list.is_empty() && choice != ToolChoice::None && choice != ToolChoice::Auto {
            return Err(ToolError::BadChoice("asks for a call, but `tools` is empty".into()));
        }
        Ok(Tools { raw: tools.clone(), functions, choice, parallel: parallel.unwrap_or(true) })
    }

    /// The Lark grammar a call (or, where parallel, the calls) must follow in this syntax; `None`
    /// where no call may be made.
    pub fn grammar(&self, syntax: Syntax) -> Option<String> {
        let names: Vec<&(String, Value)> = match &self.choice {
            ToolChoice::None => return None,
            ToolChoice::Named(n) => self.functions.iter().filter(|(f, _)| f == n).collect(),
            _ => self.functions.iter().collect(),
        };
        if names.is_empty() {
            return None;
        }
        let args = if syntax == Syntax::LlamaJson { "parameters" } else { "arguments" };
        let calls: Vec<Value> = names
            .iter()
            .map(|(name, params)| {
                json!({
                    "type": "object",
                    "properties": { "name": { "const": name }, args: params },
                    "required": ["name", args],
                    "additionalProperties": false,
                })
            })
            .collect();
        let mut schema = if calls.len() == 1 { calls.into_iter().next().expect("one") } else { json!({ "anyOf": calls }) };
        if let Some(o) = schema.as_object_mut() {
            o.insert("x-guidance".into(), json!({ "item_separator": ", ", "key_separator": ": ", "whitespace_flexible": false }));
        }
        let call = format!("call: %json {schema}");
        // Up to MAX_CALLS calls where the syntax can list several (a random model asked for a list
        // goes on listing until max_tokens).
        let more = if self.parallel && !matches!(self.choice, ToolChoice::Named(_)) { MAX_CALLS - 1 } else { 0 };
        let (open, sep, close) = match syntax {
            Syntax::LlamaJson => return Some(format!("start: call\n{call}\n")),
            Syntax::Falcon3 => (r#""<tool_call>\n[\n  ""#, r#"",\n  ""#, r#""\n]\n</tool_call>""#),
            Syntax::Tagged => (r#""<tool_call>""#, r#""</tool_call>\n<tool_call>""#, r#""</tool_call>""#),
        };
        let rest = format!(" ({sep} call)?").repeat(more);
        Some(format!("start: {open} call{rest} {close}\n{call}\n"))
    }

    /// The tool prompt of our own (the Tagged syntax), for the system message.
    pub fn prompt(&self) -> String {
        let mut out = String::from(
            "# Tools\n\nYou can call these functions. Each is given as JSON: its name, what it does, and a JSON schema of its arguments.\n\n",
        );
        for t in self.raw.as_array().into_iter().flatten() {
            out += &python_json(t.get("function").unwrap_or(t));
            out.push('\n');
        }
        out += "\nTo call a function, answer with only <tool_call>{\"name\": \"function_name\", \"arguments\": {\"arg\": \"value\"}}</tool_call>, \
                one such line per call. A function's answer comes back in <tool_response></tool_response> tags. \
                If no function is needed, answer normally.";
        out
    }
}

/// `json.dumps(v)`: `", "` and `": "` between items, keys in their order, non-ASCII as is.
pub fn python_json(v: &Value) -> String {
    super::hf_env::py_dumps(v, None)
}

/// The syntax of a chat format: a template's own, where it renders tools in a way we know, else
/// ours.
pub fn syntax_of(template: Option<&str>) -> Syntax {
    match template {
        Some(t) if t.contains("Environment: ipython") && t.contains("\"parameters\": ") => Syntax::LlamaJson,
        Some(t) if t.contains("<tool_call>") && t.contains("Falcon") => Syntax::Falcon3,
        _ => Syntax::Tagged,
    }
}

/// A message's `tool_calls` as templates take them (HF's convention, as vLLM and llama.cpp pass
/// them): `[{ id, type: "function", function: { name, arguments } }]` with `arguments` parsed from
/// OpenAI's JSON string into an object.
pub fn normalize_calls(calls: &Value, at: &str) -> Result<Value, ToolError> {
    let bad = |m: String| ToolError::BadMessage(format!("`{at}.tool_calls` {m}"));
    let list = calls.as_array().ok_or_else(|| bad("must be an array".into()))?;
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let f = c.get("function").and_then(Value::as_object).ok_or_else(|| bad(format!("[{i}].function must be an object")))?;
        let name = f.get("name").and_then(Value::as_str).ok_or_else(|| bad(format!("[{i}].function.name must be a string")))?;
        let arguments = match f.get("arguments") {
            Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|e| bad(format!("[{i}].function.arguments is not JSON: {e}")))?,
            Some(v @ Value::Object(_)) => v.clone(),
            _ => return Err(bad(format!("[{i}].function.arguments must be a JSON string"))),
        };
        let id = c.get("id").and_then(Value::as_str).ok_or_else(|| bad(format!("[{i}].id must be a string")))?;
        let mut function = Map::new();
        function.insert("name".into(), name.into());
        function.insert("arguments".into(), arguments);
        let mut call = Map::new();
        call.insert("id".into(), id.into());
        call.insert("type".into(), "function".into());
        call.insert("function".into(), Value::Object(function));
        out.push(Value::Object(call));
    }
    Ok(Value::Array(out))
}

/// Checks the conversation's tool turns: every `tool` message answers a call made before it.
pub fn check_turns(messages: &[Message]) -> Result<(), ToolError> {
    let mut made: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if let Some(calls) = &m.tool_calls {
            if m.role != "assistant" {
                return Err(ToolError::BadMessage(format!("`messages[{i}]` has `tool_calls`, which only an assistant message may have")));
            }
            made.extend(calls.as_array().into_iter().flatten().filter_map(|c| c.get("id").and_then(Value::as_str)));
        }
        if m.role == "tool" {
            let id = m.tool_call_id.as_deref().ok_or_else(|| ToolError::BadMessage(format!("`messages[{i}]` is a tool message without `tool_call_id`")))?;
            if !made.contains(&id) {
                return Err(ToolError::BadMessage(format!("`messages[{i}].tool_call_id` is {id:?}, which no assistant message before it called")));
            }
        }
    }
    Ok(())
}

/// The conversation in our own format (the Tagged syntax): the tool prompt in the system message,
/// calls made written into the assistant's text, tools' answers as user turns.
pub fn tagged_messages(messages: &[Message], tools: &Tools) -> Vec<Message> {
    let prompt = tools.prompt();
    let mut out = Vec::with_capacity(messages.len() + 1);
    match messages.first() {
        Some(m) if m.role == "system" => out.push(Message::new("system", &format!("{}\n\n{prompt}", m.content))),
        _ => out.push(Message::new("system", &prompt)),
    }
    let skip = usize::from(messages.first().is_some_and(|m| m.role == "system"));
    for m in &messages[skip..] {
        match (m.role.as_str(), &m.tool_calls) {
            ("assistant", Some(calls)) => {
                let mut text = m.content.clone();
                for c in calls.as_array().into_iter().flatten() {
                    let f = &c["function"];
                    let call = json!({ "name": f["name"], "arguments": f["arguments"] });
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text += &format!("<tool_call>{}</tool_call>", python_json(&call));
                }
                out.push(Message::new("assistant", &text));
            }
            ("tool", _) => out.push(Message::new("user", &format!("<tool_response>\n{}\n</tool_response>", m.content))),
            _ => out.push(Message::new(&m.role, &m.content)),
        }
    }
    out
}

/// One call's part, as it streams: its index, its name (on its first delta) and a piece of its
/// arguments' JSON text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CallDelta {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

/// Reads calls out of an answer's text as it grows, in any of the syntaxes: each call is a JSON
/// object whose first key is `name` and whose second (`arguments` or `parameters`) holds the
/// arguments, which stream as their JSON text arrives. Whatever surrounds the objects (tags,
/// brackets) is the syntax's and is not reported.
#[derive(Default)]
pub struct CallReader {
    text: String,
    /// Per call announced: how much of its arguments' text has been handed out.
    sent: Vec<usize>,
}

impl CallReader {
    /// Adds text; returns the deltas it completes.
    pub fn push(&mut self, text: &str) -> Vec<CallDelta> {
        self.text.push_str(text);
        let mut out = Vec::new();
        for (index, (name, args)) in scan_calls(&self.text).into_iter().enumerate() {
            let Some((name, args)) = name.zip(args) else { break };
            if index == self.sent.len() {
                self.sent.push(0);
                out.push(CallDelta { index, name: Some(name), arguments: String::new() });
            }
            let sent = &mut self.sent[index];
            if args.len() > *sent {
                let piece = args[*sent..].to_string();
                *sent = args.len();
                match out.last_mut() {
                    Some(d) if d.index == index => d.arguments += &piece,
                    _ => out.push(CallDelta { index, name: None, arguments: piece }),
                }
            }
        }
        out
    }

    /// The calls read so far: (name, arguments' JSON text).
    pub fn calls(&self) -> Vec<(String, String)> {
        scan_calls(&self.text).into_iter().filter_map(|(n, a)| n.zip(a)).map(|(n, a)| (n, a.to_string())).collect()
    }
}

/// The call objects in `text`: each one's name (once complete) and as much of its arguments'
/// text as has arrived (ending where the arguments' value ends).
fn scan_calls(text: &str) -> Vec<(Option<String>, Option<&str>)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(at) = text[rest..].find("{\"name\"") {
        let start = rest + at;
        let obj = &text[start..];
        // `{"name": "f", "arguments": ` with or without spaces.
        let after_key = obj["{\"name\"".len()..].trim_start();
        let Some(after_colon) = after_key.strip_prefix(':') else { break };
        let value = after_colon.trim_start();
        let Some(name_len) = json_string_len(value) else {
            out.push((None, None));
            break;
        };
        let name: Option<String> = serde_json::from_str(&value[..name_len]).ok();
        let tail = value[name_len..].trim_start();
        let Some(tail) = tail.strip_prefix(',') else {
            out.push((name, None));
            break;
        };
        let tail = tail.trim_start();
        let key = ["\"arguments\"", "\"parameters\""].into_iter().find(|k| tail.starts_with(k));
        let Some(key) = key else {
            out.push((name, None));
            break;
        };
        let Some(args_text) = tail[key.len()..].trim_start().strip_prefix(':') else {
            out.push((name, None));
            break;
        };
        let args_text = args_text.trim_start();
        let args_start = text.len() - args_text.len();
        let end = json_value_len(args_text);
        out.push((name, Some(&text[args_start..args_start + end.unwrap_or(args_text.len())])));
        match end {
            Some(n) => rest = args_start + n,
            None => break,
        }
    }
    out
}

/// The length of the JSON string at the start of `s`, once it is complete.
fn json_string_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The length of the JSON value at the start of `s`, once it is complete (objects and arrays by
/// their brackets, outside strings; scalars up to the next delimiter).
fn json_value_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    match b.first()? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'"' => i += json_string_len(&s[i..])? - 1,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        b'"' => json_string_len(s),
        _ => s.find([',', '}', ']']),
    }
}
