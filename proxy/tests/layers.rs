//! The proxy's layering, checked on its own source: nothing below `http/` imports it,
//! and no module (file) depends on itself through others. A module's dependencies are
//! the paths its code names (`crate::…`, `super::…`, and its own children), comments
//! and unit tests left out.

// A test: a source file that cannot be read fails it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `src`, as its module path (`lib.rs` and `main.rs` are the
/// roots, `x/mod.rs` is `x`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let mut module = prefix.to_vec();
            if path.is_dir() {
                module.push(name);
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                match name.as_str() {
                    "mod" | "lib" => {}
                    "main" => module.push("main".into()),
                    _ => module.push(name),
                }
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The code of a file without comments and without its `mod tests`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// Paths named in `code`, each as the segments after its anchor: `crate::a::b` gives
/// (`crate`, [a, b]); `super::x`, (`super`, [x]); a bare `child::x`, (`child`, …).
/// Grouped imports (`use crate::a::{b, c::d}`) give one path per leaf.
fn named_paths(code: &str) -> Vec<(String, Vec<String>)> {
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_path = is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':'));
        if starts_path {
            let mut found = Vec::new();
            i = path_at(&chars, i, Vec::new(), &mut found);
            for mut segments in found {
                if segments.len() > 1 {
                    let anchor = segments.remove(0);
                    paths.push((anchor, segments));
                }
            }
        } else {
            i += 1;
        }
    }
    paths
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads the path starting at `i` (after `prefix`), with any `::{…}` group, into
/// `found`; returns where it ends.
fn path_at(chars: &[char], mut i: usize, mut prefix: Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        prefix.push(chars[start..i].iter().collect());
        let colons = i + 1 < chars.len() && chars[i] == ':' && chars[i + 1] == ':';
        if colons && i + 2 < chars.len() && is_ident(chars[i + 2]) {
            i += 2;
        } else if colons && i + 2 < chars.len() && chars[i + 2] == '{' {
            i += 3;
            loop {
                while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                    i += 1;
                }
                if i >= chars.len() || chars[i] == '}' {
                    return i + 1;
                }
                if is_ident(chars[i]) {
                    i = path_at(chars, i, prefix.clone(), found);
                    // `x as y`
                    while i < chars.len() && chars[i] != ',' && chars[i] != '}' {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            found.push(prefix);
            return i;
        }
    }
}

/// The deepest module of `known` that `path` (absolute segments) is in.
fn resolve(known: &BTreeMap<Module, PathBuf>, path: &[String]) -> Option<Module> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| known.contains_key(m))
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

fn graph_of(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let known = modules(src);
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, path) in &known {
        // main.rs is its own crate: it names the library as `gatehouse::`.
        let is_main = module.as_slice() == ["main"];
        let home: Module = if is_main { Vec::new() } else { module.clone() };
        let parent: Module = home.iter().take(home.len().saturating_sub(1)).cloned().collect();
        let mut deps = BTreeSet::new();
        for (anchor, rest) in named_paths(&code(path)) {
            let absolute: Vec<String> = match anchor.as_str() {
                "crate" if !is_main => rest,
                "gatehouse" if is_main => rest,
                "super" => parent.iter().cloned().chain(rest).collect(),
                "self" => home.iter().cloned().chain(rest).collect(),
                child => home.iter().cloned().chain(std::iter::once(child.to_string())).chain(rest).collect(),
            };
            if let Some(target) = resolve(&known, &absolute)
                && target != *module
                && !target.is_empty()
            {
                deps.insert(target);
            }
        }
        edges.insert(module.clone(), deps);
    }
    edges
}

#[test]
fn nothing_below_http_imports_it() {
    let offenders: Vec<String> = graph()
        .into_iter()
        .filter(|(module, _)| !matches!(module.first().map(String::as_str), Some("http" | "cli" | "main")))
        .filter(|(_, deps)| deps.iter().any(|d| d.first().map(String::as_str) == Some("http")))
        .map(|(module, _)| module.join("::"))
        .collect();
    assert!(offenders.is_empty(), "these modules import http: {offenders:?}");
}

/// A cycle among `edges`, if there is one.
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<String>> {
    // Depth-first search for a back edge.
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        done: &mut BTreeSet<Module>,
        path: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = path.iter().position(|m| m == node) {
            return Some(path[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|module| visit(module, edges, &mut done, &mut Vec::new()))
        .map(|cycle| cycle.iter().map(|m| if m.is_empty() { "crate".to_string() } else { m.join("::") }).collect())
}

#[test]
fn no_module_depends_on_itself() {
    if let Some(cycle) = find_cycle(&graph()) {
        panic!("an import cycle: {} -> {}", cycle.join(" -> "), cycle[0]);
    }
}

#[test]
fn the_checker_finds_a_cycle_through_a_folder() {
    let dir = std::env::temp_dir().join(format!("gatehouse-layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "pub mod inner;\n").unwrap();
    std::fs::write(dir.join("a/inner.rs"), "use crate::b::Thing; // crate::nothing\n").unwrap();
    std::fs::write(dir.join("b.rs"), "pub fn f() { crate::a::inner::g() }\n").unwrap();
    let cycle = find_cycle(&graph_of(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cycle, Some(vec!["a::inner".to_string(), "b".to_string()]));
}

#[test]
fn the_checker_sees_paths() {
    let paths = named_paths("use crate::access::{rbac::{Roles, SshMode}, Refusal as R};\nlet x = super::ws::fit(a);");
    let path = |anchor: &str, rest: &[&str]| (anchor.to_string(), rest.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        paths,
        [
            path("crate", &["access", "rbac", "Roles"]),
            path("crate", &["access", "rbac", "SshMode"]),
            path("crate", &["access", "Refusal"]),
            path("super", &["ws", "fit"]),
        ]
    );
}
