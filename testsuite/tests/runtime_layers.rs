//! The runtime's layering (ARCHITECTURE.md, "Runtime layering"): every module of
//! `runtime-lib/src` belongs to a layer, may refer only to modules of its own layer or
//! below, and module references have no cycles.
//!
//! References are read from the source: `use` trees and paths starting with `crate::`,
//! `super::`, `self::` or a child module's name, outside comments and literals. Each
//! resolves to the longest module path that is a file of the crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers bottom to top, with their files (module paths: `wasi/fd` is
/// `src/wasi/fd.rs`, `wasi` is `src/wasi/mod.rs`, `lib` the crate root). Keep in step
/// with ARCHITECTURE.md, which lists the same (a test below compares the two).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "sys", "mem", "fmath", "cell", "heap", "print", "errno", "host", "net",
        ],
    ),
    ("process", &["process"]),
    ("instance", &["instance", "stack", "trap"]),
    (
        "mechanisms",
        &[
            "libcalls",
            "exn",
            "signal",
            "checkpoint",
            "ckfile",
            "ckstream",
            "dirty",
            "frames",
        ],
    ),
    (
        "services",
        &[
            "control",
            "countdown",
            "migrate",
            "precopy",
            "rebuild",
            "remote",
            "spectest",
            "wasi",
            "wasi/carried",
            "wasi/dir",
            "wasi/fd",
            "wasi/flags",
            "wasi/mem",
            "wasi/migrate",
            "wasi/misc",
            "wasi/path",
            "wasi/poll",
            "wasi/table",
        ],
    ),
    ("entry", &["startup", "harness", "lib"]),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime-lib/src")
}

/// Every `.rs` file of the runtime crate as (module path, file). Directories holding a
/// Cargo.toml are other crates (the WASI host-test harness) and are skipped.
fn runtime_files() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if p.is_dir() {
                if !p.join("Cargo.toml").exists() {
                    let sub = if rel.is_empty() {
                        name.clone()
                    } else {
                        format!("{rel}/{name}")
                    };
                    walk(&p, &sub, out);
                }
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let module = match (rel, stem) {
                    ("", "lib") => "lib".to_string(),
                    (_, "mod") => rel.to_string(),
                    ("", _) => stem.to_string(),
                    _ => format!("{rel}/{stem}"),
                };
                out.insert(module, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src_dir(), "", &mut out);
    assert!(
        out.contains_key("lib"),
        "no runtime-lib/src/lib.rs under {}",
        src_dir().display()
    );
    out
}

/// The source with comments removed and string and character literals emptied, so that
/// only code is left to scan.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some(end) = raw_string_end(&b, i) {
            out.push_str("\"\"");
            i = end;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// If a raw string literal (`r"..."`, `r#"..."#`, `br#"..."#`) starts at `i`, the index
/// just after it.
fn raw_string_end(b: &[char], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&'b') {
        j += 1;
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if b.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < b.len() {
        if b[j] == '"'
            && b[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(b.len())
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Path, // `::`
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

fn tokens(code: &str) -> Vec<Tok> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().collect()));
            continue;
        }
        i += 1;
        out.push(match c {
            ':' if b.get(i) == Some(&':') => {
                i += 1;
                Tok::Path
            }
            '{' => Tok::Open,
            '}' => Tok::Close,
            ',' => Tok::Comma,
            ';' => Tok::Semi,
            '*' => Tok::Star,
            c if c.is_whitespace() => continue,
            _ => Tok::Other,
        });
    }
    out
}

/// Expands the use tree starting at `toks[*i]` (after `use`) into full paths: a group
/// gives one path per member, `self` in a group the path before it.
fn use_tree(toks: &[Tok], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "self" && !path.is_empty() => *i += 1,
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
            }
            Some(Tok::Open) => {
                *i += 1;
                while !matches!(toks.get(*i), Some(Tok::Close) | None) {
                    use_tree(toks, i, path.clone(), out);
                    if toks.get(*i) != Some(&Tok::Comma) {
                        break;
                    }
                    *i += 1;
                }
                *i += 1;
                return;
            }
            Some(Tok::Star) => {
                *i += 1;
                break;
            }
            _ => break,
        }
        match toks.get(*i) {
            Some(Tok::Path) => *i += 1,
            // `as alias`: the alias names what the path names.
            Some(Tok::Ident(s)) if s == "as" => {
                *i += 2;
                break;
            }
            _ => break,
        }
    }
    out.push(path);
}

/// Every path to a module of this crate that `code` contains, as written.
fn references(code: &str) -> Vec<Vec<String>> {
    let toks = tokens(code);
    // Child modules declared here (`mod x;`), which paths may start with.
    let mut children = BTreeSet::new();
    for w in toks.windows(3) {
        if let [Tok::Ident(m), Tok::Ident(name), Tok::Semi] = w {
            if m == "mod" {
                children.insert(name.clone());
            }
        }
    }
    let starts_path = |s: &str| s == "crate" || s == "super" || s == "self" || children.contains(s);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(s) if s == "use" => {
                i += 1;
                let mut paths = Vec::new();
                use_tree(&toks, &mut i, Vec::new(), &mut paths);
                out.extend(
                    paths
                        .into_iter()
                        .filter(|p| p.first().is_some_and(|s| starts_path(s))),
                );
            }
            Tok::Ident(s)
                if starts_path(s)
                    && (i == 0 || toks[i - 1] != Tok::Path)
                    && toks.get(i + 1) == Some(&Tok::Path) =>
            {
                let mut path = vec![s.clone()];
                i += 1;
                while toks.get(i) == Some(&Tok::Path) {
                    match toks.get(i + 1) {
                        Some(Tok::Ident(seg)) => {
                            path.push(seg.clone());
                            i += 2;
                        }
                        _ => break,
                    }
                }
                out.push(path);
            }
            _ => i += 1,
        }
    }
    out
}

