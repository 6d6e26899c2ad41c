//! Tool calls on the models we have, in every syntax the runtime writes (our own `<tool_call>` tags
//! on the 2B4T format, Llama 3.1's bare JSON and Falcon3's list, through their official
//! templates): under `required` and a named tool, greedy and sampled, the answer is a call of a
//! given tool whose arguments validate against its schema (checked by structured.rs's own
//! validator, not the grammar engine); the calls read piece by piece as they stream are the calls
//! read from the whole answer; `auto` takes up a call when the first token opens one and answers
//! text otherwise; bad tools and turns are refused before the prompt runs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common::EVERY_MODEL;
use crate::structured::violations;

use bitnet_web::chat::tools::{CallReader, ToolError, Tools};
use bitnet_web::chat::{ChatFormat, Message};
use bitnet_web::engine::{Engine, EngineError, EngineOptions, FinishReason, GenerateParams, Prompt};
use bitnet_web::sampler::SamplerParams;
use serde_json::{Value, json};

fn tools() -> Value {
    json!([
        { "type": "function", "function": { "name": "get_weather", "description": "Weather in a city.", "parameters": {
            "type": "object",
            "properties": { "city": { "type": "string", "maxLength": 20 }, "unit": { "enum": ["celsius", "fahrenheit"] }, "days": { "type": "integer", "minimum": 1, "maximum": 7 } },
            "required": ["city", "unit"],
            "additionalProperties": false } } },
        { "type": "function", "function": { "name": "add", "description": "Adds numbers.", "parameters": {
            "type": "object",
            "properties": { "a": { "type": "number", "minimum": -1000, "maximum": 1000 }, "b": { "type": "number", "minimum": -1000, "maximum": 1000 } },
            "required": ["a", "b"],
            "additionalProperties": false } } },
    ])
}

fn schema_of(name: &str) -> Value {
    tools().as_array().unwrap().iter().find(|t| t["function"]["name"] == name).unwrap()["function"]["parameters"].clone()
}

/// The chat formats whose call syntaxes differ: built-in 2B4T (ours), Llama 3.1, Falcon3.
fn formats() -> Vec<(&'static str, ChatFormat)> {
    let template = |source: &str, bos: &str, eos: &str| ChatFormat::Template { source: source.into(), bos: bos.into(), eos: eos.into() };
    vec![
        ("2b4t (ours)", ChatFormat::Bitnet2B4T),
        ("llama3.1", template(include_str!("../fixtures/templates/llama3_1.jinja"), "<|begin_of_text|>", "<|eot_id|>")),
        ("falcon3", template(include_str!("../fixtures/templates/falcon3.jinja"), "", "<|endoftext|>")),
    ]
}

/// The tool prompts are longer than the embedded model's 256-token training context.
fn wide() -> EngineOptions {
    EngineOptions { max_context: 2048, ..Default::default() }
}

fn samplers() -> Vec<SamplerParams> {
    let hot = |seed| SamplerParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..SamplerParams::default() };
    vec![SamplerParams::greedy(), hot(1), hot(2)]
}

struct Answer {
    text: String,
    calling: bool,
    finish: FinishReason,
    /// The calls read piece by piece, as the package streams them: (name, arguments) per index.
    streamed: Vec<(String, String)>,
}

fn run(engine: &mut Engine, tools: &Tools, sampler: SamplerParams) -> Answer {
    let messages = vec![Message::new("system", "You are helpful."), Message::new("user", "What is the weather in Paris? And 2 + 3?")];
    let calls = engine.tool_calls(tools).expect("a call may be made");
    let params = GenerateParams { max_tokens: 600, sampler, tool_calls: Some(calls), ..Default::default() };
    let mut g = engine.begin(&Prompt::ChatWithTools(messages, Box::new(tools.clone())), params).unwrap();
    let mut reader = CallReader::default();
    let mut streamed: Vec<(String, String)> = Vec::new();
    while let Some(piece) = engine.step(&mut g).unwrap() {
        for d in reader.push(&piece.text) {
            if let Some(name) = d.name {
                assert_eq!(d.index, streamed.len(), "calls are announced in order");
                streamed.push((name, String::new()));
            }
            streamed[d.index].1 += &d.arguments;
        }
    }
    Answer { text: g.text().to_string(), calling: g.calling(), finish: g.finish_reason().unwrap(), streamed }
}

