//! A test of the layering `docs/architecture.md` describes: read every file of `host/src`, take
//! the modules each one names (`crate::…`, `super::…`, a child module of a `mod.rs`), and find
//! the import circles. Only the pairs listed in [`DELIBERATE_PAIRS`] may remain, and nothing
//! below the router may name it.

#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Two modules that name each other on purpose (each is explained in `docs/architecture.md`).
const DELIBERATE_PAIRS: &[[&str; 2]] = &[
    ["admin::page", "admin::session"],
    ["http::context", "http::idempotency"],
    ["plugins::migrate", "plugins::registry"],
];

/// The top floor (the router, and the commands that serve it): nothing below may import it.
fn is_top(module: &str) -> bool {
    module == "router" || module == "cli" || module.starts_with("cli::")
}

fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut name = rel.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_owned();
            }
            if name == "lib" || name == "main" {
                name = String::new();
            }
            let source = std::fs::read_to_string(&path).unwrap();
            // Tests may reach anywhere; comments name modules without importing them.
            let code = source.split("#[cfg(test)]\nmod tests").next().unwrap();
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap())
                .collect::<Vec<_>>()
                .join("\n");
            found.insert(name, code);
        }
    }
    found
}

/// `a::b::c` → the longest prefix that is a module.
fn resolve<'a>(modules: &'a BTreeMap<String, String>, path: &str) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|m| modules.get_key_value(&m).map(|(k, _)| k.as_str()))
}

/// The identifier paths after `prefix` in `code`, `{…}` groups expanded one level.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
            .unwrap_or(rest.len());
        let head = &rest[..end];
        if let Some(open) = head.find('{') {
            let base = &head[..open];
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            for item in rest[open + 1..close].split(',') {
                let item = item.trim().split(" as ").next().unwrap_or("");
                let item = item.split('{').next().unwrap_or("").trim_end_matches(':');
                if !item.is_empty() {
                    out.push(format!("{base}{item}"));
                }
            }
        } else {
            out.push(head.trim_end_matches(':').to_owned());
        }
    }
    out
}

fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, code) in modules {
        let mut targets = BTreeSet::new();
        for path in paths_after(code, "crate::") {
            targets.extend(resolve(modules, &path));
        }
        // A module imported by name (`use crate::{api, http}`), then used as `api::users::…`.
        for imported in targets.clone() {
            let leaf = imported.rsplit("::").next().unwrap_or(imported);
            for path in paths_after(code, &format!("{leaf}::")) {
                targets.extend(resolve(modules, &format!("{imported}::{path}")));
            }
        }
        let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
        for path in paths_after(code, "super::") {
            let full = if parent.is_empty() {
                path
            } else {
                format!("{parent}::{path}")
            };
            targets.extend(resolve(modules, &full));
        }
        // A `mod.rs` naming its own children (`users::router()`).
        for child in modules.keys() {
            let Some(leaf) = child
                .strip_prefix(name.as_str())
                .and_then(|r| {
                    if name.is_empty() {
                        Some(r)
                    } else {
                        r.strip_prefix("::")
                    }
                })
                .filter(|leaf| !leaf.is_empty() && !leaf.contains("::"))
            else {
                continue;
            };
            if !paths_after(code, &format!("{leaf}::")).is_empty() {
                targets.insert(child.as_str());
            }
        }
        targets.remove(name.as_str());
        edges.insert(name.as_str(), targets);
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn circles<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<BTreeSet<&'a str>> {
    struct Walk<'a, 'e> {
        edges: &'e BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<&'a str>>,
    }
    impl<'a> Walk<'a, '_> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for &w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    component.insert(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for &v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_import_circle_but_the_deliberate_pairs_and_nothing_below_imports_the_router() {
    let modules = modules();
    let edges = edges(&modules);
    assert!(edges["router"].contains("api::users"), "the reader works");
    let allowed: Vec<BTreeSet<&str>> = DELIBERATE_PAIRS
        .iter()
        .map(|pair| pair.iter().copied().collect())
        .collect();
    let unexpected: Vec<_> = circles(&edges)
        .into_iter()
        .filter(|c| !allowed.contains(c))
        .collect();
    assert!(unexpected.is_empty(), "import circles: {unexpected:?}");
    for (from, targets) in edges.iter().filter(|(m, _)| !m.is_empty() && !is_top(m)) {
        let up: Vec<_> = targets.iter().filter(|t| is_top(t)).collect();
        assert!(up.is_empty(), "`{from}` imports {up:?}, on the top floor");
    }
}
