//! How a mediator is set up.

use std::time::Duration;

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
    /// Recovery of a mailbox another requester left busy or in Error (an abort that did
    /// not complete, or a Discovery at start that failed): `Some` (the default) retries
    /// the abort (and the Discovery) with backoff until it works, answering
    /// [`ExchangeError::MailboxDead`](super::ExchangeError::MailboxDead) meanwhile; `None`
    /// keeps such a mailbox dead for good (as Linux does) and a failed start an error.
    pub recovery: Option<RecoveryConfig>,
}

/// The shortest pause between two retries, whatever the configuration says.
pub const MIN_RETRY_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two retries, whatever the configuration says.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(3600);

/// When a mediator retries an unusable mailbox: first after `first_retry`, then after
/// twice as long each time, at most `max_retry` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// The pause before the first retry.
    pub first_retry: Duration,
    /// The longest pause between two retries.
    pub max_retry: Duration,
}

impl RecoveryConfig {
    /// The pause after `failed` retries that did not work (0 before the first), kept
    /// between [`MIN_RETRY_PAUSE`] (a zero configuration must not spin on the device) and
    /// [`MAX_RETRY_PAUSE`] (an absurd one must not overflow a clock).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 1u32.checked_shl(failed.min(31)).unwrap_or(u32::MAX);
        let pause = self
            .first_retry
            .checked_mul(factor)
            .map_or(self.max_retry, |pause| pause.min(self.max_retry));
        pause.clamp(MIN_RETRY_PAUSE, MAX_RETRY_PAUSE)
    }
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            first_retry: Duration::from_millis(50),
            max_retry: Duration::from_secs(1),
        }
    }
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
            recovery: Some(RecoveryConfig::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_bound() {
        let recovery = RecoveryConfig {
            first_retry: Duration::from_millis(50),
            max_retry: Duration::from_secs(1),
        };
        let pauses: Vec<u128> = (0..7).map(|n| recovery.backoff(n).as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(recovery.backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn absurd_configurations_are_clamped() {
        let zero = RecoveryConfig {
            first_retry: Duration::ZERO,
            max_retry: Duration::ZERO,
        };
        assert_eq!(zero.backoff(0), MIN_RETRY_PAUSE);
        let huge = RecoveryConfig {
            first_retry: Duration::MAX,
            max_retry: Duration::MAX,
        };
        assert_eq!(huge.backoff(3), MAX_RETRY_PAUSE);
    }
}
