//! `ARCHITECTURE.md` stays true to the tree: every repository path it names in backquotes
//! exists, and it keeps both walkthroughs of a DOE exchange.

use std::path::{Path, PathBuf};

/// The workspace's top-level directories: a backquoted `dir/...` under one of them is a
/// repository path.
const TOP_LEVEL_DIRS: &[&str] = &[
    "vmm",
    "devices",
    "doe-proxy",
    "policies",
    "guest-tests",
    "resources",
    "scripts",
    ".ci",
];

/// Root files the map may name without a directory.
const ROOT_FILE_EXTENSIONS: &[&str] = &[".md", ".toml", ".lock"];

/// The headings of the two walkthroughs.
const WALKTHROUGHS: &[&str] = &[
    "## Walkthrough: one guest DOE exchange",
    "## Walkthrough: one host user's exchange through the DOE socket",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("doe-proxy lives inside the workspace")
        .to_path_buf()
}

fn architecture() -> String {
    let path = workspace_root().join("ARCHITECTURE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every inline code span of `text` (outside fenced blocks), with its line number.
fn code_spans(text: &str) -> Vec<(usize, &str)> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Between the 1st and 2nd backquote, the 3rd and 4th, ...
        spans.extend(
            line.split('`')
                .skip(1)
                .step_by(2)
                .map(|span| (index + 1, span)),
        );
    }
    spans
}

/// The part of `span` to look for in the tree, if it names a repository path: a path
/// under a top-level directory, or a root file such as `README.md`. A component with a
/// placeholder (`<name>`, `*`) ends the part checked: `resources/bench/scenarios/<name>/l1.sh`
/// checks `resources/bench/scenarios/`.
fn repository_path(span: &str) -> Option<&str> {
    if span.is_empty() || span.chars().any(char::is_whitespace) {
        return None;
    }
    match span.split_once('/') {
        Some((top, _)) => {
            if !TOP_LEVEL_DIRS.contains(&top) {
                return None;
            }
            let end = span.find(['<', '*', '{']).unwrap_or(span.len());
            let checked = &span[..end];
            // Back to the last whole directory before a placeholder.
            Some(if end < span.len() {
                &checked[..=checked.rfind('/')?]
            } else {
                checked
            })
        }
        None => {
            let root_file = span.starts_with(|c: char| c.is_ascii_uppercase())
                && ROOT_FILE_EXTENSIONS.iter().any(|ext| span.ends_with(ext));
            root_file.then_some(span)
        }
    }
}

#[test]
fn every_path_named_exists() {
    let text = architecture();
    let root = workspace_root();
    let mut checked = 0;
    let mut missing = Vec::new();
    for (line, span) in code_spans(&text) {
        let Some(path) = repository_path(span) else {
            continue;
        };
        checked += 1;
        if !root.join(path).exists() {
            missing.push(format!("  line {line}: `{span}`"));
        }
    }
    assert!(
        checked >= 20,
        "only {checked} repository paths found in ARCHITECTURE.md: is the extraction broken?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names {} path(s) that do not exist in {}:\n{}",
        missing.len(),
        root.display(),
        missing.join("\n")
    );
}

#[test]
fn both_walkthroughs_are_there() {
    let text = architecture();
    let missing: Vec<&str> = WALKTHROUGHS
        .iter()
        .copied()
        .filter(|heading| !text.lines().any(|line| line.trim_end() == *heading))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md lacks the walkthrough heading(s): {missing:?}"
    );
}

#[test]
fn the_extraction_recognises_paths() {
    assert_eq!(
        repository_path("doe-proxy/src/socket/server.rs"),
        Some("doe-proxy/src/socket/server.rs")
    );
    assert_eq!(repository_path(".ci/run"), Some(".ci/run"));
    assert_eq!(repository_path("README.md"), Some("README.md"));
    assert_eq!(
        repository_path("resources/bench/scenarios/<name>/l1.sh"),
        Some("resources/bench/scenarios/")
    );
    assert_eq!(repository_path("doe_proxy::pci_address::Bdf"), None);
    assert_eq!(repository_path("vmm --doe-socket"), None);
    assert_eq!(repository_path("drivers/pci/doe.c"), None);
    assert_eq!(repository_path("lib.sh"), None);
    assert_eq!(repository_path("vcpu<N>"), None);
}
