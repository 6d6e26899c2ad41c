//! Rendering a template from a file with bounded memory.
//!
//! minijinja's fuel charges for every instruction and for every byte and list slot a template
//! creates, so one budget bounds both time and memory (`tests/template_bombs.rs`: ten string and
//! list bombs end in a typed error within 2 s with the heap growing by at most 60 MB). One gap
//! remains in minijinja 3.1: `list + list` is lazy, and once a chain of such sums is more than 32
//! deep it is copied into one list *without* charging fuel, so `{% set ns.l = ns.l + ns.l %}` in a
//! loop of 34 materializes 2^34 items and runs out of memory instead of fuel.
//!
//! So each `+` of the compiled template calls [`bounded_add`] instead of minijinja's own addition:
//! two lists are joined eagerly, refused past [`MAX_LIST_ITEMS`], and the result, like every
//! function's result, is charged to the fuel by minijinja. Anything else is added by minijinja's own
//! `+` (its exact semantics: numbers, strings, undefined), evaluated in a tiny environment of its
//! own. The instruction is swapped in place, one for one, so every jump stays where it was.

use std::sync::Arc;

use minijinja::machinery::{self, CompiledTemplate, Instruction, Instructions, TemplateConfig};
use minijinja::value::{Value, ValueKind};
use minijinja::{context, AutoEscape, Environment, Error, ErrorKind};

/// The global that `+` becomes. Its name cannot be written in a template by accident.
const ADD: &str = "__bitnet_web_bounded_add";

/// The longest list `+` may build: a chat has far fewer messages (24 bytes a slot: 6 MB).
pub const MAX_LIST_ITEMS: usize = 1 << 18;

/// Registers [`bounded_add`] in `env`.
pub fn install(env: &mut Environment<'_>) {
    env.add_function(ADD, bounded_add);
}

/// `a + b` with the list case bounded (see the module doc).
fn bounded_add(a: Value, b: Value) -> Result<Value, Error> {
    let is_list = |v: &Value| matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) && !v.is_tuple();
    if is_list(&a) && is_list(&b) {
        let len = |v: &Value| v.len().unwrap_or(usize::MAX);
        if len(&a).saturating_add(len(&b)) > MAX_LIST_ITEMS {
            return Err(Error::new(ErrorKind::InvalidOperation, format!("a list longer than {MAX_LIST_ITEMS} items")));
        }
        return Ok(Value::from(a.try_iter()?.chain(b.try_iter()?).collect::<Vec<_>>()));
    }
    thread_local! {
        // minijinja's own `+`, for everything but two lists; fuel-free, but its result is charged
        // by the template's environment like any function's.
        static PLAIN: Environment<'static> = Environment::new();
    }
    PLAIN.with(|env| env.compile_expression("a + b")?.eval(context! { a => a, b => b }))
}

/// Compiles `source` with `syntax`, with every `+` bounded.
pub fn compile<'s>(source: &'s str, syntax: minijinja::syntax::SyntaxConfig) -> Result<CompiledTemplate<'s>, Error> {
    let config = TemplateConfig { syntax_config: syntax, default_auto_escape: Arc::new(|_| AutoEscape::None) };
    let mut compiled = CompiledTemplate::new("chat_template", source, &config)?;
    bound(&mut compiled.instructions);
    for block in compiled.blocks.values_mut() {
        bound(block);
    }
    Ok(compiled)
}

fn bound(instructions: &mut Instructions<'_>) {
    let mut i = 0;
    while let Some(instr) = instructions.get_mut(i) {
        if matches!(instr, Instruction::Add) {
            *instr = Instruction::CallFunction(ADD, Some(2));
        }
        i += 1;
    }
}

/// Renders a compiled template into a string.
pub fn render<'s>(env: &'s Environment<'s>, compiled: &CompiledTemplate<'s>, root: Value) -> Result<String, Error> {
    let mut out = String::with_capacity(compiled.buffer_size_hint);
    machinery::eval(env, &compiled.instructions, root, &compiled.blocks, &mut machinery::make_string_output(&mut out), AutoEscape::None)?;
    Ok(out)
}
