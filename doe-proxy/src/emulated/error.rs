//! Why an emulated function could not be built.

use crate::ext_cap::ExtCapError;
use crate::protocol::ProtocolId;

/// An emulated function that cannot be built as described.
#[derive(Debug, thiserror::Error)]
pub enum EmulatedError {
    /// Linking a capability into the extended capability list failed.
    #[error(transparent)]
    ExtCap(#[from] ExtCapError),
    /// Two capabilities overlap.
    #[error("extended capabilities at {first:#x} and {second:#x} overlap")]
    Overlap {
        /// The lower capability.
        first: u16,
        /// The capability that starts inside it.
        second: u16,
    },
    /// A capability does not fit in extended config space (below 0x100, unaligned, or
    /// running past 0xfff).
    #[error("an extended capability cannot be placed at {0:#x}")]
    BadOffset(u16),
    /// Two responders on one instance answer the same protocol.
    #[error("protocol {0} registered twice on one DOE instance")]
    DuplicateProtocol(ProtocolId),
    /// More protocols than Discovery's 8-bit index can list (256, Discovery included).
    #[error("{0} protocols on one DOE instance; Discovery can list at most 256")]
    TooManyProtocols(usize),
}
