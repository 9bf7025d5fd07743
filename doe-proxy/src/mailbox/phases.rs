//! One exchange in steps, for a requester that may only hold on to the mailbox for a
//! bounded time (a vCPU running its guest's exchange itself, DESIGN §3): send only if the
//! instance is idle right now, poll without sleeping until a deadline, read the response
//! until a deadline — and hand whatever is left ([`Pending`]) to a thread that may wait as
//! long as the driver's timeouts say ([`Mailbox::resume`]). The steps are those of
//! [`Mailbox::exchange`]; run to their end they make the same register accesses.

use std::time::Instant;

use super::driver::{validate_request, Waited};
use super::error::MailboxError;
use super::regs::{DoeControl, DOE_CTRL, DOE_WRITE};
use super::Mailbox;
use crate::config_space::ConfigSpace;
use crate::protocol::header::HEADER_DWORDS;
use crate::protocol::ProtocolId;

/// An exchange whose request is on the device: Go was written at `go_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    protocol: ProtocolId,
    go_at: Instant,
    /// The response dwords read (and popped) so far.
    received: Vec<u32>,
}

/// Where a bounded attempt stopped, for [`Mailbox::resume`] to carry on.
#[derive(Debug)]
pub enum Pending {
    /// Nothing was sent: the instance was not idle (Busy, Error or a response left over).
    NotSent,
    /// Sent; the response is not (entirely) read yet.
    Sent(Sent),
    /// The exchange failed; the mailbox is still to be aborted.
    Failed(MailboxError),
}

/// The result of a bounded attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The exchange ended: the whole response, or an error that needs no recovery (a
    /// malformed request, a config access that failed, a dead mailbox).
    Done(Result<Vec<u32>, MailboxError>),
    /// The rest is for [`Mailbox::resume`].
    Pending(Pending),
}

impl<C: ConfigSpace> Mailbox<C> {
    /// Runs `request` as far as it can by `until`, never sleeping and never waiting for
    /// the instance to become idle: it sends only if Status shows it idle, polls Status
    /// until Data Object Ready or Error or `until`, then reads the response until `until`
    /// (each step checks the deadline between two register accesses). Failures that would
    /// need an abort are not recovered here ([`Pending::Failed`]).
    pub fn attempt(&mut self, request: &[u32], until: Instant) -> Attempt {
        if let Err(e) = self.check_alive() {
            return Attempt::Done(Err(e));
        }
        let protocol = match validate_request(request) {
            Ok(protocol) => protocol,
            Err(e) => return Attempt::Done(Err(e)),
        };
        match self.send_if_idle(request, protocol) {
            Ok(Some(sent)) => self.continue_until(sent, until),
            Ok(None) => Attempt::Pending(Pending::NotSent),
            Err(e) => Attempt::Done(Err(e)),
        }
    }

    /// Finishes what [`Mailbox::attempt`] left, with the driver's own timeouts (counted
    /// from Go for a sent request) and, on failure, its abort. `request` is the one the
    /// attempt was given.
    pub fn resume(&mut self, request: &[u32], pending: Pending) -> Result<Vec<u32>, MailboxError> {
        match pending {
            Pending::NotSent => self.exchange(request),
            Pending::Failed(error) => Err(self.recover(error)),
            Pending::Sent(sent) => {
                let finished = self.finish(sent);
                finished.map_err(|e| self.recover(e))
            }
        }
    }

    /// Writes the request and Go if Status shows the instance idle; `None` if it does
    /// not (nothing is written).
    fn send_if_idle(
        &mut self,
        request: &[u32],
        protocol: ProtocolId,
    ) -> Result<Option<Sent>, MailboxError> {
        let status = self.read_status()?;
        if status.busy || status.error || status.data_object_ready {
            return Ok(None);
        }
        for &dword in request {
            self.write_reg(DOE_WRITE, dword)?;
        }
        self.write_reg(DOE_CTRL, DoeControl::GO.encode())?;
        Ok(Some(Sent {
            protocol,
            go_at: Instant::now(),
            received: Vec::with_capacity(HEADER_DWORDS),
        }))
    }

    /// Polls (without sleeping) and reads until `until`.
    fn continue_until(&mut self, mut sent: Sent, until: Instant) -> Attempt {
        let ready = loop {
            match self.read_status() {
                Ok(status) if status.error => {
                    return Attempt::Pending(Pending::Failed(MailboxError::DeviceError))
                }
                Ok(status) if status.data_object_ready => break true,
                Ok(_) if Instant::now() >= until => break false,
                Ok(_) => std::hint::spin_loop(),
                Err(e) => return Attempt::Done(Err(e.into())),
            }
        };
        if !ready {
            return Attempt::Pending(Pending::Sent(sent));
        }
        match self.receive(sent.protocol, &mut sent.received, Some(until)) {
            Ok(true) => Attempt::Done(Ok(sent.received)),
            Ok(false) => Attempt::Pending(Pending::Sent(sent)),
            Err(e @ MailboxError::Config(_)) => Attempt::Done(Err(e)),
            Err(e) => Attempt::Pending(Pending::Failed(e)),
        }
    }

    /// Waits for the response of `sent` (up to the timeout from Go) and reads the rest.
    fn finish(&mut self, mut sent: Sent) -> Result<Vec<u32>, MailboxError> {
        if sent.received.is_empty() {
            let left = self.config().timeout.saturating_sub(sent.go_at.elapsed());
            match self.wait(left, |s| s.error || s.data_object_ready)?.waited {
                Waited::Met(status) if status.error => return Err(MailboxError::DeviceError),
                Waited::Met(_) => {}
                Waited::TimedOut => return Err(MailboxError::Timeout),
            }
        }
        self.receive(sent.protocol, &mut sent.received, None)?;
        Ok(sent.received)
    }
}
