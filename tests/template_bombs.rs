//! A chat template is code from the file, so no template may make a render use unbounded memory
//! or time (issue 19: `{{ 'lorem ' * 5000000 }}` made the CLI abort at 3.5 GB). Each bomb here
//! must end in a typed error within 2 s, with the heap growing by less than 64 MB while it runs.
//! minijinja's fuel charges for every byte a template produces (strings built by `~`, `+`, `*`,
//! filters, captured blocks, list slots), so doubling a string or a list in a loop, through a
//! namespace or by recursion runs out of fuel long before it runs out of memory. A list added to
//! itself more than 32 deep, which minijinja 3.1 copies without charging fuel, is bounded by our
//! own `+` (src/chat/bounded.rs).
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, Instant};

use bitnet_web::chat::{ChatFormat, Message};

#[path = "common/heap.rs"]
mod heap;

const BOMBS: &[(&str, &str)] = &[
    ("repeat", "{{ 'lorem ' * 5000000 }}"),
    ("repeat, kept in a variable", "{% set s = 'lorem ' * 90000000 %}{{ s | length }}"),
    // A `set` inside a loop lasts one iteration (Jinja's scoping), so this one cannot grow; kept
    // as the shape people try first.
    ("doubling in a loop's scope", "{% set s = 'ab' %}{% for i in range(60) %}{% set s = s ~ s %}{{ s | length }}{% endfor %}"),
    ("doubling with + by recursion", "{% macro f(s, n) %}{% if n %}{{ f(s + s, n - 1) }}{% endif %}{% endmacro %}{{ f('ab', 60) }}"),
    (
        "doubling through a namespace",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    ),
    (
        "a list doubling through a namespace",
        "{% set ns = namespace(l=[1, 2]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
    ),
    ("a list doubling by recursion", "{% macro f(l, n) %}{% if n %}{{ f(l + l, n - 1) }}{% else %}{{ l | length }}{% endif %}{% endmacro %}{{ f([1, 2], 60) }}"),
    ("a list of strings doubling, then joined", "{% set ns = namespace(l=['lorem ipsum']) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | join(' ') }}"),
    ("doubling by recursion", "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s | length }}{% endif %}{% endmacro %}{{ f('ab', 60) }}"),
    ("a captured block doubling", "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set t %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = t %}{% endfor %}{{ ns.s | length }}"),
    ("join of a doubled list", "{% set ns = namespace(l=['lorem']) %}{% for i in range(40) %}{% set ns.l = ns.l * 2 %}{% endfor %}{{ ns.l | join(' ') }}"),
    ("replace growing a string", "{% set ns = namespace(s='aa') %}{% for i in range(60) %}{% set ns.s = ns.s | replace('a', 'aa') %}{% endfor %}{{ ns.s | length }}"),
    ("an endless loop", "{% for i in range(1000000000) %}{{ i }}{% endfor %}"),
];

#[test]
fn template_bombs_end_in_a_typed_error_with_bounded_memory_and_time() {
    let only = std::env::var("BOMB").ok();
    for (name, source) in BOMBS.iter().filter(|(n, _)| only.as_deref().is_none_or(|o| n.contains(o))) {
        let format = ChatFormat::Template { source: (*source).into(), bos: String::new(), eos: String::new() };
        let messages = [Message::new("user", "hi")];
        let t0 = Instant::now();
        let (result, growth) = heap::growth(|| format.render(&messages, true));
        let took = t0.elapsed();
        eprintln!("{name}: {:.0} ms, peak heap growth {:.1} MB: {:?}", took.as_secs_f64() * 1e3, growth as f64 / 1e6, result.as_ref().err());
        if let Ok(out) = &result {
            assert!(out.len() < 1 << 20, "{name}: rendered {} bytes", out.len());
        }
        assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
        assert!(growth < 64 << 20, "{name}: the heap grew by {growth} bytes");
    }
}

#[test]
fn ordinary_templates_still_render() {
    // A template that builds its prompt through a namespace, as several HF templates do.
    let source = "{% set ns = namespace(p='') %}{% for m in messages %}{% set ns.p = ns.p ~ '<|' ~ m.role ~ '|>' ~ m.content %}{% endfor %}{{ ns.p }}";
    let format = ChatFormat::Template { source: source.into(), bos: String::new(), eos: String::new() };
    let long = "word ".repeat(200_000);
    let out = format.render(&[Message::new("system", "be brief"), Message::new("user", &long)], true).unwrap();
    assert_eq!(out, format!("<|system|>be brief<|user|>{long}"));
}

/// The header refuses templates longer than `MAX_TEMPLATE_BYTES` (a 15 MB one made the CLI peak at
/// 2 GB while it compiled). The largest one it accepts, in the shapes that compile to the most
/// instructions per byte, renders (or runs out of fuel) within the bombs' bounds. Measured on the
/// 2-core VM (2026-12-06): at most 14 ms and 6.3 MB of heap (a list literal repeated).
#[test]
fn the_largest_template_the_header_accepts_stays_within_the_bombs_bounds() {
    use bitnet_web::chat::MAX_TEMPLATE_BYTES;
    let filled = |unit: &str| unit.repeat(MAX_TEMPLATE_BYTES / unit.len()) + &" ".repeat(MAX_TEMPLATE_BYTES % unit.len());
    let shapes = [
        ("outputs", filled("{{ 'x' }}")),
        ("conditions", filled("{% if m %}{% endif %}")),
        ("lookups", filled("{{ messages[0].role }}")),
        ("list literals", filled("{% set l = [1, 2, 3] %}")),
        ("one long literal", format!("{{{{ '{}' }}}}", "x".repeat(MAX_TEMPLATE_BYTES - 8))),
    ];
    for (name, source) in shapes {
        assert_eq!(source.len(), MAX_TEMPLATE_BYTES, "{name}");
        let format = ChatFormat::Template { source, bos: String::new(), eos: String::new() };
        let t0 = Instant::now();
        let (result, growth) = heap::growth(|| format.render(&[Message::new("user", "hi")], true));
        let took = t0.elapsed();
        eprintln!("{name}: {:.0} ms, peak heap growth {:.1} MB: {:?}", took.as_secs_f64() * 1e3, growth as f64 / 1e6, result.as_ref().err());
        assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
        assert!(growth < 64 << 20, "{name}: the heap grew by {growth} bytes");
    }
}
