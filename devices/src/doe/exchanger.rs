//! How the virtual mailbox reaches the physical one: whole objects in, results later.

use std::time::Instant;

use doe_proxy::mediator::{ExchangeError, MediatorClient, SubmissionId};
use doe_proxy::protocol::ProtocolId;

/// Carries whole request objects to the physical mailbox.
///
/// Implemented by the mediator's [`MediatorClient`]; a test uses a mock. Each accepted
/// submission's result must reach the [`Completion`](doe_proxy::mediator::Completion)
/// the exchanger was connected with, exactly once, and never from inside `submit` or
/// `cancel` (the virtual mailbox calls them with its registers locked, and the
/// completion locks them).
pub trait Exchanger: Send + Sync {
    /// The protocols the physical mailbox listed in Discovery (Discovery first); empty
    /// while the mediator has not learnt them yet (its mailbox was unusable at start), so
    /// the virtual mailbox asks again at each Go until it is not.
    fn discovered(&self) -> Vec<ProtocolId>;

    /// Submits `request` (one whole object); `Err` is its only result.
    fn submit(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError>;

    /// Gives up on `submission`; its result, whatever it is, will be ignored.
    fn cancel(&self, submission: SubmissionId);

    /// [`Exchanger::submit`] for a caller that will next [`drive`](Exchanger::drive) the
    /// submission or [`kick`](Exchanger::kick) the exchanger (a vCPU that is going to
    /// wait for it): nothing is woken yet.
    fn submit_quiet(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        self.submit(request)
    }

    /// Whoever carries submissions should look at them now (after
    /// [`Exchanger::submit_quiet`] when the caller does not drive).
    fn kick(&self) {}

    /// Offers the calling thread (a vCPU about to wait for `submission`, holding no
    /// lock) to run it on the device itself until `until`; returns whether it did. The
    /// result may be delivered from inside this call.
    fn drive(&self, _submission: SubmissionId, _until: Instant) -> bool {
        false
    }
}

impl Exchanger for MediatorClient {
    fn discovered(&self) -> Vec<ProtocolId> {
        MediatorClient::discovered(self).to_vec()
    }

    fn submit(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        MediatorClient::submit(self, request)
    }

    fn cancel(&self, submission: SubmissionId) {
        MediatorClient::cancel(self, submission);
    }

    fn submit_quiet(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        MediatorClient::submit_quiet(self, request)
    }

    fn kick(&self) {
        MediatorClient::kick(self);
    }

    fn drive(&self, submission: SubmissionId, until: Instant) -> bool {
        MediatorClient::drive(self, submission, until)
    }
}
