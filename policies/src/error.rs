//! What can be wrong with a policy file, and where.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use crate::ids::ProtocolId;
use crate::spdm::SpdmRequestCode;

/// A policy that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("cannot read policy {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid policy: `<file>:<line>:<column>: <message>`.
    #[error("{origin}:{location}: {message}")]
    Invalid {
        /// The file (or `<builtin>`, or the name given to [`crate::Policy::parse`]).
        origin: String,
        /// Where in it.
        location: Location,
        /// What is wrong.
        message: String,
    },
}

/// A line and column in a policy file, both from 1 (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text` (clamped to the text).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The location of the start of `span`, or of the end of the text without a span.
    pub fn of_span(text: &str, span: Option<Range<usize>>) -> Self {
        Self::of_offset(text, span.map_or(text.len(), |span| span.start))
    }
}

/// Formats as `line:column`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value or a combination of values that is not a valid policy (the message of
/// [`PolicyError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// `version` is not one this crate reads.
    #[error("unsupported policy format version {0}; this build reads version {version}", version = crate::FORMAT_VERSION)]
    Version(i64),
    /// A guest name that is empty, `*` inside a list, or has spaces or control characters.
    #[error("{0:?} is not a guest name: use the --name given to vmm (no spaces; \"*\" alone means every guest)")]
    GuestName(String),
    /// A protocol that is not `vvvv:tt`.
    #[error(
        "{0:?} is not a DOE protocol: write vendor:type as 4 and 2 hex digits, e.g. \"0001:01\""
    )]
    Protocol(String),
    /// A function that is neither a PCI address nor `vvvv:dddd`.
    #[error("{0:?} is not a function: write a PCI address (\"0000:0d:00.0\") or vendor:device as 4 and 4 hex digits (\"8086:0d93\")")]
    Function(String),
    /// A PCI address that does not parse.
    #[error("bad function address: {0}")]
    FunctionAddress(String),
    /// A list that matches nothing.
    #[error("empty list for `{0}` matches nothing; remove the key or the rule, or write \"*\"")]
    EmptyList(&'static str),
    /// A rule without any of `guests`, `uids`, `gids`.
    #[error("rule applies to no client: give it `guests`, `uids` or `gids`")]
    NoClient,
    /// Two rules with one name.
    #[error("duplicate rule name {name:?} (first used on line {first_line})")]
    DuplicateName {
        /// The name.
        name: String,
        /// The line of its first use.
        first_line: usize,
    },
    /// An empty rule name.
    #[error("rule name is empty")]
    EmptyName,
    /// A deny rule with a limit only allow rules have.
    #[error("`{0}` applies only to allow rules; a deny rule refuses everything it matches")]
    LimitOnDeny(&'static str),
    /// A deny rule naming Discovery.
    #[error(
        "Discovery (0001:00) cannot be denied: it is answered from the list this policy filters"
    )]
    DiscoveryDenied,
    /// An `spdm` table on a rule whose protocols cannot include CMA/SPDM.
    #[error("`spdm` filters CMA/SPDM ({cma}) request codes, a protocol this rule does not list", cma = ProtocolId::CMA_SPDM)]
    SpdmWithoutCma,
    /// A request code in both `spdm.allow` and `spdm.deny`.
    #[error("SPDM request {0} is both allowed and denied")]
    SpdmBothWays(SpdmRequestCode),
    /// A request code listed twice in one list.
    #[error("SPDM request {0} is listed twice")]
    SpdmTwice(SpdmRequestCode),
    /// An `spdm` table with neither list.
    #[error("`spdm` needs `allow`, `deny` or both")]
    SpdmEmpty,
    /// `max_object_dwords` out of range.
    #[error(
        "max_object_dwords {0} is out of range: a DOE object is 2 (header) to 262144 (2^18) dwords"
    )]
    MaxObject(i64),
    /// A rate or burst out of range.
    #[error("rate.{field} {value} is out of range: it must be 1 to {max}")]
    Rate {
        /// `per_second` or `burst`.
        field: &'static str,
        /// The value written.
        value: i64,
        /// The largest allowed.
        max: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters_from_one() {
        let text = "ab\nçd = 1\n";
        assert_eq!(Location::of_offset(text, 0).to_string(), "1:1");
        assert_eq!(Location::of_offset(text, 3).to_string(), "2:1");
        // 'ç' is two bytes but one column.
        assert_eq!(Location::of_offset(text, 5).to_string(), "2:2");
        // Inside a character: its start. Past the end: the end.
        assert_eq!(Location::of_offset(text, 4).to_string(), "2:1");
        assert_eq!(Location::of_offset(text, 99).to_string(), "3:1");
        assert_eq!(Location::of_span(text, None).to_string(), "3:1");
    }

    #[test]
    fn invalid_formats_as_file_line_column_message() {
        let err = PolicyError::Invalid {
            origin: "p.toml".into(),
            location: Location { line: 4, column: 9 },
            message: "bad".into(),
        };
        assert_eq!(err.to_string(), "p.toml:4:9: bad");
    }
}
