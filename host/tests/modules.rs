//! The host crate's layout, checked: no module imports another that imports
//! it back, the roles (the Linux port, `serve`, the clients, the benchmark)
//! only import downwards, and every `unsafe` block is in the Linux port with
//! the reason it is sound.
//!
//! The check reads the sources as text: every `crate::` path outside
//! comments (in `use` lines, attributes and code alike) is an import of the
//! module it names. A `super::` path at the top level of a file would hide
//! one, so it is refused; `use super::*` in a `mod tests` names the file
//! itself and is no import.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module by its path in the crate: `["client", "chat", "session"]`;
/// the crate root is `[]`.
type Module = Vec<String>;

/// Which module imports which.
type Graph = BTreeMap<Module, BTreeSet<Module>>;

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with the module it defines.
fn modules(dir: &Path) -> Vec<(Module, PathBuf)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push((module_of(dir, &path), path));
            }
        }
    }
    found.sort();
    found
}

fn module_of(root: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(root).unwrap().with_extension("");
    let mut module: Module = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if module
        .last()
        .is_some_and(|last| last == "mod" || last == "main")
    {
        module.pop();
    }
    module
}

/// The lines of `source` without comments (whole-line and trailing `//`
/// comments; the host writes no block comments).
fn code_lines(source: &str) -> Vec<&str> {
    source
        .lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) would cut the line short,
            // which can only hide a path, never invent one.
            Some(at) => &line[..at],
            None => line,
        })
        .collect()
}

/// The module paths a line names after `crate::`, each as its segments up
/// to the first item that is not a module name (a brace group is opened
/// one level: `crate::serve::{discovery, sntp}`).
fn crate_paths(line: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `udpkit_crate::` and the like
        }
        let mut prefix = Vec::new();
        loop {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let segment = &rest[..end];
            rest = &rest[end..];
            if !segment.is_empty() {
                prefix.push(segment.to_string());
            }
            if let Some(after) = rest.strip_prefix("::") {
                rest = after;
                if let Some(group) = rest.strip_prefix('{') {
                    let close = group.find('}').unwrap_or(group.len());
                    for item in group[..close].split(',') {
                        let first = item.trim().split("::").next().unwrap_or("").trim();
                        let mut path = prefix.clone();
                        if !first.is_empty() && first != "self" {
                            path.push(first.to_string());
                        }
                        paths.push(path);
                    }
                    rest = &group[close..];
                    break;
                }
                continue;
            }
            paths.push(prefix);
            break;
        }
    }
    paths
}

/// The longest module of `known` that `path` starts with.
fn resolve(path: &[String], known: &BTreeSet<Module>) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| known.contains(m))
        .unwrap_or_default()
}

/// Which module imports which, read from the files under `dir`.
fn import_graph(dir: &Path) -> Graph {
    let files = modules(dir);
    let known: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = Graph::new();
    for (module, file) in &files {
        let source = fs::read_to_string(file).unwrap();
        let imports = graph.entry(module.clone()).or_default();
        for (n, line) in code_lines(&source).into_iter().enumerate() {
            assert!(
                !(line.starts_with("use super::") || line.starts_with("pub use super::")),
                "{}:{}: a top-level `super::` path: name the module with `crate::` so that \
                 this check sees the import",
                file.display(),
                n + 1
            );
            for path in crate_paths(line) {
                let target = resolve(&path, &known);
                if target != *module {
                    imports.insert(target);
                }
            }
        }
    }
    graph
}

/// A circle of imports in `graph`, if there is one, as the modules on it
/// (the first again at the end).
fn find_circle(graph: &Graph) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        at: &Module,
        graph: &Graph,
        marks: &mut BTreeMap<Module, Mark>,
        trail: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        match marks.get(at) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = trail.iter().position(|m| m == at).unwrap();
                let mut circle = trail[start..].to_vec();
                circle.push(at.clone());
                return Some(circle);
            }
            None => {}
        }
        marks.insert(at.clone(), Mark::Open);
        trail.push(at.clone());
        for next in graph.get(at).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, marks, trail) {
                return Some(circle);
            }
        }
        trail.pop();
        marks.insert(at.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut marks, &mut Vec::new()))
}

/// The graph of roles: each module counted as the top-level module it is
/// in (`client::chat::session` is `client`).
fn role_graph(graph: &Graph) -> Graph {
    let role = |m: &Module| m.iter().take(1).cloned().collect::<Module>();
    let mut roles = Graph::new();
    for (from, imports) in graph {
        let entry = roles.entry(role(from)).or_default();
        for to in imports {
            if role(to) != role(from) {
                entry.insert(role(to));
            }
        }
    }
    roles
}

