//! What can go wrong when driving a DOE mailbox.

use crate::config_space::ConfigError;
use crate::protocol::discovery::DiscoveryError;
use crate::protocol::{HeaderError, ProtocolId};

/// A failed mailbox operation.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// A config-space access failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The offset cannot hold a DOE capability (below 0x100, unaligned, or the 24-byte
    /// capability would pass the end of config space).
    #[error("offset {0:#x} cannot hold a DOE capability")]
    BadCapOffset(u16),
    /// The capability at the offset is not DOE.
    #[error("capability at {offset:#x} has ID {id:#x}, not DOE (0x2e)")]
    NotDoe {
        /// The offset asked for.
        offset: u16,
        /// The capability ID found there.
        id: u16,
    },
    /// The request is not a well-formed data object; nothing was sent.
    #[error("malformed request: {0}")]
    MalformedRequest(#[source] HeaderError),
    /// The response header is malformed (length field 1).
    #[error("malformed response: {0}")]
    MalformedResponse(#[source] HeaderError),
    /// A Discovery response could not be decoded.
    #[error("malformed Discovery response: {0}")]
    MalformedDiscovery(#[source] DiscoveryError),
    /// Busy did not clear within the timeout before sending (another requester is using
    /// the mailbox, or the device is stuck). The mailbox was aborted.
    #[error("DOE mailbox still busy after the timeout; another entity may be using it")]
    BusyTimeout,
    /// No response (Data Object Ready) within the timeout after Go. The mailbox was aborted.
    #[error("no DOE response within the timeout")]
    Timeout,
    /// The device set DOE Error. The mailbox was aborted.
    #[error("DOE device reported an error")]
    DeviceError,
    /// The response belongs to a different protocol than the request. The mailbox was
    /// aborted.
    #[error("DOE response is for {got}, expected {expected}")]
    ProtocolMismatch {
        /// The request's protocol.
        expected: ProtocolId,
        /// The protocol in the response header.
        got: ProtocolId,
    },
    /// Data Object Ready cleared before the last dword the header announced. The mailbox
    /// was aborted.
    #[error("DOE response truncated: header announced {announced} dwords")]
    ResponseTruncated {
        /// Length in dwords from the response header.
        announced: usize,
    },
    /// Data Object Ready stayed set after the dwords the header announced: the device had
    /// more data. The mailbox was aborted to flush it.
    #[error("DOE response overran its header's length of {announced} dwords")]
    ResponseOverrun {
        /// Length in dwords from the response header.
        announced: usize,
    },
    /// Discovery's next index pointed back to an index already asked for.
    #[error("DOE Discovery loops back to index {0}")]
    DiscoveryLoop(u8),
    /// An abort did not clear Busy and Error within the abort timeout. The mailbox is now
    /// dead.
    #[error("DOE abort did not complete; mailbox marked dead")]
    AbortTimeout,
    /// An earlier abort failed; the mailbox is not used any more.
    #[error("DOE mailbox is dead")]
    Dead,
}
