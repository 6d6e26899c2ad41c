//! The Jinja environment HF's `apply_chat_template` renders in, rebuilt in minijinja: the same
//! whitespace control (`trim_blocks`, `lstrip_blocks`), the globals HF adds (`raise_exception`,
//! `strftime_now`), Python's string and dict methods (`.strip()`, `.startswith()`, `.items()`),
//! Python's idea of whitespace where templates strip or split, and Python's way of printing
//! `True`, `False` and `None`.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Value, ValueKind};
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
    env.add_filter("tojson", tojson);
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

/// HF's `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys)`, not
/// minijinja's (which escapes `<`, `>`, `&` and `'` for HTML and writes no spaces).
fn tojson(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut json = serde_json::to_value(&value).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    if sort_keys == Some(true) {
        json.sort_all_objects();
    }
    Ok(py_dumps(&json, indent))
}

/// Python's `json.dumps(v, ensure_ascii=False, indent=indent)`: keys in their order, `", "` and
/// `": "` between items (`","` and a new line under `indent`), floats as Python's `repr`.
pub fn py_dumps(v: &serde_json::Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    dump(&mut out, v, indent, 0);
    out
}

fn dump(out: &mut String, v: &serde_json::Value, indent: Option<usize>, depth: usize) {
    use serde_json::Value as J;
    let open = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let sep = if indent.is_some() { "," } else { ", " };
    match v {
        J::Object(m) if m.is_empty() => out.push_str("{}"),
        J::Array(a) if a.is_empty() => out.push_str("[]"),
        J::Object(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                open(out, depth + 1);
                out.push_str(&J::String(k.clone()).to_string());
                out.push_str(": ");
                dump(out, v, indent, depth + 1);
            }
            open(out, depth);
            out.push('}');
        }
        J::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                open(out, depth + 1);
                dump(out, v, indent, depth + 1);
            }
            open(out, depth);
            out.push(']');
        }
        J::Number(n) if n.is_f64() => out.push_str(&py_float(n.as_f64().unwrap_or(0.0))),
        other => out.push_str(&other.to_string()),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional for exponents from −4
/// to 15 (always with a fraction), else `d.ddde±XX`.
pub fn py_float(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() { "NaN".into() } else if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let frac = &digits[1..];
        let m = if frac.is_empty() { digits[..1].to_string() } else { format!("{}.{frac}", &digits[..1]) };
        format!("{sign}{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}
