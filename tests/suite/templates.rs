//! Chat templates rendered exactly as HF's `apply_chat_template` renders them: the official
//! templates of BitNet b1.58 2B4T, Falcon3-Instruct and Llama-3-Instruct on committed
//! conversations, Python's string methods, and `strftime_now`'s formatting, each against the output
//! of transformers and Python (tests/fixtures/make_template_cases.py). Runs natively and in
//! headless browsers.

use bitnet_web::chat::strftime::{strftime, unix_now};
use bitnet_web::chat::{ChatFormat, Message, Segment};
use serde_json::Value;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const CASES: &str = include_str!("../fixtures/template_cases.json");

fn template(name: &str) -> &'static str {
    match name {
        "2b4t" => include_str!("../fixtures/templates/2b4t.jinja"),
        "falcon3" => include_str!("../fixtures/templates/falcon3.jinja"),
        "llama3" => include_str!("../fixtures/templates/llama3.jinja"),
        other => panic!("no template {other}"),
    }
}

fn cases() -> Value {
    serde_json::from_str(CASES).unwrap()
}

fn messages(case: &Value) -> Vec<Message> {
    case["messages"].as_array().unwrap().iter().map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect()
}

fn format(source: &str, bos: &Value, eos: &Value) -> ChatFormat {
    ChatFormat::Template {
        source: source.into(),
        bos: bos.as_str().unwrap_or_default().into(),
        eos: eos.as_str().unwrap_or_default().into(),
    }
}

#[test]
fn official_templates_render_as_hf_does() {
    let doc = cases();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 3 * 12 * 2, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in cases {
        let name = c["template"].as_str().unwrap();
        let special = &doc["models"][name];
        let f = format(template(name), &special["bos"], &special["eos"]);
        let m = messages(c);
        let agp = c["add_generation_prompt"].as_bool().unwrap();
        let want = c["expected"].as_str().unwrap();
        let label = format!("{name}/{}/agp={agp}", c["conversation"].as_str().unwrap());
        match f.render(&m, agp) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{label}:\n  got  {got:?}\n  want {want:?}")),
            Err(e) => failures.push(format!("{label}: {e}")),
        }
        // The pieces the engine tokenizes are the same text, message text apart from markup.
        match f.segments(&m, agp) {
            Ok(segs) => {
                assert_eq!(segs.iter().map(Segment::as_str).collect::<String>(), want, "{label}: segments");
                for s in segs.iter().filter_map(|s| if let Segment::Text(t) = s { Some(t) } else { None }) {
                    assert!(m.iter().any(|msg| msg.content.contains(s.as_str())), "{label}: text {s:?} is not a message's");
                }
            }
            Err(e) => failures.push(format!("{label}: segments: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn python_methods_and_whitespace_control_match_jinja2() {
    let doc = cases();
    let methods = &doc["methods"];
    let f = format(methods["template"].as_str().unwrap(), &methods["bos"], &methods["eos"]);
    for c in methods["cases"].as_array().unwrap() {
        let got = f.render(&messages(c), false).unwrap();
        assert_eq!(got, c["expected"].as_str().unwrap(), "{}", c["conversation"]);
    }
}

#[test]
fn strftime_matches_python() {
    for c in cases()["strftime"].as_array().unwrap() {
        let (fmt, unix) = (c["format"].as_str().unwrap(), c["unix"].as_i64().unwrap());
        assert_eq!(strftime(fmt, unix), c["expected"].as_str().unwrap(), "{fmt:?} at {unix}");
    }
}

#[test]
fn strftime_now_is_the_current_utc_date() {
    let f = ChatFormat::Template { source: "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y') }}".into(), bos: String::new(), eos: String::new() };
    let before = unix_now();
    let got = f.render(&[], false).unwrap();
    let after = unix_now();
    let want = |t| format!("{}|{}", strftime("%d %b %Y", t), strftime("%Y", t));
    assert!(got == want(before) || got == want(after), "{got:?}");
    assert!(before > 1_700_000_000, "the clock reads {before}");
}

#[test]
fn raise_exception_is_a_template_error() {
    let f = ChatFormat::Template {
        source: "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with a user turn') }}{% endif %}".into(),
        bos: String::new(),
        eos: String::new(),
    };
    let err = f.render(&[Message::new("assistant", "hi")], false).unwrap_err();
    assert!(err.to_string().contains("Conversation must start with a user turn"), "{err}");
    assert_eq!(f.render(&[Message::new("user", "hi")], false).unwrap(), "");
}

/// The request's tools, and conversations with calls made and answered, rendered by the official
/// templates that take tools (Llama 3.1 Instruct, Falcon3 Instruct) exactly as HF renders them
/// (tests/fixtures/make_tool_template_cases.py): HF's `tojson` (Python's `json.dumps`, indented or
/// not), calls with `content: None`, tool answers, and the template's own errors.
#[test]
fn official_templates_render_tools_as_hf_does() {
    let doc: Value = serde_json::from_str(include_str!("../fixtures/tool_template_cases.json")).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 2 * 12 * 2, "{} cases", cases.len());
    let source = |name: &str| match name {
        "llama3_1" => include_str!("../fixtures/templates/llama3_1.jinja"),
        "falcon3" => include_str!("../fixtures/templates/falcon3.jinja"),
        other => panic!("no template {other}"),
    };
    let mut failures = Vec::new();
    let mut rendered = 0;
    for c in cases {
        let name = c["template"].as_str().unwrap();
        let special = &doc["models"][name];
        let f = format(source(name), &special["bos"], &special["eos"]);
        let agp = c["add_generation_prompt"].as_bool().unwrap();
        let label = format!("{name}/{}/agp={agp}", c["conversation"].as_str().unwrap());
        let m: Vec<Message> = c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, m)| Message {
                role: m["role"].as_str().unwrap().into(),
                content: m["content"].as_str().unwrap_or_default().into(),
                tool_calls: m.get("tool_calls").map(|t| bitnet_web::chat::tools::normalize_calls(t, &format!("messages[{i}]")).unwrap()),
                tool_call_id: m.get("tool_call_id").and_then(Value::as_str).map(Into::into),
            })
            .collect();
        let tools = &c["tools"];
        match (f.render_with(&m, Some(tools), agp), c.get("expected").and_then(Value::as_str)) {
            (Ok(got), Some(want)) if got == want => {
                rendered += 1;
                let segs = f.segments_with(&m, Some(tools), agp).map_err(|e| format!("{label}: segments: {e}"));
                match segs {
                    Ok(segs) => assert_eq!(segs.iter().map(Segment::as_str).collect::<String>(), want, "{label}: segments"),
                    Err(e) => failures.push(e),
                }
            }
            (Ok(got), Some(want)) => failures.push(format!("{label}:\n  got  {got:?}\n  want {want:?}")),
            (Err(e), None) if e.to_string().contains(c["error"].as_str().unwrap()) => {}
            (got, _) => failures.push(format!("{label}: got {got:?}, HF: {:?}", c.get("error"))),
        }
    }
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(rendered >= 40, "{rendered} renderings compared");
}
