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
//!   accepts; an accepted submission's sink is called exactly once, on one of the
//!   mediator's threads, with the response object or an [`ExchangeError`]: the worker
//!   delivers the result of an exchange that ran on the device the moment it ends (no
//!   thread hand-off on the path a waiting vCPU is on); the notifier delivers answers that
//!   need no device (Discovery from the cache, cancellations, refusals at shutdown or of
//!   a dead mailbox). Results carry their [`SubmissionId`]; one client's results may
//!   arrive in another order than its submissions. A client never waits for the device:
//!   a vCPU submits and returns.
//! - **Fairness.** Each client has a bounded FIFO queue; the worker serves clients
//!   round-robin, one exchange each, so a busy client cannot push another past Linux's
//!   one-second DOE timeout.
//! - **Cancellation** ([`MediatorClient::cancel`], or dropping the client) answers
//!   [`ExchangeError::Cancelled`] at once. A queued request leaves its queue; a request
//!   already on the device runs to its end there — the physical mailbox is never aborted
//!   under another client — and its response is dropped.
//! - **Discovery** requests are answered from the cached result without touching the
//!   device.
//! - **Faults** stay with the client whose exchange met them (a timeout is that
//!   client's [`ExchangeError::TimedOut`]; the driver aborts and the next client is
//!   served), except a mailbox whose abort fails: it is dead and every client is
//!   answered [`ExchangeError::MailboxDead`].
//! - **Shutdown** ([`Mediator::shutdown`] or drop) lets the running exchange finish and
//!   answers every queued submission [`ExchangeError::ShuttingDown`].
//! - **Scheduling hook.** A [`Scheduler`] sees each request (client, protocol, dwords)
//!   before it runs and may run, defer or deny it; SPDM leases plug in there.
//!
//! [`register`]: Mediator::register

mod client;
mod completion;
mod config;
mod device;
mod driver_panic;
mod error;
mod ids;
mod notice;
mod owner;
mod scheduler;
mod state;
mod worker;

#[cfg(test)]
mod tests;

pub use client::MediatorClient;
pub use completion::{Completion, ExchangeResult};
pub use config::{MediatorConfig, MediatorThread, ThreadStartHook};
pub use error::{ExchangeError, MediatorError};
pub use ids::{ClientId, SubmissionId};
pub use owner::Mediator;
pub use scheduler::{Admission, AdmitAll, Candidate, Scheduler};
