//! The TSM (TEE Security Manager) side of a function: since Linux 6.19 PCI/TSM may take
//! PF0's CMA/SPDM mailbox in the host kernel once a user writes a TSM's name to the
//! function's `tsm/connect`; PF0 is the device security manager of its other functions and
//! VFs (reference: `doe-sources.md` §5.2). `tsm/` exists only on a PF0 while a TSM is
//! registered (`/sys/class/tsm/`).

use serde::Serialize;

use super::host::HostPaths;
use crate::pci_address::Bdf;

/// The TSM connection of the function, as its `tsm/connect` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Connection {
    /// No `tsm/` directory: not a PF0, or no TSM registered.
    Absent,
    /// `tsm/` present, `connect` empty.
    NotConnected,
    /// Connected to this TSM: the kernel exchanges on PF0's CMA mailbox.
    Connected {
        /// The TSM's name (`tsm0`).
        tsm: String,
    },
    /// `tsm/connect` could not be read.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// A function's TSM state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TsmState {
    /// Its own connection.
    pub connection: Connection,
    /// The TSMs registered with the host (`/sys/class/tsm/`).
    pub host_tsms: Vec<String>,
    /// The PF0 that is its device security manager, when that is another function (a VF,
    /// or a function other than 0 of its device).
    pub security_manager: Option<Bdf>,
}

impl TsmState {
    /// Whether a TSM holds this function's CMA mailbox now.
    pub fn connected(&self) -> Option<&str> {
        match &self.connection {
            Connection::Connected { tsm } => Some(tsm),
            _ => None,
        }
    }
}

/// Reads the TSM state of `bdf`.
pub fn tsm_state(host: &HostPaths, bdf: Bdf) -> TsmState {
    let dir = host.function_dir(bdf).join("tsm");
    let connection = if !dir.is_dir() {
        Connection::Absent
    } else {
        match std::fs::read_to_string(dir.join("connect")) {
            Ok(text) if text.trim().is_empty() => Connection::NotConnected,
            Ok(text) => Connection::Connected {
                tsm: text.trim().to_owned(),
            },
            Err(e) => Connection::Unreadable {
                reason: e.to_string(),
            },
        }
    };
    let mut host_tsms: Vec<String> = std::fs::read_dir(host.sys.join("class/tsm"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    host_tsms.sort();
    let owner = host.physical_function(bdf).unwrap_or(bdf);
    let pf0 = Bdf {
        function: 0,
        ..owner
    };
    TsmState {
        connection,
        host_tsms,
        security_manager: (pf0 != bdf).then_some(pf0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::test_tree::FakeHost;

    fn bdf(text: &str) -> Bdf {
        text.parse().unwrap()
    }

    #[test]
    fn no_tsm_directory_is_absent() {
        let host = FakeHost::new();
        host.function(bdf("0d:00.0"));
        let state = tsm_state(&host.paths(), bdf("0d:00.0"));
        assert_eq!(state.connection, Connection::Absent);
        assert!(state.host_tsms.is_empty());
        assert_eq!(state.security_manager, None);
        assert_eq!(state.connected(), None);
    }

    #[test]
    fn connect_names_the_tsm() {
        let host = FakeHost::new();
        host.host_tsm("tsm0");
        host.function(bdf("0d:00.0")).tsm("tsm0");
        let state = tsm_state(&host.paths(), bdf("0d:00.0"));
        assert_eq!(state.connected(), Some("tsm0"));
        assert_eq!(state.host_tsms, vec!["tsm0"]);
        host.function(bdf("0d:00.0")).tsm("");
        assert_eq!(
            tsm_state(&host.paths(), bdf("0d:00.0")).connection,
            Connection::NotConnected
        );
    }

    #[test]
    fn a_vf_and_a_second_function_are_managed_by_pf0() {
        let host = FakeHost::new();
        host.function(bdf("0d:00.4")).physfn(bdf("0d:00.0"));
        host.function(bdf("0d:00.1"));
        assert_eq!(
            tsm_state(&host.paths(), bdf("0d:00.4")).security_manager,
            Some(bdf("0d:00.0"))
        );
        assert_eq!(
            tsm_state(&host.paths(), bdf("0d:00.1")).security_manager,
            Some(bdf("0d:00.0"))
        );
    }
}
