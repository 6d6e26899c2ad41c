//! The data flow is the folder layout (README, "Layout"): every `crate::` and `super::` path in
//! `src/` points down the floors `gguf` → `quant` → `weights` → `kernels` | `gpu` → `model` →
//! (`tokenizer`, `chat`, `sampler`, `constraint`) → `engine` → `web`, and no two files import
//! each other, directly or around a longer circle. Read from the source text: a path in a comment
//! does not count, a `use` inside a function does. The tree before `src/weights/` existed failed
//! here (`quant/dense.rs` ↔ `quant/int8_rows.rs`).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A top-level module's floor; a path may only point to the same floor or a lower one.
fn floor(top: &str) -> Option<usize> {
    Some(match top {
        "gguf" => 0,
        "quant" => 1,
        "weights" => 2,
        "kernels" | "gpu" => 3,
        "model" => 4,
        "tokenizer" | "chat" | "sampler" | "constraint" => 5,
        "engine" => 6,
        "web" => 7,
        _ => return None,
    })
}

type Module = Vec<String>;

/// Every `.rs` file under `dir` (the CLI in `src/bin` is a consumer, not a floor) as its module path.
fn modules(dir: &Path, prefix: &Module, out: &mut BTreeMap<Module, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && name != "bin" {
            modules(&path, &[prefix.clone(), vec![name]].concat(), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = if name == "mod" || name == "lib" { prefix.clone() } else { [prefix.clone(), vec![name]].concat() };
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The paths after each `anchor` in `text` (comments removed), as lists of identifiers.
fn paths_after<'a>(text: &'a str, anchor: &'a str) -> impl Iterator<Item = Vec<String>> + 'a {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).flat_map(move |line| {
        line.match_indices(anchor).map(move |(at, _)| {
            let rest = &line[at + anchor.len()..];
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            rest[..end].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect()
        })
    })
}

/// The longest prefix of `path` that is a module file.
fn resolve(path: &[String], mods: &BTreeMap<Module, String>) -> Option<Module> {
    (1..=path.len()).rev().map(|k| path[..k].to_vec()).find(|m| mods.contains_key(m))
}

fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let mut mods = BTreeMap::new();
    modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &Vec::new(), &mut mods);
    let mut graph = BTreeMap::new();
    for (m, text) in &mods {
        let parent = &m[..m.len().saturating_sub(1)];
        let mut deps: BTreeSet<Module> = paths_after(text, "crate::").filter_map(|p| resolve(&p, &mods)).collect();
        for p in paths_after(text, "super::") {
            deps.insert(resolve(&[parent.to_vec(), p].concat(), &mods).unwrap_or_else(|| parent.to_vec()));
        }
        deps.remove(m);
        graph.insert(m.clone(), deps);
    }
    graph
}

#[test]
fn no_arrow_points_back_up() {
    let graph = import_graph();
    assert!(graph.len() > 50, "read {} files", graph.len());
    let mut up = Vec::new();
    for (from, deps) in &graph {
        for to in deps {
            if let (Some(a), Some(b)) = (from.first().and_then(|t| floor(t)), to.first().and_then(|t| floor(t))) {
                if b > a {
                    up.push(format!("{} -> {}", from.join("/"), to.join("/")));
                }
            }
        }
    }
    assert!(up.is_empty(), "imports that point up the floors: {up:#?}");
}

#[test]
fn no_two_files_import_each_other_around_a_circle() {
    let graph = import_graph();
    // Whether `to` reaches `from` again: a circle through both.
    let reaches = |start: &Module, goal: &Module| {
        let (mut seen, mut todo) = (BTreeSet::new(), vec![start.clone()]);
        while let Some(m) = todo.pop() {
            if &m == goal {
                return true;
            }
            if seen.insert(m.clone()) {
                todo.extend(graph.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut circles = Vec::new();
    for (from, deps) in &graph {
        for to in deps {
            // A file's own parent module (`super::X` for an item of mod.rs) is where it is declared,
            // not a circle.
            let declares = |a: &Module, b: &Module| b.len() < a.len() && a[..b.len()] == b[..];
            if !declares(from, to) && !declares(to, from) && reaches(to, from) {
                circles.push(format!("{} -> {}", from.join("/"), to.join("/")));
            }
        }
    }
    assert!(circles.is_empty(), "imports on a circle: {circles:#?}");
}