fn check_calls(label: &str, a: &Answer, only: Option<&str>) {
    assert!(a.calling, "{label}: the answer is a call: {}", a.text);
    assert_eq!(a.finish, FinishReason::Stop, "{label}: the call is complete: {}", a.text);
    let mut whole = CallReader::default();
    whole.push(&a.text);
    let calls = whole.calls();
    assert!(!calls.is_empty(), "{label}: no call in {:?}", a.text);
    assert_eq!(a.streamed, calls, "{label}: the streamed calls are the whole answer's");
    for (name, args) in &calls {
        if let Some(n) = only {
            assert_eq!(name, n, "{label}");
        }
        let v: Value = serde_json::from_str(args).unwrap_or_else(|e| panic!("{label}: {e}: {args}"));
        let mut wrong = Vec::new();
        violations(&v, &schema_of(name), "$", &mut wrong);
        assert!(wrong.is_empty(), "{label}: {args}: {wrong:?}");
    }
}

#[test]
fn required_and_named_calls_are_valid_calls_in_every_syntax_greedy_and_sampled() {
    // One call an answer: a random model asked for a list of calls goes on listing them.
    let required = Tools::from_openai(&tools(), Some(&json!("required")), Some(false)).unwrap();
    let named = Tools::from_openai(&tools(), Some(&json!({ "type": "function", "function": { "name": "add" } })), None).unwrap();
    let mut n = 0;
    for path in [EVERY_MODEL[0], EVERY_MODEL[3], EVERY_MODEL[7]] {
        let mut engine = Engine::load(&std::fs::read(path).unwrap(), wide()).unwrap();
        for (format, chat) in formats() {
            engine.chat = chat;
            for sampler in samplers() {
                let label = format!("{path} / {format} / seed {} t {}", sampler.seed, sampler.temperature);
                check_calls(&format!("{label} / required"), &run(&mut engine, &required, sampler.clone()), None);
                check_calls(&format!("{label} / add"), &run(&mut engine, &named, sampler), Some("add"));
                n += 2;
            }
        }
    }
    assert_eq!(n, 3 * 3 * 3 * 2);
}

#[test]
fn auto_takes_up_a_call_only_when_the_first_token_opens_one() {
    let auto = Tools::from_openai(&tools(), None, Some(false)).unwrap();
    let mut engine = Engine::load(&std::fs::read(EVERY_MODEL[0]).unwrap(), wide()).unwrap();
    // The first token forced by logit_bias: "<" opens `<tool_call>` in our syntax; "Hello" does not.
    let id = |engine: &Engine, text: &str| engine.tokenizer.encode(text, false)[0];
    let lt = id(&engine, "<");
    let hello = id(&engine, "Hello");
    let forced = |t: u32| SamplerParams { logit_bias: vec![(t, 100.0)], ..SamplerParams::greedy() };
    let call = run(&mut engine, &auto, forced(lt));
    check_calls("auto, opened", &call, None);
    let text = run(&mut engine, &auto, SamplerParams { logit_bias: vec![(hello, 100.0), (lt, -100.0)], ..SamplerParams::greedy() });
    let first = engine.tokenizer.decode(&[hello], false);
    assert!(!text.calling && text.streamed.is_empty() && text.text.starts_with(&first), "{}", text.text);
    // In Llama 3.1's syntax a call opens with "{".
    engine.chat = formats().remove(1).1;
    let brace = id(&engine, "{");
    check_calls("auto, llama", &run(&mut engine, &auto, forced(brace)), None);
}

