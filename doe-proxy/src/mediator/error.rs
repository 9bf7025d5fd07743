//! What a submission can end in, besides its response, and why a mediator cannot start.

use std::io;

use crate::mailbox::MailboxError;

/// The explicit error a submission ends in instead of a response.
///
/// Every submission gets exactly one result: either [`MediatorClient::submit`] returns
/// one of these at once (then nothing follows), or the client's
/// [`Completion`](super::Completion) later receives the response or one of these.
///
/// [`MediatorClient::submit`]: super::MediatorClient::submit
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The scheduling policy refused the request; it never reached the device.
    #[error("request denied by the mediator's policy")]
    Denied,
    /// The device gave no response in time (or stayed busy); the mailbox was aborted.
    #[error("no DOE response within the timeout")]
    TimedOut,
    /// The device set DOE Error, or answered with a malformed or mismatched response, or
    /// a config access failed; the mailbox was aborted.
    #[error("DOE device error: {0}")]
    DeviceError(String),
    /// The client cancelled the submission (or went away). An exchange already running
    /// on the device completed there; its result was dropped.
    #[error("submission cancelled")]
    Cancelled,
    /// The physical mailbox is unusable now: an abort did not complete (another requester
    /// holds it busy or in Error), or it was never discovered. With
    /// [`MediatorConfig::recovery`](super::MediatorConfig::recovery) the mediator retries it
    /// and serves again once a retry works; without, it is never used again.
    #[error("the physical DOE mailbox is unusable (left busy or in Error by another requester)")]
    MailboxDead,
    /// The request is not one whole, well-formed data object within the size limit.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The mediator is shutting down; nothing more is sent to the device.
    #[error("the DOE mediator is shutting down")]
    ShuttingDown,
    /// The client already has as many results outstanding as the mediator allows
    /// ([`MediatorConfig::queue_depth`](super::MediatorConfig::queue_depth): requests
    /// queued plus answers not yet handed over by the notifier).
    #[error("too many outstanding submissions for this client (limit {0})")]
    QueueFull(usize),
    /// The mailbox driver (or the device model under it) panicked during this exchange:
    /// a bug, not the device's answer. The mediator caught the panic, aborted the
    /// mailbox and serves the next request.
    #[error("internal error in the mailbox driver: {0}")]
    Internal(String),
}

impl ExchangeError {
    /// The result a failed [`Mailbox::exchange`](crate::mailbox::Mailbox::exchange) gives
    /// the client.
    pub fn from_mailbox(error: &MailboxError) -> Self {
        match error {
            MailboxError::Timeout | MailboxError::BusyTimeout => ExchangeError::TimedOut,
            MailboxError::AbortTimeout | MailboxError::Dead => ExchangeError::MailboxDead,
            MailboxError::MalformedRequest(e) => ExchangeError::Malformed(e.to_string()),
            other => ExchangeError::DeviceError(other.to_string()),
        }
    }
}

/// Why a mediator could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediatorError {
    /// The reset (abort) of the physical mailbox before Discovery failed.
    #[error("resetting the DOE mailbox failed: {0}")]
    Reset(#[source] MailboxError),
    /// Discovery on the physical mailbox failed.
    #[error("DOE Discovery failed: {0}")]
    Discovery(#[source] MailboxError),
    /// A mediator thread could not be started.
    #[error("cannot start a DOE mediator thread: {0}")]
    Spawn(#[source] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProtocolId;

    #[test]
    fn mailbox_errors_map_to_what_the_client_can_act_on() {
        assert_eq!(
            ExchangeError::from_mailbox(&MailboxError::Timeout),
            ExchangeError::TimedOut
        );
        assert_eq!(
            ExchangeError::from_mailbox(&MailboxError::BusyTimeout),
            ExchangeError::TimedOut
        );
        assert_eq!(
            ExchangeError::from_mailbox(&MailboxError::AbortTimeout),
            ExchangeError::MailboxDead
        );
        assert_eq!(
            ExchangeError::from_mailbox(&MailboxError::Dead),
            ExchangeError::MailboxDead
        );
        assert!(matches!(
            ExchangeError::from_mailbox(&MailboxError::ProtocolMismatch {
                expected: ProtocolId::CMA_SPDM,
                got: ProtocolId::DISCOVERY
            }),
            ExchangeError::DeviceError(_)
        ));
        assert!(matches!(
            ExchangeError::from_mailbox(&MailboxError::DeviceError),
            ExchangeError::DeviceError(_)
        ));
    }
}
