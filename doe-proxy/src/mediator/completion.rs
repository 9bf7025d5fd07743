//! How a client learns that a submission finished.

use super::error::ExchangeError;
use super::ids::SubmissionId;

/// The result of one submission: the whole response object (header included), or why
/// there is none.
pub type ExchangeResult = Result<Vec<u32>, ExchangeError>;

/// Receives the results of a client's submissions.
///
/// The mediator calls it exactly once per accepted submission, on one of its own
/// threads (the worker for results from the device, the notifier for the others) or,
/// for an exchange a client ran itself, inside that client's
/// [`MediatorClient::drive`]; never from inside [`MediatorClient::submit`] or
/// [`MediatorClient::cancel`], so a client may hold its own lock while submitting and
/// take the same lock in `complete`.
/// It must return quickly (store the result, wake a waiter): the worker runs no other
/// client's exchange until it returns. A panic in it is caught and logged; the other
/// clients keep being served.
///
/// [`MediatorClient::submit`]: super::MediatorClient::submit
/// [`MediatorClient::cancel`]: super::MediatorClient::cancel
/// [`MediatorClient::drive`]: super::MediatorClient::drive
pub trait Completion: Send + Sync {
    /// `submission` finished with `result`.
    fn complete(&self, submission: SubmissionId, result: ExchangeResult);
}

/// Any thread-safe closure is a completion sink.
impl<F> Completion for F
where
    F: Fn(SubmissionId, ExchangeResult) + Send + Sync,
{
    fn complete(&self, submission: SubmissionId, result: ExchangeResult) {
        self(submission, result)
    }
}