#[test]
fn the_call_reader_streams_what_the_whole_text_holds_in_every_syntax() {
    let texts = [
        r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Pa\"ris}", "unit": "celsius"}}</tool_call>
<tool_call>{"name": "add", "arguments": {"a": 2, "b": [3, {"c": "}"}]}}</tool_call>"#,
        r#"{"name": "add", "parameters": {"a": 1.5, "b": -2}}"#,
        "<tool_call>\n[\n  {\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}},\n  {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich 🌧\", \"unit\": \"celsius\"}}\n]\n</tool_call>",
    ];
    for text in texts {
        let mut whole = CallReader::default();
        whole.push(text);
        let calls = whole.calls();
        assert!(!calls.is_empty());
        for (_, args) in &calls {
            serde_json::from_str::<Value>(args).unwrap();
        }
        // Every split into pieces (at char boundaries) streams the same calls.
        for step in 1..7 {
            let chars: Vec<char> = text.chars().collect();
            let mut reader = CallReader::default();
            let mut got: Vec<(String, String)> = Vec::new();
            for piece in chars.chunks(step) {
                for d in reader.push(&piece.iter().collect::<String>()) {
                    if let Some(name) = d.name {
                        got.push((name, String::new()));
                    }
                    got[d.index].1 += &d.arguments;
                }
            }
            assert_eq!(got, calls, "{text:?} in pieces of {step}");
        }
    }
}

#[test]
fn bad_tools_and_turns_are_refused_before_the_prompt_runs() {
    let bad = |t: Value, c: Option<Value>| Tools::from_openai(&t, c.as_ref(), None).unwrap_err();
    assert!(matches!(bad(json!([{ "type": "retrieval" }]), None), ToolError::BadTools(_)));
    assert!(matches!(bad(json!([{ "type": "function", "function": { "name": "a b" } }]), None), ToolError::BadTools(_)));
    assert!(matches!(bad(json!([{ "type": "function", "function": { "name": "f", "parameters": 3 } }]), None), ToolError::BadTools(_)));
    let unknown = bad(tools(), Some(json!({ "type": "function", "function": { "name": "nope" } })));
    assert!(unknown.to_string().contains("\"nope\", which is not one of `tools`"), "{unknown}");
    assert!(matches!(bad(tools(), Some(json!("sometimes"))), ToolError::BadChoice(_)));
    let mut engine = Engine::load(&std::fs::read(EVERY_MODEL[0]).unwrap(), wide()).unwrap();
    let orphan = Message { tool_call_id: Some("call_9".into()), ..Message::new("tool", "42") };
    let prompt = Prompt::ChatWithTools(vec![Message::new("user", "hi"), orphan], Box::new(Tools::from_openai(&tools(), None, None).unwrap()));
    let err = engine.begin(&prompt, GenerateParams::default()).err().expect("a tool answer with no call");
    assert!(matches!(&err, EngineError::Tool(ToolError::BadMessage(m)) if m.contains("call_9")), "{err:?}");
    assert_eq!(engine.stats().prompt_tokens, 0, "the prompt did not run");
}

#[test]
fn parallel_calls_are_listed_up_to_eight() {
    let parallel = Tools::from_openai(&tools(), Some(&json!("required")), None).unwrap();
    let mut engine = Engine::load(&std::fs::read(EVERY_MODEL[0]).unwrap(), wide()).unwrap();
    let mut most = 0;
    for (format, chat) in formats().into_iter().filter(|(f, _)| *f != "llama3.1") {
        engine.chat = chat;
        let a = run(&mut engine, &parallel, SamplerParams::greedy());
        check_calls(format, &a, None);
        let n = a.streamed.len();
        assert!(n <= bitnet_web::chat::tools::MAX_CALLS, "{format}: {n} calls: {}", a.text);
        most = most.max(n);
    }
    // Greedy, this model lists Falcon3's calls until the grammar allows no more (without the cap
    // it listed them until max_tokens), and closes the list.
    assert_eq!(most, bitnet_web::chat::tools::MAX_CALLS);
}
