//! The shape of the house, checked: which module may use which, read from the source itself.
//!
//! Every path in a module's code (its tests aside) that leaves the module, `crate::x` or enough
//! `super::` to reach `x`, is an arrow from that module to the top-level module `x`; every word
//! naming a watched crate (`actix_web`, `utoipa`, `rusqlite`, the PostgreSQL clients) is an arrow
//! to that crate, an alias included; the `postgres` crate, whose name is also a word of URLs, counts
//! only as the head of a path (`postgres::…`). The arrows must form no cycle, and some are forbidden: the pure layers
//! (`lifecycle`, `formats`, `auth`) know neither the store nor HTTP; the store knows no HTTP, no
//! wire type and no metrics; only `startup` and `openapi` reach into `routes`; only the store
//! speaks SQL; only the HTTP layer names actix-web, and only it and what it describes name
//! utoipa. Inside the store, the group committer (`store/writer`) knows neither SQLite nor
//! PostgreSQL. And no file
//! under `src/` is longer than 500 lines.

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
    ("store", "metrics", "the writer reports to an observer"),
];

/// The only modules that may use `routes`.
const ROUTES_USERS: &[&str] = &["startup", "openapi"];
/// Crate → the only top-level modules that may name it.
const CRATE_USERS: &[(&str, &[&str])] = &[
    ("rusqlite", &["store"]),
    ("tokio_postgres", &["store"]),
    ("deadpool_postgres", &["store"]),
    ("postgres", &["store"]),
    ("actix_web", &["routes", "startup", "error", "cli"]),
    // The wire types, the document, and the request bodies and vocabularies they describe.
    (
        "utoipa",
        &["wire", "routes", "openapi", "model", "integration"],
    ),
];

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
        for (name, users) in CRATE_USERS {
            if uses.contains(*name) && !users.contains(&from.as_str()) {
                broken.push(format!("{from} uses {name}: only {} may", users.join(", ")));
            }
        }
    }
    for cycle in cycles(&arrows) {
        broken.push(format!("a cycle: {}", cycle.join(" -> ")));
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Words that name a database's code: its module in the store or its client crate.
const DATABASE_WORDS: &[&str] = &[
    "rusqlite",
    "sqlite",
    "postgres",
    "tokio_postgres",
    "deadpool_postgres",
];

/// The group committer is what both stores reuse: it must know neither.
#[test]
fn the_group_committer_knows_no_database() {
    let writer = src().join("store").join("writer");
    let knowing: Vec<String> = files(&writer, &is_rust)
        .into_iter()
        .filter(|path| {
            let code = without_tests(&std::fs::read_to_string(path).unwrap());
            let words = words(&code);
            DATABASE_WORDS.iter().any(|word| words.contains(word))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        knowing.is_empty(),
        "these name SQLite or PostgreSQL: {}",
        knowing.join(", ")
    );
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

/// The reading itself, on made-up code: it must see what it is there to see.
#[test]
fn the_reading_finds_paths_aliases_cycles_and_skips_tests() {
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
    let code = "use crate::{store::Store, model};\nlet x = crate::time::format(t);\n\
                // crate::routes in a comment\nuse super::super::wire::X;\nuse super::alerts;\n\
                use actix_web as aw;\n";
    let store_sqlite = ["store".to_string(), "sqlite".to_string()];
    let expected = ["actix_web", "model", "store", "time", "wire"];
    assert_eq!(
        references(code, &store_sqlite),
        expected.into_iter().map(String::from).collect()
    );
    // The PostgreSQL clients: by word, and the `postgres` crate only as a path's head.
    let code = "Db::Postgres(u); crate::store::postgres::X; let url = \"postgres://h/db\";\n\
                use tokio_postgres::Client;\nlet p = deadpool_postgres::Pool;\n";
    let expected = ["deadpool_postgres", "store", "tokio_postgres"];
    assert_eq!(
        references(code, &store_sqlite),
        expected.into_iter().map(String::from).collect()
    );
    let code = "let c = postgres::Client::connect(url);\n";
    let expected = ["postgres"];
    assert_eq!(
        references(code, &store_sqlite),
        expected.into_iter().map(String::from).collect()
    );
    let code = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() { \"}\"; '}'; }\n}\nfn c() {}\n";
    assert_eq!(
        without_tests(code).replace(char::is_whitespace, ""),
        "fna(){}fnc(){}"
    );
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn is_rust(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "rs")
}

/// Top-level module → the top-level modules and watched crates its code uses.
fn arrows() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let test_only = test_only_files(&root);
    let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files(&root, &is_rust) {
        let module_path = module_path(path.strip_prefix(&root).unwrap());
        let module = module_path[0].clone();
        if module == "lib" || module == "main" || test_only.contains(&path) {
            continue;
        }
        let code = without_tests(&std::fs::read_to_string(&path).unwrap());
        let uses = arrows.entry(module.clone()).or_default();
        uses.extend(
            references(&code, &module_path)
                .into_iter()
                .filter(|used| *used != module),
        );
    }
    arrows
}

/// `store/sqlite/alerts.rs` → `store::sqlite::alerts`; a `mod.rs` is its folder's module.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .filter_map(|part| part.as_os_str().to_str())
        .map(|name| name.trim_end_matches(".rs").to_string())
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules code in module `module_path` reaches, through `crate::…` or through
/// enough `super::` to leave its own top-level module, and the watched crates it names.
fn references(code: &str, module_path: &[String]) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        used.extend(names_at(&code[at + "crate::".len()..]));
    }
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut depth = 0;
        while let Some(next) = rest.strip_prefix("super::") {
            depth += 1;
            rest = next;
        }
        if depth >= module_path.len() {
            used.extend(names_at(rest));
        }
    }
    let words = words(&code);
    for name in CRATE_USERS.iter().map(|(name, _)| *name) {
        let named = if name == PATH_ONLY_CRATE {
            heads_a_path(&code, name)
        } else {
            words.contains(name)
        };
        if named {
            used.insert(name.to_string());
        }
    }
    used
}

