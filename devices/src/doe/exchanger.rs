//! How the virtual mailbox reaches the physical one: whole objects in, results later.

use doe_proxy::mediator::{ExchangeError, MediatorClient, SubmissionId};
use doe_proxy::protocol::ProtocolId;

/// Carries whole request objects to the physical mailbox.
///
/// Implemented by the mediator's [`MediatorClient`]; a test uses a mock. Each accepted
/// submission's result must reach the [`Completion`](doe_proxy::mediator::Completion)
/// the exchanger was connected with, exactly once, and never from inside `submit` or
/// `cancel` (the virtual mailbox calls them with its registers locked, and the
/// completion locks them).
pub trait Exchanger: Send {
    /// The protocols the physical mailbox listed in Discovery (Discovery first).
    fn discovered(&self) -> Vec<ProtocolId>;

    /// Submits `request` (one whole object); `Err` is its only result.
    fn submit(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError>;

    /// Gives up on `submission`; its result, whatever it is, will be ignored.
    fn cancel(&self, submission: SubmissionId);
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
}
