//! The Discovery walk over a live mailbox: ask index 0, follow each next index until 0.

use log::debug;

use super::driver::Mailbox;
use super::error::MailboxError;
use crate::config_space::ConfigSpace;
use crate::protocol::discovery::{DiscoveryRequest, DiscoveryResponse, MAX_DISCOVERY_ENTRIES};
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
        let mut asked = [false; MAX_DISCOVERY_ENTRIES];
        let mut protocols = Vec::new();
        let mut index = 0u8;
        for _ in 0..MAX_DISCOVERY_ENTRIES {
            asked[usize::from(index)] = true;
            let response = self.exchange(&DiscoveryRequest { index, version }.encode())?;
            let response =
                DiscoveryResponse::decode(&response).map_err(MailboxError::MalformedDiscovery)?;
            debug!(
                "DOE [{:#x}] Discovery index {index}: {}",
                self.cap_offset(),
                response.protocol
            );
            protocols.push(response.protocol);
            if response.next_index == 0 {
                return Ok(protocols);
            }
            if asked[usize::from(response.next_index)] {
                return Err(MailboxError::DiscoveryLoop(response.next_index));
            }
            index = response.next_index;
        }
        // 256 steps visit every index once, so the next one must repeat.
        Err(MailboxError::DiscoveryLoop(index))
    }
}
