//! One registration: who mediates a function's DOE mailboxes, as the TOML file
//! `<registry>/<BDF>` holds it (format in `doe-proxy/README.md`, "The owner registry").

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ext_cap::parse_offset;

/// `program` of a registration by `vmm`.
pub const PROGRAM_VMM: &str = "vmm";
/// `program` of a registration by `doe-proxyd`.
pub const PROGRAM_DOE_PROXYD: &str = "doe-proxyd";

/// Who owns a function's DOE mailboxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerRecord {
    /// The owning program: [`PROGRAM_VMM`], [`PROGRAM_DOE_PROXYD`], or another mediator's name.
    pub program: String,
    /// Its process id.
    pub pid: u32,
    /// Its start time (clock ticks since boot, `/proc/<pid>/stat` field 22), when known: a
    /// live pid that started at another time is another process.
    pub start_time: Option<u64>,
    /// The DOE socket it serves the mailboxes on; `None` when it serves none (`vmm` without
    /// `--doe-socket`).
    pub socket: Option<PathBuf>,
    /// The config-space offsets of the mailboxes it drives.
    pub mailboxes: Vec<u16>,
}

/// The file's fields (mailbox offsets as `0x190` strings, to read like `lspci`).
#[derive(Serialize, Deserialize)]
struct RecordFile {
    program: String,
    pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    socket: Option<PathBuf>,
    #[serde(default)]
    mailboxes: Vec<String>,
}

impl OwnerRecord {
    /// The file's text: a comment line and the TOML fields.
    pub fn render(&self) -> Result<String, String> {
        let file = RecordFile {
            program: self.program.clone(),
            pid: self.pid,
            start_time: self.start_time,
            socket: self.socket.clone(),
            mailboxes: self.mailboxes.iter().map(|o| format!("{o:#x}")).collect(),
        };
        let body = toml::to_string(&file).map_err(|e| e.to_string())?;
        Ok(format!(
            "# The DOE mailboxes of this function are mediated by {self}; \
             removed when it exits.\n{body}"
        ))
    }

    /// Parses a file's text; the reason when it is not a registration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: RecordFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        if file.program.trim().is_empty() {
            return Err("`program` is empty".to_owned());
        }
        let mailboxes = file
            .mailboxes
            .iter()
            .map(|m| parse_offset(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OwnerRecord {
            program: file.program,
            pid: file.pid,
            start_time: file.start_time,
            socket: file.socket,
            mailboxes,
        })
    }
}

impl fmt::Display for OwnerRecord {
    /// `vmm (pid 1234)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.program, self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> OwnerRecord {
        OwnerRecord {
            program: PROGRAM_VMM.to_owned(),
            pid: 1234,
            start_time: Some(99),
            socket: Some(PathBuf::from("/run/vmm-doe.sock")),
            mailboxes: vec![0x190, 0x1b0],
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let text = record().render().unwrap();
        assert!(text.starts_with("# "), "{text}");
        assert!(
            text.contains("mailboxes = [\"0x190\", \"0x1b0\"]"),
            "{text}"
        );
        assert_eq!(OwnerRecord::parse(&text).unwrap(), record());
    }

    #[test]
    fn a_record_without_socket_or_start_time_reads_back() {
        let bare = OwnerRecord {
            socket: None,
            start_time: None,
            ..record()
        };
        let text = bare.render().unwrap();
        assert!(!text.contains("socket"), "{text}");
        assert_eq!(OwnerRecord::parse(&text).unwrap(), bare);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for text in [
            "",
            "not toml at all [",
            "program = \"vmm\"",
            "program = \"\"\npid = 1",
            "program = \"vmm\"\npid = -1",
            "program = \"vmm\"\npid = 1\nmailboxes = [\"0xZZ\"]",
            "program = \"vmm\"\npid = 1\nmailboxes = [400]",
        ] {
            let e = OwnerRecord::parse(text).expect_err(text);
            assert!(!e.is_empty(), "{text}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_for_later_versions() {
        let parsed = OwnerRecord::parse("program = \"qemu\"\npid = 5\nversion = 2\n").unwrap();
        assert_eq!(parsed.program, "qemu");
        assert!(parsed.mailboxes.is_empty());
        assert_eq!(parsed.to_string(), "qemu (pid 5)");
    }
}
