//! How a mediator is set up.

use super::lease::{LeaseConfig, SpdmLeases};
use super::scheduler::{AdmitAll, Scheduler};
use crate::protocol::MAX_OBJECT_DWORDS;

/// Results a client may have outstanding (see [`MediatorConfig::queue_depth`]) by
/// default: a guest's virtual mailbox has at most one, a host tool a few.
const DEFAULT_QUEUE_DEPTH: usize = 8;

/// The mediator's threads, as an [`MediatorConfig::on_thread_start`] hook sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediatorThread {
    /// The worker that drives the physical mailbox and hands each exchange's result to
    /// its client's sink.
    Worker,
    /// The notifier that hands the answers that need no device to the clients' sinks.
    Notifier,
}

/// Called first thing on each mediator thread, before it touches the mailbox or a sink
/// (a VMM applies the thread's seccomp filter there).
pub type ThreadStartHook = fn(MediatorThread);

/// A mediator's limits.
#[derive(Debug, Clone, Copy)]
pub struct MediatorConfig {
    /// Results one client may have outstanding in the mediator: requests queued (not
    /// counting the one on the device) plus answers waiting for the notifier (Discovery
    /// from the cache, cancellations) until it hands them to the sink. A submission
    /// beyond it, Discovery included, is refused with
    /// [`ExchangeError::QueueFull`](super::ExchangeError::QueueFull).
    pub queue_depth: usize,
    /// Largest request accepted, in dwords (at most 2^18, the DOE maximum).
    pub max_request_dwords: usize,
    /// Abort the mailbox before the first Discovery, as Linux does when it creates one,
    /// to clear whatever a previous owner left.
    pub reset_on_start: bool,
    /// Run at the start of the worker and of the notifier thread; `None` by default.
    pub on_thread_start: Option<ThreadStartHook>,
    /// SPDM leases ([`SpdmLeases`]): `Some` switches them on with that configuration,
    /// `None` (the default) leaves clients' SPDM requests interleaved as they come
    /// ([`AdmitAll`]). Used by [`Mediator::start`](super::Mediator::start);
    /// [`Mediator::start_with`](super::Mediator::start_with) takes its scheduler instead.
    pub spdm_leases: Option<LeaseConfig>,
}

impl MediatorConfig {
    /// The scheduler [`MediatorConfig::spdm_leases`] asks for.
    pub fn scheduler(&self) -> Box<dyn Scheduler> {
        match self.spdm_leases {
            Some(leases) => Box::new(SpdmLeases::new(leases)),
            None => Box::new(AdmitAll),
        }
    }
}

impl Default for MediatorConfig {
    fn default() -> Self {
        MediatorConfig {
            queue_depth: DEFAULT_QUEUE_DEPTH,
            max_request_dwords: MAX_OBJECT_DWORDS,
            reset_on_start: true,
            on_thread_start: None,
            spdm_leases: None,
        }
    }
}
