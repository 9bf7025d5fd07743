//! The physical mailbox as the mediator drives it, behind one lock shared by the worker
//! and by a client that runs its own exchange ([`MediatorClient::drive`]).
//!
//! [`MediatorClient::drive`]: super::MediatorClient::drive

use std::time::Instant;

use crate::config_space::ConfigSpace;
use crate::mailbox::{Attempt, Mailbox, MailboxError, Pending};
use crate::protocol::ProtocolId;

/// What the mediator needs of its [`Mailbox`], whatever config space it is reached through.
pub(super) trait Device: Send {
    /// A whole exchange with the driver's timeouts and recovery.
    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, MailboxError>;
    /// As much of an exchange as fits before `until`, never sleeping.
    fn attempt(&mut self, request: &[u32], until: Instant) -> Attempt;
    /// The rest of an attempt, with the driver's timeouts and recovery.
    fn resume(&mut self, request: &[u32], pending: Pending) -> Result<Vec<u32>, MailboxError>;
    /// Aborts whatever the instance is doing (after a run that panicked), with the
    /// driver's abort timeout; a failed abort leaves the mailbox dead.
    fn abort(&mut self) -> Result<(), MailboxError>;
    /// Tries a dead (or unknown) mailbox again: an abort that must complete.
    fn revive(&mut self) -> Result<(), MailboxError>;
    /// The Discovery walk.
    fn discover(&mut self) -> Result<Vec<ProtocolId>, MailboxError>;
    /// Offset of the DOE capability (for logs).
    fn cap_offset(&self) -> u16;
}

impl<C: ConfigSpace + Send> Device for Mailbox<C> {
    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, MailboxError> {
        Mailbox::exchange(self, request)
    }

    fn attempt(&mut self, request: &[u32], until: Instant) -> Attempt {
        Mailbox::attempt(self, request, until)
    }

    fn resume(&mut self, request: &[u32], pending: Pending) -> Result<Vec<u32>, MailboxError> {
        Mailbox::resume(self, request, pending)
    }

    fn abort(&mut self) -> Result<(), MailboxError> {
        Mailbox::abort(self)
    }

    fn revive(&mut self) -> Result<(), MailboxError> {
        Mailbox::revive(self)
    }

    fn discover(&mut self) -> Result<Vec<ProtocolId>, MailboxError> {
        Mailbox::discover(self)
    }

    fn cap_offset(&self) -> u16 {
        Mailbox::cap_offset(self)
    }
}
