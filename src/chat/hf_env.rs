//! The Jinja environment HF's `apply_chat_template` renders in, rebuilt in minijinja: the same
//! whitespace control (`trim_blocks`, `lstrip_blocks`), the globals HF adds (`raise_exception`,
//! `strftime_now`), Python's string and dict methods (`.strip()`, `.startswith()`, `.items()`),
//! Python's idea of whitespace where templates strip or split, and Python's way of printing
//! `True`, `False` and `None`.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State};

use super::strftime::{strftime, unix_now};

/// Python's `str.isspace`, which `str.strip()` and Jinja's `trim` go by: Rust's whitespace plus
/// the four ASCII separators U+001C..U+001F.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip(chars)`: `chars` is a set of characters, and without it, whitespace.
pub fn py_strip<'a>(s: &'a str, chars: Option<&str>, start: bool, end: bool) -> &'a str {
    let strip = |c: char| chars.map_or_else(|| is_py_space(c), |set| set.contains(c));
    let s = if start { s.trim_start_matches(strip) } else { s };
    if end { s.trim_end_matches(strip) } else { s }
}

/// HF's syntax: the default delimiters with `trim_blocks` and `lstrip_blocks`.
pub fn syntax() -> SyntaxConfig {
    SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().expect("the default delimiters")
}

/// A fresh environment with `fuel` steps to spend, and `+` bounded (`bounded`). Templates are
/// compiled with [`syntax`] by `bounded::compile`, not by the environment.
pub fn environment<'s>(fuel: u64) -> Environment<'s> {
    let mut env = Environment::new();
    env.set_fuel(Some(fuel));
    super::bounded::install(&mut env);
    env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_function("strftime_now", |format: String| strftime(&format, unix_now()));
    env.add_filter("trim", |s: String, chars: Option<String>| py_strip(&s, chars.as_deref(), true, true).to_string());
    env.set_unknown_method_callback(python_methods);
    env.set_formatter(python_print);
    env
}

/// `{{ x }}` as Jinja2 writes it: `str(x)`, so `True`, `False` and `None` (minijinja writes
/// `true`, `false` and nothing).
fn python_print(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let text = match value.kind() {
        ValueKind::Bool if value.is_true() => "True",
        ValueKind::Bool => "False",
        ValueKind::None => "None",
        _ => return minijinja::escape_formatter(out, state, value),
    };
    out.write_str(text).map_err(|_| Error::new(ErrorKind::WriteFailure, "the rendered prompt could not be written"))
}

/// minijinja-contrib's Python methods, with `strip`, `lstrip`, `rstrip` and `split()` on Python's
/// whitespace.
fn python_methods(state: &mut State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let (Some(s), [] | [_]) = (value.as_str(), args) else {
        return minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args);
    };
    // No argument or None: whitespace. A string: its characters (strip) or the separator (split).
    let arg = args.first().filter(|a| !a.is_none());
    match (method, arg.map(|a| a.as_str())) {
        ("split", None) => Ok(s.split(is_py_space).filter(|w| !w.is_empty()).map(Value::from).collect()),
        ("strip", None | Some(Some(_))) => Ok(Value::from(py_strip(s, arg.and_then(Value::as_str), true, true))),
        ("lstrip", None | Some(Some(_))) => Ok(Value::from(py_strip(s, arg.and_then(Value::as_str), true, false))),
        ("rstrip", None | Some(Some(_))) => Ok(Value::from(py_strip(s, arg.and_then(Value::as_str), false, true))),
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}
