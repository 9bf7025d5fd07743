//! Debian package handling for `bench setup`.
//!
//! The mirror is never written into the repository: it is read from the machine's own apt
//! sources (deb822 `.sources` files or one-line `sources.list`), and extra suites are added
//! with that same URI. `bookworm-backports` goes into the system sources (pinned low by apt
//! itself, installed from with `-t`); `sid` only ever goes into a private source list and
//! state directory, so later installs never pull sid's libc.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::BenchError;
use super::runner::run_checked;

/// The system's apt source files, one-line and deb822 formats.
const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
/// The file `bench setup` adds for the backports suite.
pub const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/bench-backports.sources";
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// One apt source: a URI and the suites it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The archive URI.
    pub uri: String,
    /// Suites (`bookworm`, `bookworm-updates`, ...).
    pub suites: Vec<String>,
}

/// Parses the sources of a deb822 `.sources` file.
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for stanza in text.split("\n\n") {
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut enabled = true;
        for line in stanza.lines().map(str::trim) {
            if line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                let words = value.split_whitespace().map(str::to_owned);
                match key.trim() {
                    "URIs" => uris.extend(words),
                    "Suites" => suites.extend(words),
                    "Enabled" => enabled = value.trim() != "no",
                    _ => {}
                }
            }
        }
        if enabled {
            for uri in uris {
                sources.push(AptSource {
                    uri,
                    suites: suites.clone(),
                });
            }
        }
    }
    sources
}

/// Parses the `deb` lines of a one-line `sources.list`.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let mut words = line.split_whitespace();
            if words.next()? != "deb" {
                return None;
            }
            let mut uri = words.next()?;
            if uri.starts_with('[') {
                // Options such as `[signed-by=...]` may span words up to the closing bracket.
                while !uri.ends_with(']') {
                    uri = words.next()?;
                }
                uri = words.next()?;
            }
            let suite = words.next()?;
            Some(AptSource {
                uri: uri.to_owned(),
                suites: vec![suite.to_owned()],
            })
        })
        .collect()
}

/// Every apt source configured on this machine.
pub fn system_sources() -> Vec<AptSource> {
    let mut sources = Vec::new();
    if let Ok(text) = fs::read_to_string(SOURCES_LIST) {
        sources.extend(parse_one_line(&text));
    }
    if let Ok(entries) = fs::read_dir(SOURCES_DIR) {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            match path.extension().and_then(|e| e.to_str()) {
                Some("sources") => sources.extend(parse_deb822(&text)),
                Some("list") => sources.extend(parse_one_line(&text)),
                _ => {}
            }
        }
    }
    sources
}

/// The Debian mirror that serves `codename` on this machine.
pub fn mirror_for(sources: &[AptSource], codename: &str) -> Option<String> {
    sources
        .iter()
        .find(|s| s.suites.iter().any(|suite| suite == codename))
        .map(|s| s.uri.clone())
}

/// This machine's Debian codename, from `/etc/os-release`.
pub fn codename() -> Result<String, BenchError> {
    let text = fs::read_to_string("/etc/os-release").map_err(BenchError::io("/etc/os-release"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| BenchError::Setup("no VERSION_CODENAME in /etc/os-release".into()))
}

/// A deb822 stanza for one suite of `uri`.
pub fn deb822_stanza(uri: &str, suite: &str) -> String {
    format!(
        "Types: deb\nURIs: {uri}\nSuites: {suite}\nComponents: main\nSigned-By: {DEBIAN_KEYRING}\n"
    )
}

/// `apt-get` with a non-interactive front end.
pub fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// A private apt configuration for one extra suite (used for `sid`), isolated from the
/// system's sources and package lists.
#[derive(Debug)]
pub struct PrivateSuite {
    source_list: PathBuf,
    lists: PathBuf,
    cache: PathBuf,
}

impl PrivateSuite {
    /// Prepares the private configuration under `dir` for `suite` of `uri`.
    pub fn create(dir: &Path, uri: &str, suite: &str) -> Result<Self, BenchError> {
        let lists = dir.join("lists");
        let cache = dir.join("cache");
        for d in [
            &lists.join("partial"),
            &cache.join("archives").join("partial"),
        ] {
            fs::create_dir_all(d).map_err(BenchError::io(d))?;
        }
        let source_list = dir.join(format!("{suite}.sources"));
        fs::write(&source_list, deb822_stanza(uri, suite)).map_err(BenchError::io(&source_list))?;
        Ok(PrivateSuite {
            source_list,
            lists,
            cache,
        })
    }

    /// An apt command (`apt-get` or `apt-cache`) that sees only this suite.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .arg("-o")
            .arg(format!(
                "Dir::Etc::SourceList={}",
                self.source_list.display()
            ))
            .arg("-o")
            .arg("Dir::Etc::SourceParts=/dev/null")
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", self.lists.display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", self.cache.display()))
            .arg("-o")
            .arg("Dir::State::status=/dev/null");
        cmd
    }

    /// Refreshes the private package lists.
    pub fn update(&self) -> Result<(), BenchError> {
        let mut cmd = self.command("apt-get");
        cmd.arg("update");
        run_checked(&mut cmd)
    }
}

/// The versioned package a meta package (e.g. `linux-image-amd64`) depends on first, whose
/// name starts with `prefix`, as `apt-cache depends` reports it.
pub fn first_dependency(depends_output: &str, prefix: &str) -> Option<String> {
    depends_output.lines().find_map(|line| {
        let dep = line.trim().strip_prefix("Depends:")?.trim();
        let dep = dep.trim_start_matches('<').trim_end_matches('>');
        dep.starts_with(prefix).then(|| dep.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_mirror_is_found() {
        let text = "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        let sources = parse_deb822(text);
        assert_eq!(
            mirror_for(&sources, "bookworm").as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(mirror_for(&sources, "sid"), None);
    }

    #[test]
    fn one_line_mirror_is_found_with_options() {
        let text = "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n# deb http://x bookworm main\ndeb-src http://y bookworm main\n";
        let sources = parse_one_line(text);
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].uri, "http://m.example/debian");
    }

    #[test]
    fn disabled_stanza_is_ignored() {
        let text = "Enabled: no\nURIs: http://a\nSuites: bookworm\n";
        assert!(parse_deb822(text).is_empty());
    }

    #[test]
    fn kernel_dependency_is_resolved() {
        let out =
            "linux-image-amd64\n  Depends: linux-image-6.12.95+deb12-amd64\n  Depends: <other>\n";
        assert_eq!(
            first_dependency(out, "linux-image-").as_deref(),
            Some("linux-image-6.12.95+deb12-amd64")
        );
    }
}
