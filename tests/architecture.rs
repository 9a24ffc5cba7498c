//! The shape of the house, checked: which module may use which, read from the source itself.
//!
//! Every `crate::…` path in a module's code (its tests aside) is an arrow from that module to
//! the top-level module it names. The arrows must form no cycle, and some are forbidden: the
//! pure layers (`lifecycle`, `formats`, `auth`) know neither the store nor HTTP; the store knows
//! no HTTP and no wire types; only `startup` and `openapi` reach into `routes`; only the store
//! speaks SQL. And no file under `src/` is longer than 500 lines.

// In tests a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a file under `src/` may be.
const MAX_FILE_LINES: usize = 500;

/// (module, what it must not use, why).
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("lifecycle", "store", "the state machine is pure"),
    ("lifecycle", "routes", "the state machine is pure"),
    ("lifecycle", "actix_web", "the state machine is pure"),
    ("formats", "store", "formats are pure readers"),
    ("formats", "routes", "formats are pure readers"),
    ("formats", "actix_web", "formats are pure readers"),
    ("auth", "store", "authentication is pure"),
    ("auth", "routes", "authentication is pure"),
    ("auth", "actix_web", "authentication is pure"),
    ("store", "routes", "the store speaks data, not HTTP"),
    ("store", "actix_web", "the store speaks data, not HTTP"),
    ("store", "utoipa", "wire types live with the routes"),
    ("store", "wire", "wire types live with the routes"),
    (
        "store",
        "metrics",
        "the writer reports to an observer; metrics observe it",
    ),
];

/// The only modules that may use `routes`.
const ROUTES_USERS: &[&str] = &["startup", "openapi"];
/// External crates whose names count as arrows, for the rules above.
const WATCHED_CRATES: &[&str] = &["actix_web", "utoipa", "rusqlite"];

#[test]
fn modules_form_no_cycle_and_no_forbidden_arrow() {
    let arrows = arrows();
    let mut broken = Vec::new();
    for (from, to, why) in FORBIDDEN {
        if arrows.get(*from).is_some_and(|uses| uses.contains(*to)) {
            broken.push(format!("{from} uses {to}: {why}"));
        }
    }
    for (from, uses) in &arrows {
        if uses.contains("routes") && !ROUTES_USERS.contains(&from.as_str()) {
            broken.push(format!("{from} uses routes: only startup and openapi may"));
        }
        if uses.contains("rusqlite") && from != "store" {
            broken.push(format!("{from} uses rusqlite: only the store speaks SQL"));
        }
    }
    for cycle in cycles(&arrows) {
        broken.push(format!("a cycle: {}", cycle.join(" -> ")));
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn no_file_under_src_is_longer_than_500_lines() {
    let too_long: Vec<String> = files(&src(), &|_| true)
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).ok()?.lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{} has {lines} lines", path.display()))
        })
        .collect();
    assert!(too_long.is_empty(), "{}", too_long.join("\n"));
}

/// The check itself, on a made-up graph: it must see a cycle when there is one.
#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph = |edges: &[(&str, &str)]| {
        let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            arrows
                .entry((*from).into())
                .or_default()
                .insert((*to).into());
        }
        arrows
    };
    assert!(cycles(&graph(&[("a", "b"), ("b", "c")])).is_empty());
    assert_eq!(
        cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        [vec!["a", "b", "c", "a"]]
    );
    let arrows = references("use crate::{store::Store, model};\nlet x = crate::time::format(t);\n// crate::routes in a comment\n");
    assert_eq!(
        arrows,
        BTreeSet::from(["model".into(), "store".into(), "time".into()])
    );
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module → the top-level modules and watched crates its code uses.
fn arrows() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let test_only = test_only_files(&root);
    let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files(&root, &|path| {
        path.extension().is_some_and(|ext| ext == "rs")
    }) {
        let relative = path.strip_prefix(&root).expect("under src");
        let module = relative
            .components()
            .next()
            .and_then(|part| part.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_string())
            .expect("a file has a name");
        if module == "lib" || module == "main" || test_only.contains(&path) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        let code = without_tests(&text);
        let uses = arrows.entry(module.clone()).or_default();
        uses.extend(references(code).into_iter().filter(|used| *used != module));
    }
    arrows
}

/// The module names a piece of code uses through `crate::…`, and the watched crates it names.
fn references(code: &str) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            used.extend(
                group
                    .split(',')
                    .filter_map(|item| first_name(item.trim_start())),
            );
        } else {
            used.extend(first_name(rest));
        }
    }
    for name in WATCHED_CRATES {
        if code.contains(&format!("{name}::")) {
            used.insert((*name).to_string());
        }
    }
    used
}

fn first_name(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// A file's code before its test module: tests may use whatever they need.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Files that are test modules of their own (`#[cfg(test)] mod tests;`).
fn test_only_files(root: &Path) -> BTreeSet<PathBuf> {
    let mut test_only = BTreeSet::new();
    for path in files(root, &|path| {
        path.extension().is_some_and(|ext| ext == "rs")
    }) {
        let text = std::fs::read_to_string(&path).expect("readable source");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let Some(name) = pair[1]
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            if pair[0] == "#[cfg(test)]" {
                let stem = path.with_extension("");
                let dir = if path.ends_with("mod.rs") {
                    path.parent().unwrap().to_path_buf()
                } else {
                    stem
                };
                test_only.insert(dir.join(format!("{name}.rs")));
            }
        }
    }
    test_only
}

/// Every file under `dir` that `keep` keeps, in a stable order.
fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            found.extend(files(&path, keep));
        } else if keep(&path) {
            found.push(path);
        }
    }
    found
}

/// Every cycle among the modules, each once, from its smallest name back to it.
fn cycles(arrows: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    for start in arrows.keys() {
        // Paths from `start` that only visit names greater than it: each cycle is found once,
        // from its smallest member.
        let mut stack = vec![vec![start.clone()]];
        while let Some(path) = stack.pop() {
            let last = path.last().expect("a path has a start");
            for next in arrows.get(last).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    found.push(cycle);
                } else if next > start && !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    found.sort();
    found
}