/// The file module a path written in `module` names: the longest prefix of its
/// absolute form that is a file of the crate (`lib` for the root).
fn resolve(module: &str, path: &[String], files: &BTreeMap<String, PathBuf>) -> String {
    let here: Vec<&str> = if module == "lib" {
        vec![]
    } else {
        module.split('/').collect()
    };
    let mut abs: Vec<&str> = Vec::new();
    let mut segs = path.iter().map(String::as_str).peekable();
    match segs.peek() {
        Some(&"crate") => {
            segs.next();
        }
        Some(&"self") | Some(&"super") => {
            abs = here.clone();
            while let Some(&s) = segs.peek() {
                match s {
                    "self" => {}
                    "super" => {
                        abs.pop();
                    }
                    _ => break,
                }
                segs.next();
            }
        }
        _ => abs = here.clone(), // a child module
    }
    abs.extend(segs);
    (0..=abs.len())
        .rev()
        .map(|n| {
            if n == 0 {
                "lib".to_string()
            } else {
                abs[..n].join("/")
            }
        })
        .find(|m| files.contains_key(m))
        .unwrap()
}

/// module -> the modules it refers to (itself excluded).
fn graph(files: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    files
        .iter()
        .map(|(module, file)| {
            let code = code_only(&std::fs::read_to_string(file).unwrap());
            let deps = references(&code)
                .iter()
                .map(|p| resolve(module, p, files))
                .filter(|d| d != module)
                .collect();
            (module.clone(), deps)
        })
        .collect()
}

fn layer_of() -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for (n, (_, modules)) in LAYERS.iter().enumerate() {
        for module in modules.iter() {
            assert!(m.insert(*module, n).is_none(), "{module} is in two layers");
        }
    }
    m
}

#[test]
fn every_runtime_module_has_a_layer() {
    let files = runtime_files();
    let layers = layer_of();
    let missing: Vec<_> = files
        .keys()
        .filter(|m| !layers.contains_key(m.as_str()))
        .collect();
    let stale: Vec<_> = layers.keys().filter(|m| !files.contains_key(**m)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "runtime modules without a layer: {missing:?}; layers naming no file: {stale:?} \
         (update LAYERS here and the list in ARCHITECTURE.md, \"Runtime layering\")"
    );
}

#[test]
fn no_runtime_module_uses_a_higher_layer() {
    let files = runtime_files();
    let layers = layer_of();
    let mut bad = Vec::new();
    for (module, deps) in graph(&files) {
        let Some(&own) = layers.get(module.as_str()) else {
            continue;
        };
        for d in deps {
            match layers.get(d.as_str()) {
                Some(&l) if l > own => bad.push(format!(
                    "{module} (layer {own}, {}) uses {d} (layer {l}, {})",
                    LAYERS[own].0, LAYERS[l].0
                )),
                _ => {}
            }
        }
    }
    assert!(
        bad.is_empty(),
        "upward references in the runtime:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn runtime_module_references_have_no_cycles() {
    let g = graph(&runtime_files());
    // Depth-first search; a module met again while on the stack closes a cycle.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(cycle) = visit(m, &g, &mut Vec::new(), &mut done) {
            panic!(
                "runtime modules refer to each other in a cycle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

/// The layers ARCHITECTURE.md lists: lines `N. name: `module` `module` ...`, each
/// possibly continued on lines holding only more `module`s.
fn documented_layers(doc: &str) -> Vec<(String, Vec<String>)> {
    let modules = |s: &str| -> Option<Vec<String>> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let all_quoted = !words.is_empty()
            && words
                .iter()
                .all(|w| w.len() > 2 && w.starts_with('`') && w.ends_with('`'));
        all_quoted.then(|| {
            words
                .iter()
                .map(|w| w.trim_matches('`').to_string())
                .collect()
        })
    };
    let mut listed: Vec<(String, Vec<String>)> = Vec::new();
    let mut continuing = false;
    for line in doc.lines() {
        let layer = line.trim_start().split_once(". ").and_then(|(num, rest)| {
            num.parse::<usize>().ok()?;
            let (name, ms) = rest.split_once(": ")?;
            Some((name.to_string(), modules(ms)?))
        });
        continuing = match (layer, modules(line)) {
            (Some(l), _) => {
                listed.push(l);
                true
            }
            (None, Some(more)) if continuing => {
                listed.last_mut().unwrap().1.extend(more);
                true
            }
            _ => false,
        };
    }
    listed
}

#[test]
fn architecture_md_lists_the_same_layers() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
            .unwrap();
    let table: Vec<(String, Vec<String>)> = LAYERS
        .iter()
        .map(|(n, ms)| (n.to_string(), ms.iter().map(|m| m.to_string()).collect()))
        .collect();
    assert_eq!(
        documented_layers(&doc),
        table,
        "ARCHITECTURE.md's runtime layers differ from LAYERS in this test"
    );
}

#[test]
fn the_scanner_sees_what_it_should() {
    let code = code_only(
        r#"use crate::{a::{self, b}, c as d}; use super::e::*;
        // crate::comment::ignored
        fn f() { let s = "crate::string::ignored"; let c = '"'; crate::g::h(); x::y(); t::u; }
        mod t;"#,
    );
    let refs = references(&code);
    let want: Vec<Vec<String>> = [
        &["crate", "a"][..],
        &["crate", "a", "b"],
        &["crate", "c"],
        &["super", "e"],
        &["crate", "g", "h"],
        &["t", "u"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(refs, want);
}
