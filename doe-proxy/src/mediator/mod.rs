//! The mediator: one owner per physical DOE mailbox, shared fairly by its clients
//! (DESIGN §5).
//!
//! A [`Mediator`] takes a [`Mailbox`](crate::mailbox::Mailbox), runs Discovery on it
//! once and caches the result, and then drives it from its own worker thread. Clients
//! (a guest's virtual mailbox, a host user's socket connection) [`register`] with a
//! [`Completion`] sink and get a [`MediatorClient`]:
//!
//! - **Exactly one result per submission.** [`MediatorClient::submit`] either fails at
//!   once (malformed, [`ExchangeError::QueueFull`], mailbox dead, shutting down) or
//!   accepts; an accepted submission's sink is called exactly once with the response
//!   object or an [`ExchangeError`]: whoever ran an exchange on the device delivers its
//!   result the moment it ends (the worker, or the client thread that ran it itself in
//!   [`MediatorClient::drive`]: no thread hand-off on the path a waiting vCPU is on); the
//!   notifier delivers answers that need no device (Discovery from the cache,
//!   cancellations, refusals at shutdown or of a dead mailbox). Results carry their
//!   [`SubmissionId`]; one client's results may arrive in another order than its
//!   submissions. A client never waits for the device: a vCPU submits and returns.
//! - **Bounded.** A client has at most [`MediatorConfig::queue_depth`] results
//!   outstanding in the mediator: requests queued (the one on the device aside) plus
//!   answers waiting for the notifier until it hands them over. A submission beyond
//!   that, Discovery included, is refused [`ExchangeError::QueueFull`]; so a client
//!   flooding Discovery, or submitting and cancelling, holds at most `queue_depth + 1`
//!   answers in the notifier's channel however slow it is.
//! - **Fairness.** Each client's queue is FIFO and the worker serves clients
//!   round-robin, one exchange each: while a request is at the head of its client's
//!   queue, every other client starts at most one exchange before it does (with a
//!   [`Scheduler`] that runs everything; a deferral skips a client's turn). A client
//!   runs its own exchange in [`MediatorClient::drive`] only when no other client has
//!   one waiting, so this holds with it. A busy client cannot push another past Linux's
//!   one-second DOE timeout.
//! - **Cancellation** ([`MediatorClient::cancel`], or dropping the client) answers
//!   [`ExchangeError::Cancelled`] at once. A queued request leaves its queue; a request
//!   already on the device runs to its end there — the physical mailbox is never aborted
//!   under another client — and its response is dropped. A dropped client's place in
//!   the round goes with it.
//! - **Discovery** requests are answered from the cached result without touching the
//!   device (they count against the bound until delivered).
//! - **Faults** stay with the client whose exchange met them (a timeout is that
//!   client's [`ExchangeError::TimedOut`]; the driver aborts and the next client is
//!   served), except a mailbox whose abort fails: it is unusable and every client is
//!   answered [`ExchangeError::MailboxDead`] until the worker's retry works.
//! - **Recovery** ([`MediatorConfig::recovery`], on by default). A mailbox another
//!   requester leaves busy or in Error, at start (the reset or the Discovery fails) or
//!   later (an abort does not complete), is retried by the worker with backoff: an abort
//!   that completes, and the Discovery walk if the mediator never had the list, make it
//!   usable again for the same clients. Meanwhile every submission is answered
//!   [`ExchangeError::MailboxDead`] at once, and [`Mediator::discovered`] is empty until
//!   the list is known. Each retry aborts the mailbox, which may break an exchange of the
//!   other requester (at most once per backoff period, up to 1 s by default); a retry
//!   under way (an abort and perhaps a Discovery walk, each bounded by the driver's
//!   timeouts) finishes before shutdown does. With recovery off a failed abort is final,
//!   as in Linux.
//! - **Driver panics.** A panic in the mailbox driver (or the device model under it)
//!   during an exchange, on the worker or in [`MediatorClient::drive`], is caught and
//!   logged; the mailbox is aborted and the exchange answered
//!   [`ExchangeError::Internal`] (or [`ExchangeError::MailboxDead`] if that abort
//!   fails), and the worker keeps serving. This needs `panic = "unwind"` (the default).
//! - **Shutdown** ([`Mediator::shutdown`] or drop) lets the running exchange finish and
//!   answers every queued submission [`ExchangeError::ShuttingDown`].
//! - **Scheduling hook.** A [`Scheduler`] sees each request (client, protocol, dwords)
//!   before it runs and may run, defer or deny it, or answer it itself. It runs under the
//!   mediator's lock: a panic in it is not caught and stops the worker.
//! - **SPDM leases** ([`SpdmLeases`], switched on by [`MediatorConfig::spdm_leases`]): a
//!   client's GET_VERSION gives it the CMA/SPDM responder until its sequence ends (or an
//!   idle timeout, or it goes away); meanwhile the others' SPDM requests wait, other
//!   protocols keep flowing, and a client whose connection was reset under it is answered
//!   SPDM ERROR RequestResynch.
//!
//! [`register`]: Mediator::register

mod client;
mod completion;
mod config;
mod device;
mod driver_panic;
mod error;
mod ids;
mod lease;
mod notice;
mod owner;
mod recovery;
mod scheduler;
mod spdm;
mod state;
mod worker;

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod lease_interleave_tests;
#[cfg(test)]
mod lease_mediator_tests;
#[cfg(test)]
mod lease_rig;
#[cfg(test)]
mod lease_tests;
#[cfg(test)]
mod scripted_spdm;
#[cfg(test)]
mod tests;

pub use client::MediatorClient;
pub use completion::{Completion, ExchangeResult};
pub use config::{MediatorConfig, MediatorThread, RecoveryConfig, ThreadStartHook};
pub use error::{ExchangeError, MediatorError};
pub use ids::{ClientId, SubmissionId};
pub use lease::{LeaseConfig, SpdmLeases};
pub use owner::Mediator;
pub use scheduler::{Admission, AdmitAll, Candidate, Scheduler};
