//! The console marks `doe-bench --pause-ms M` prints around each operation: a line
//! `@@doe-bench mark <op>-begin` before it and `@@doe-bench mark <op>-end` after it, each
//! followed by an M ms pause with the tool idle, so whoever reads the console (L1's script)
//! can snapshot the VMM's exit counters between operations while the guest makes no exits.

use std::io::Write;
use std::thread;
use std::time::Duration;

/// What every mark line starts with.
pub const PREFIX: &str = "@@doe-bench mark ";

/// The operations, in the order doe-bench runs them (the names in the marks).
pub const OPERATIONS: [&str; 4] = [
    "discovery-exchange",
    "discovery-walk",
    "cdat-exchange",
    "cdat-read",
];

/// Which side of an operation a mark is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Printed before the operation's warm-up run.
    Begin,
    /// Printed after its last timed run.
    End,
}

impl Edge {
    fn suffix(self) -> &'static str {
        match self {
            Edge::Begin => "-begin",
            Edge::End => "-end",
        }
    }
}

/// The mark's name: `<op>-begin` or `<op>-end`.
pub fn name(op: &str, edge: Edge) -> String {
    format!("{op}{}", edge.suffix())
}

/// Splits a mark name (`cdat-read-end`) into its operation and edge.
pub fn parse_name(mark: &str) -> Option<(&str, Edge)> {
    [Edge::Begin, Edge::End]
        .into_iter()
        .find_map(|edge| mark.strip_suffix(edge.suffix()).map(|op| (op, edge)))
        .filter(|(op, _)| OPERATIONS.contains(op))
}

/// Prints the marks and pauses after each; does nothing with a zero pause (the report is
/// then the tool's only output).
#[derive(Debug, Clone, Copy)]
pub struct Marker {
    /// The pause after each mark.
    pub pause: Duration,
}

impl Marker {
    /// Prints the mark for `op`'s `edge`, flushes stdout, then pauses.
    pub fn mark(&self, op: &str, edge: Edge) -> Result<(), String> {
        if self.pause.is_zero() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{PREFIX}{}", name(op, edge))
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot print a mark: {e}"))?;
        drop(out);
        thread::sleep(self.pause);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in OPERATIONS {
            for edge in [Edge::Begin, Edge::End] {
                assert_eq!(parse_name(&name(op, edge)), Some((op, edge)));
            }
        }
        assert_eq!(name("cdat-read", Edge::End), "cdat-read-end");
        assert_eq!(parse_name("cdat-read"), None);
        assert_eq!(parse_name("something-begin"), None);
    }
}
