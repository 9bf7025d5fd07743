//! The scheduling hook: which queued request may run next.
//!
//! The mediator serves clients round-robin, one request at a time, each client's
//! requests in the order submitted. Before it runs the request at the head of a client's
//! queue it asks the [`Scheduler`], which sees the client and the request's protocol and
//! dwords. The default ([`AdmitAll`]) runs everything. An SPDM lease (DESIGN §5) is a
//! scheduler that defers other clients' CMA/SPDM requests while one client holds the
//! responder (from its GET_VERSION until the end of its sequence, seen in
//! [`Scheduler::completed`], or an idle timeout, woken by [`Scheduler::next_wakeup`]),
//! while requests of other protocols keep flowing.

use std::time::Instant;

use super::completion::ExchangeResult;
use super::ids::{ClientId, SubmissionId};
use crate::protocol::ProtocolId;

/// The request the mediator would run next for one client.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Whose request it is.
    pub client: ClientId,
    /// Which submission.
    pub submission: SubmissionId,
    /// Its protocol, from its header.
    pub protocol: ProtocolId,
    /// The whole request object, header included.
    pub request: &'a [u32],
}

/// What to do with a [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Run it on the device now.
    Run,
    /// Leave it at the head of its client's queue; that client is skipped this round.
    Defer,
    /// Answer it [`ExchangeError::Denied`](super::ExchangeError::Denied) without
    /// touching the device.
    Deny,
    /// Answer it with this response object (whole, header included) without touching
    /// the device, as if the device had answered it (e.g. an SPDM ERROR for a requester
    /// whose connection was reset under it). [`Scheduler::completed`] is not called for it.
    Answer(Vec<u32>),
}

/// Decides, request by request, what runs on the physical mailbox. Called with the
/// mediator's lock held: keep every method short and non-blocking.
pub trait Scheduler: Send {
    /// Whether `candidate` may run now.
    fn admit(&mut self, candidate: &Candidate<'_>) -> Admission;

    /// `candidate` ran on the device with `outcome` (also when its client cancelled it
    /// meanwhile: the device saw it all the same).
    fn completed(&mut self, _candidate: &Candidate<'_>, _outcome: &ExchangeResult) {}

    /// `client` went away; forget whatever it held.
    fn client_gone(&mut self, _client: ClientId) {}

    /// When the mediator should ask again although nothing was submitted (e.g. when a
    /// lease times out); `None` waits for the next submission.
    fn next_wakeup(&self) -> Option<Instant> {
        None
    }
}

/// Runs every request as soon as it is its client's turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitAll;

impl Scheduler for AdmitAll {
    fn admit(&mut self, _candidate: &Candidate<'_>) -> Admission {
        Admission::Run
    }
}
