//! Structured output on every model we have (the embedded model and the seven HF reference
//! models): the answer to a `json_schema` request, greedy and sampled, is complete, parses, and
//! validates against the schema; a `json_object` request gives an object. The validator here is a
//! small JSON Schema checker of its own (the keywords the schemas use), not the grammar engine's.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::ops::ControlFlow;

use bitnet_web::chat::Message;
use bitnet_web::constraint::{ConstraintError, ResponseFormat};
use bitnet_web::engine::{Engine, EngineError, EngineOptions, FinishReason, GenerateParams, Prompt};
use bitnet_web::sampler::SamplerParams;
use serde_json::{Value, json};

use common::EVERY_MODEL as MODELS;

/// Nested objects, an array of objects, enums, integers and numbers with bounds, booleans,
/// strings with a length limit, an optional property.
fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "integer", "minimum": 0, "maximum": 999 },
            "score": { "type": "number", "minimum": -5, "maximum": 5 },
            "color": { "enum": ["red", "green", "blue"] },
            "point": {
                "type": "object",
                "properties": {
                    "x": { "type": "integer", "minimum": -100, "maximum": 100 },
                    "y": { "type": "number", "minimum": 0, "maximum": 1000 }
                },
                "required": ["x", "y"],
                "additionalProperties": false
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "maxLength": 8 },
                        "done": { "type": "boolean" },
                        "size": { "enum": [1, 2, 3] }
                    },
                    "required": ["name", "done"],
                    "additionalProperties": false
                },
                "minItems": 1,
                "maxItems": 3
            }
        },
        "required": ["id", "score", "color", "point", "items"],
        "additionalProperties": false
    })
}

/// Checks `v` against the keywords `schema()` uses; returns what is wrong.
pub(crate) fn violations(v: &Value, s: &Value, at: &str, out: &mut Vec<String>) {
    let mut bad = |m: String| out.push(format!("{at}: {m}"));
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.iter().any(|o| o == v || (o.is_number() && v.as_f64() == o.as_f64())) {
            bad(format!("{v} is not one of {options:?}"));
        }
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    match s.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(o) = v.as_object() else { return bad(format!("{v} is not an object")) };
            let props = s.get("properties").and_then(Value::as_object);
            for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
                if !o.contains_key(r.as_str().unwrap()) {
                    bad(format!("{r} is missing"));
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => violations(x, ps, &format!("{at}.{k}"), out),
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => out.push(format!("{at}: extra property {k}")),
                    None => {}
                }
            }
        }
        Some("array") => {
            let Some(a) = v.as_array() else { return bad(format!("{v} is not an array")) };
            if num("minItems").is_some_and(|m| (a.len() as f64) < m) || num("maxItems").is_some_and(|m| a.len() as f64 > m) {
                bad(format!("{} items", a.len()));
            }
            for (i, x) in a.iter().enumerate() {
                violations(x, &s["items"], &format!("{at}[{i}]"), out);
            }
        }
        Some("integer") | Some("number") => {
            let Some(x) = v.as_f64() else { return bad(format!("{v} is not a number")) };
            if s["type"] == "integer" && !(v.is_i64() || v.is_u64()) {
                bad(format!("{v} is not an integer"));
            }
            if num("minimum").is_some_and(|m| x < m) || num("maximum").is_some_and(|m| x > m) {
                bad(format!("{x} is out of range"));
            }
        }
        Some("string") => match v.as_str() {
            Some(t) if num("maxLength").is_some_and(|m| t.chars().count() as f64 > m) => bad(format!("{t:?} is too long")),
            Some(_) => {}
            None => bad(format!("{v} is not a string")),
        },
        Some("boolean") if !v.is_boolean() => bad(format!("{v} is not a boolean")),
        _ => {}
    }
}

fn ask(engine: &mut Engine, format: ResponseFormat, sampler: SamplerParams) -> (String, FinishReason) {
    let prompt = Prompt::Chat(vec![Message::new("user", "Describe a task list as JSON.")]);
    let params = GenerateParams { max_tokens: 400, sampler, response_format: format, ..Default::default() };
    let done = engine.generate(&prompt, params, |_| ControlFlow::Continue(())).unwrap();
    (done.text, done.finish_reason)
}