/// The watched crate whose name is also a word of text (`"postgres://"`, `DbLocation::Postgres`
/// is another word): only `postgres::…` not after `::` names it.
const PATH_ONLY_CRATE: &str = "postgres";

/// Whether `name::` begins a path in `code`: not after `::` or a letter of a longer name.
fn heads_a_path(code: &str, name: &str) -> bool {
    let path = format!("{name}::");
    code.match_indices(&path).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    })
}

/// The first name of a path, or the first name of each item of a `{…}` group.
fn names_at(rest: &str) -> Vec<String> {
    match rest.strip_prefix('{') {
        Some(group) => {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .filter_map(|item| first_name(item.trim_start()))
                .collect()
        }
        None => first_name(rest).into_iter().collect(),
    }
}

fn first_name(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// Every identifier-like word of `code`.
fn words(code: &str) -> BTreeSet<&str> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .collect()
}

/// A file's code without its test items (each `#[cfg(test)]` item, a `mod tests { … }` block
/// among them): tests may use whatever they need.
fn without_tests(text: &str) -> String {
    let mut code = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = &rest[item_end(rest)..];
    }
    code.push_str(rest);
    code
}

/// Where the item starting at `text` ends: after its `;`, or after the `}` that closes its
/// first `{`, skipping strings and character literals.
fn item_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b';' if depth == 0 => return at + 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return at + 1;
                }
            }
            b'"' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if bytes.get(at + 2) == Some(&b'\'') => at += 2,
            _ => {}
        }
        at += 1;
    }
    bytes.len()
}

/// Files that are test modules of their own (`#[cfg(test)] mod tests;`).
fn test_only_files(root: &Path) -> BTreeSet<PathBuf> {
    let mut test_only = BTreeSet::new();
    for path in files(root, &is_rust) {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let declared = pair[1]
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'));
            if let (Some(name), "#[cfg(test)]") = (declared, pair[0]) {
                let folder = if path.ends_with("mod.rs") {
                    path.parent().unwrap().to_path_buf()
                } else {
                    path.with_extension("")
                };
                test_only.insert(folder.join(format!("{name}.rs")));
            }
        }
    }
    test_only
}

/// Every file under `dir` that `keep` keeps, in a stable order.
fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    let mut found = Vec::new();
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
            let last = path.last().unwrap();
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