fn name(module: &Module) -> String {
    match module.is_empty() {
        true => "crate".into(),
        false => module.join("::"),
    }
}

fn names(modules: &[Module]) -> String {
    modules.iter().map(name).collect::<Vec<_>>().join(" -> ")
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = import_graph(&source_dir());
    assert!(graph.len() > 30, "too few modules found: {graph:?}");
    if let Some(circle) = find_circle(&graph) {
        panic!("a circle of imports: {}", names(&circle));
    }
}

#[test]
fn the_roles_import_only_downwards() {
    let graph = import_graph(&source_dir());
    let roles = role_graph(&graph);
    if let Some(circle) = find_circle(&roles) {
        panic!("a circle of imports between roles: {}", names(&circle));
    }
    let of = |role: &str| roles[&vec![role.to_string()]].clone();
    // The port and the text helpers know nothing of the roles above them.
    assert!(of("linux").is_empty(), "linux imports {:?}", of("linux"));
    assert!(of("text").is_empty(), "text imports {:?}", of("text"));
    // Serving, asking and benchmarking are apart.
    for (role, others) in [
        ("serve", ["client", "bench"]),
        ("client", ["serve", "bench"]),
        ("bench", ["serve", "client"]),
    ] {
        for other in others {
            assert!(
                !of(role).contains(&vec![other.to_string()]),
                "{role} imports {other}"
            );
        }
    }
}

#[test]
fn unsafe_is_only_in_the_linux_port_and_says_why() {
    let root = source_dir();
    let mut blocks = 0;
    for (module, file) in modules(&root) {
        let source = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        for (n, line) in code_lines(&source).into_iter().enumerate() {
            if !line
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == "unsafe")
            {
                continue;
            }
            assert!(
                module.first().is_some_and(|m| m == "linux"),
                "{}:{}: `unsafe` outside the Linux port (src/linux/)",
                file.display(),
                n + 1
            );
            let reason = lines[n.saturating_sub(8)..=n]
                .iter()
                .any(|l| l.contains("SAFETY:") || l.contains("# Safety"));
            assert!(
                reason,
                "{}:{}: `unsafe` without a SAFETY comment just above",
                file.display(),
                n + 1
            );
            blocks += 1;
        }
    }
    // The port has its share (poll, ioctl, getifaddrs, sendmmsg, ...).
    assert!(
        blocks > 20,
        "only {blocks} unsafe found: is the check reading the files?"
    );
}

// The checker itself, on made-up sources.

fn module(path: &str) -> Module {
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn paths_are_read_from_uses_groups_and_code() {
    assert_eq!(
        crate_paths("use crate::serve::{discovery, sntp::SntpOptions, self};"),
        [
            module("serve::discovery"),
            module("serve::sntp"),
            module("serve")
        ]
    );
    assert_eq!(
        crate_paths(code_lines("    let x = crate::text::parse_duration(t)?; // crate::bench")[0]),
        [module("text::parse_duration")]
    );
    assert!(crate_paths("use udpkit::wire::chat;").is_empty());
    let known: BTreeSet<Module> = [module(""), module("serve"), module("serve::sntp")].into();
    assert_eq!(
        resolve(&module("serve::sntp::SntpOptions"), &known),
        module("serve::sntp")
    );
    assert_eq!(resolve(&module("serve::Thing"), &known), module("serve"));
    assert_eq!(code_lines("a // crate::x\n// crate::y\nb"), ["a ", "", "b"]);
}

#[test]
fn a_circle_is_found_and_a_tree_is_not() {
    let mut graph = Graph::new();
    graph.insert(module("a"), [module("b")].into());
    graph.insert(module("b"), [module("c")].into());
    graph.insert(module("c"), BTreeSet::new());
    assert_eq!(find_circle(&graph), None);
    graph.insert(module("c"), [module("a")].into());
    assert_eq!(
        find_circle(&graph).map(|c| names(&c)),
        Some("a -> b -> c -> a".to_string())
    );
    // Two files of one role importing across to another role and back.
    let mut files = Graph::new();
    files.insert(module("serve::x"), [module("client::y")].into());
    files.insert(module("client::z"), [module("serve::w")].into());
    assert_eq!(find_circle(&files), None);
    assert!(find_circle(&role_graph(&files)).is_some());
}
