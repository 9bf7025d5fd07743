//! doectl's errors and their exit codes (a contract, documented in the README).

use doe_proxy::cdat_read::CdatReadError;
use doe_proxy::config_space::ConfigError;
use doe_proxy::ext_cap::ExtCapError;
use doe_proxy::mailbox::MailboxError;
use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::ProtocolId;
use doe_proxy::sysfs_scan::ScanError;

/// Why doectl failed; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The function does not exist.
    #[error("no such device: {0}")]
    NoSuchDevice(String),
    /// The function has no DOE mailbox.
    #[error("{0} has no DOE mailbox")]
    NoDoe(Bdf),
    /// No mailbox of the function offers the protocol.
    #[error("{bdf} has no DOE mailbox offering {protocol}")]
    NoProtocol {
        /// The function.
        bdf: Bdf,
        /// The protocol asked for.
        protocol: ProtocolId,
    },
    /// No DOE capability at the offset given with --mailbox.
    #[error("{bdf} has no DOE mailbox at {offset:#x} (it has: {have})")]
    NoMailboxAt {
        /// The function.
        bdf: Bdf,
        /// The offset asked for.
        offset: u16,
        /// The offsets it has.
        have: String,
    },
    /// Access was refused.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The mailbox did not answer in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The device answered with something malformed.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The device reported an error or the mailbox is dead.
    #[error("device error: {0}")]
    Device(String),
    /// A mediator owns the function's mailboxes (the text names it and its socket).
    #[error("{0}")]
    Owned(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl ToolError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            ToolError::Other(_) => 1,
            ToolError::NoSuchDevice(_) => 3,
            ToolError::NoDoe(_) | ToolError::NoProtocol { .. } | ToolError::NoMailboxAt { .. } => 4,
            ToolError::PermissionDenied(_) => 5,
            ToolError::Timeout(_) => 6,
            ToolError::Malformed(_) => 7,
            ToolError::Device(_) => 8,
            ToolError::Owned(_) => 9,
        }
    }
}

impl From<ConfigError> for ToolError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::NoSuchDevice { .. } => ToolError::NoSuchDevice(e.to_string()),
            ConfigError::PermissionDenied { .. } | ConfigError::Short(_) => {
                ToolError::PermissionDenied(format!(
                    "{e} (extended config space and DOE need root)"
                ))
            }
            other => ToolError::Other(other.to_string()),
        }
    }
}

impl From<MailboxError> for ToolError {
    fn from(e: MailboxError) -> Self {
        let text = e.to_string();
        match e {
            MailboxError::Config(c) => c.into(),
            MailboxError::BusyTimeout | MailboxError::Timeout => ToolError::Timeout(text),
            MailboxError::DeviceError | MailboxError::Dead | MailboxError::AbortTimeout => {
                ToolError::Device(text)
            }
            MailboxError::MalformedResponse(_)
            | MailboxError::MalformedDiscovery(_)
            | MailboxError::ProtocolMismatch { .. }
            | MailboxError::ResponseTruncated { .. }
            | MailboxError::ResponseOverrun { .. }
            | MailboxError::DiscoveryLoop(_) => ToolError::Malformed(text),
            _ => ToolError::Other(text),
        }
    }
}

impl From<ScanError> for ToolError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Config(c) | ScanError::Chain(ExtCapError::Config(c)) => c.into(),
            chain => ToolError::Malformed(format!("extended capability chain: {chain}")),
        }
    }
}

impl<E: std::error::Error + Into<ToolError> + 'static> From<CdatReadError<E>> for ToolError {
    fn from(e: CdatReadError<E>) -> Self {
        match e {
            CdatReadError::Mailbox(m) => m.into(),
            other => ToolError::Malformed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use doe_proxy::protocol::HeaderError;

    use super::*;

    #[test]
    fn every_failure_kind_has_its_exit_code() {
        let path = PathBuf::from("/sys/bus/pci/devices/0000:77:00.0/config");
        let bdf: Bdf = "0000:0d:00.0".parse().unwrap();
        let cases: Vec<(ToolError, u8)> = vec![
            (ConfigError::NoSuchDevice { path: path.clone() }.into(), 3),
            (ToolError::NoDoe(bdf), 4),
            (
                ToolError::NoProtocol {
                    bdf,
                    protocol: ProtocolId::CXL_TABLE_ACCESS,
                },
                4,
            ),
            (ConfigError::PermissionDenied { path }.into(), 5),
            (ConfigError::Short(0x100).into(), 5),
            (MailboxError::Timeout.into(), 6),
            (MailboxError::BusyTimeout.into(), 6),
            (
                MailboxError::MalformedResponse(HeaderError::LengthTooSmall(1)).into(),
                7,
            ),
            (
                MailboxError::ProtocolMismatch {
                    expected: ProtocolId::DISCOVERY,
                    got: ProtocolId::CMA_SPDM,
                }
                .into(),
                7,
            ),
            (MailboxError::DeviceError.into(), 8),
            (MailboxError::Dead.into(), 8),
            (ScanError::Chain(ExtCapError::TooMany).into(), 7),
            (ToolError::Owned("owned by vmm".to_owned()), 9),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn config_errors_inside_the_chain_walk_keep_their_meaning() {
        let e: ToolError = ScanError::Chain(ExtCapError::Config(ConfigError::Short(0x100))).into();
        assert_eq!(e.exit_code(), 5);
    }
}