fn samplers() -> Vec<SamplerParams> {
    let hot = |seed| SamplerParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..SamplerParams::default() };
    vec![SamplerParams::greedy(), hot(1), hot(2)]
}

#[test]
fn json_schema_answers_parse_and_validate_on_every_model() {
    let schema = schema();
    for path in MODELS {
        let mut engine = Engine::load(&std::fs::read(path).unwrap(), EngineOptions::default()).unwrap();
        for sampler in samplers() {
            let (text, finish) = ask(&mut engine, ResponseFormat::JsonSchema(schema.clone()), sampler.clone());
            assert_eq!(finish, FinishReason::Stop, "{path} (seed {}, t {}): unfinished: {text}", sampler.seed, sampler.temperature);
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
            let mut wrong = Vec::new();
            violations(&v, &schema, "$", &mut wrong);
            assert!(wrong.is_empty(), "{path}: {text}\n{wrong:?}");
        }
    }
}

#[test]
fn json_object_answers_are_objects_on_every_model() {
    for path in MODELS {
        let mut engine = Engine::load(&std::fs::read(path).unwrap(), EngineOptions::default()).unwrap();
        for sampler in samplers() {
            let (text, finish) = ask(&mut engine, ResponseFormat::JsonObject, sampler);
            // A free-form object can legitimately run to max_tokens (a random model's long string);
            // what was generated is then a prefix of an object.
            assert!(text.starts_with('{'), "{path}: {text}");
            if finish == FinishReason::Stop {
                // Valid JSON, checked without converting numbers: an exponent may exceed f64's range
                // (a random model wrote `6666e666`), which JSON allows and serde_json's f64 does not.
                serde_json::from_str::<serde::de::IgnoredAny>(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
                assert!(text.ends_with('}'), "{path}: {text}");
            }
        }
    }
}

#[test]
fn a_number_stops_growing_after_16_digits_in_a_row() {
    // A bare number: without the cap the random models extend it until the context is full.
    let schema = json!({ "type": "object", "properties": { "n": { "type": "number" } }, "required": ["n"], "additionalProperties": false });
    for path in MODELS {
        let mut engine = Engine::load(&std::fs::read(path).unwrap(), EngineOptions::default()).unwrap();
        let (text, finish) = ask(&mut engine, ResponseFormat::JsonSchema(schema.clone()), SamplerParams::greedy());
        assert_eq!(finish, FinishReason::Stop, "{path}: {text}");
        let longest = text.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap();
        assert!(longest <= 16 + 2, "{path}: a run of {longest} digits: {text}");
    }
}

#[test]
fn bad_formats_and_schemas_are_refused_before_the_prompt_runs() {
    let bad = |v: Value| ResponseFormat::from_openai(&v).unwrap_err();
    assert!(matches!(bad(json!({ "type": "xml" })), ConstraintError::BadFormat(_)));
    assert!(matches!(bad(json!({ "type": "json_schema" })), ConstraintError::BadFormat(_)));
    assert!(matches!(bad(json!({ "type": "json_schema", "json_schema": { "schema": 3 } })), ConstraintError::BadFormat(_)));
    assert!(matches!(bad(json!({ "type": "json_schema", "json_schema": { "schema": {}, "other": 1 } })), ConstraintError::BadFormat(_)));
    assert_eq!(ResponseFormat::from_openai(&json!({ "type": "text" })).unwrap(), ResponseFormat::Text);
    let mut engine = Engine::load(&std::fs::read(MODELS[3]).unwrap(), EngineOptions::default()).unwrap();
    let prompt = Prompt::Chat(vec![Message::new("user", "hi")]);
    let unsatisfiable = json!({ "type": "object", "properties": { "a": { "$ref": "https://example.com/elsewhere.json" } }, "required": ["a"] });
    let params = GenerateParams { response_format: ResponseFormat::JsonSchema(unsatisfiable), ..Default::default() };
    let err = engine.begin(&prompt, params).err().expect("an external $ref cannot be enforced");
    assert!(matches!(err, EngineError::Constraint(ConstraintError::Schema(_))), "{err:?}");
    assert_eq!(engine.stats().prompt_tokens, 0, "the prompt did not run");
}
