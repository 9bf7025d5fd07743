//! The Discovery walk over a live mailbox: ask index 0, follow each next index until 0.

use super::driver::Mailbox;
use super::error::MailboxError;
use crate::config_space::ConfigSpace;
use crate::exchange::{walk_discovery, DiscoveryWalkError};
use crate::protocol::ProtocolId;

/// From this DOE capability version on, Linux sends Discovery version 2.
const CAP_VERSION_WITH_DISCOVERY_V2: u8 = 2;
/// Discovery version 2 (the response may carry a max-length dword; PCIe r6.1).
const DISCOVERY_VERSION_2: u8 = 2;
/// Discovery version sent to older instances.
const DISCOVERY_VERSION_0: u8 = 0;

impl<C: ConfigSpace> Mailbox<C> {
    /// Lists the protocols the instance supports, in index order (Discovery itself
    /// first). Bounded by the 256 indices an 8-bit index can name; an index offered twice
    /// is an error rather than a loop.
    pub fn discover(&mut self) -> Result<Vec<ProtocolId>, MailboxError> {
        let version = if self.cap_version() >= CAP_VERSION_WITH_DISCOVERY_V2 {
            DISCOVERY_VERSION_2
        } else {
            DISCOVERY_VERSION_0
        };
        walk_discovery(self, version).map_err(|e| match e {
            DiscoveryWalkError::Exchange(e) => e,
            DiscoveryWalkError::Malformed(e) => MailboxError::MalformedDiscovery(e),
            DiscoveryWalkError::Loop(index) => MailboxError::DiscoveryLoop(index),
        })
    }
}
