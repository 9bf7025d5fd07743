//! What the tools that speak DOE protocols need of a mailbox: exchange one whole data object.
//! The register-level driver ([`Mailbox`]) does it on the hardware; a
//! [`SocketMailbox`](crate::socket::client::SocketMailbox) does it through a mediator's socket.
//! The protocol walks built on it ([`walk_discovery`], [`cdat_read`](crate::cdat_read)) are
//! the same either way.

use crate::config_space::ConfigSpace;
use crate::mailbox::{Mailbox, MailboxError};
use crate::protocol::discovery::{
    DiscoveryError, DiscoveryRequest, DiscoveryResponse, MAX_DISCOVERY_ENTRIES,
};
use crate::protocol::ProtocolId;

/// Exchanges whole DOE data objects (header included) with one mailbox.
pub trait ObjectExchange {
    /// Why an exchange failed.
    type Error: std::error::Error + 'static;

    /// Sends `request` and returns the response object.
    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, Self::Error>;
}

impl<X: ObjectExchange + ?Sized> ObjectExchange for &mut X {
    type Error = X::Error;

    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, X::Error> {
        (**self).exchange(request)
    }
}

impl<C: ConfigSpace> ObjectExchange for Mailbox<C> {
    type Error = MailboxError;

    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, MailboxError> {
        Mailbox::exchange(self, request)
    }
}

/// Why a Discovery walk failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryWalkError<E: std::error::Error + 'static> {
    /// An exchange failed.
    #[error(transparent)]
    Exchange(E),
    /// A response is not a Discovery response.
    #[error("malformed Discovery response: {0}")]
    Malformed(#[source] DiscoveryError),
    /// The mailbox offered an index it had already listed.
    #[error("Discovery loops back to index {0}")]
    Loop(u8),
}

/// Lists the protocols of a mailbox, in index order (Discovery itself first), asking with
/// Discovery `version`. Bounded by the 256 indices an 8-bit index can name; an index
/// offered twice is an error rather than a loop.
pub fn walk_discovery<X: ObjectExchange + ?Sized>(
    mailbox: &mut X,
    version: u8,
) -> Result<Vec<ProtocolId>, DiscoveryWalkError<X::Error>> {
    let mut asked = [false; MAX_DISCOVERY_ENTRIES];
    let mut protocols = Vec::new();
    let mut index = 0u8;
    for _ in 0..MAX_DISCOVERY_ENTRIES {
        asked[usize::from(index)] = true;
        let response = mailbox
            .exchange(&DiscoveryRequest { index, version }.encode())
            .map_err(DiscoveryWalkError::Exchange)?;
        let response =
            DiscoveryResponse::decode(&response).map_err(DiscoveryWalkError::Malformed)?;
        log::debug!("Discovery index {index}: {}", response.protocol);
        protocols.push(response.protocol);
        if response.next_index == 0 {
            return Ok(protocols);
        }
        if asked[usize::from(response.next_index)] {
            return Err(DiscoveryWalkError::Loop(response.next_index));
        }
        index = response.next_index;
    }
    // 256 steps visit every index once, so the next one must repeat.
    Err(DiscoveryWalkError::Loop(index))
}
