//! Recovery of a mailbox that another requester left busy or in Error: while it is
//! unusable every submission is answered [`ExchangeError::MailboxDead`] at once, and the
//! worker tries it again with backoff ([`RecoveryConfig`]): an abort that completes (and,
//! if the mediator never had it, a Discovery walk) makes it usable again.
//!
//! [`ExchangeError::MailboxDead`]: super::ExchangeError::MailboxDead

use std::time::Instant;

use log::{info, warn};

use super::config::RecoveryConfig;
use super::device::Device;
use super::driver_panic::catch_panic;
use crate::protocol::ProtocolId;

/// A mailbox out of use: how many retries failed, and when the next one is due.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outage {
    failed: u32,
    retry_at: Instant,
}

impl Outage {
    /// An outage that begins now; the first retry is due after `recovery`'s first pause.
    pub(super) fn begin(recovery: Option<RecoveryConfig>, now: Instant) -> Self {
        Outage {
            failed: 0,
            retry_at: now + recovery.map(|r| r.backoff(0)).unwrap_or_default(),
        }
    }

    /// When the next retry is due.
    pub(super) fn retry_at(&self) -> Instant {
        self.retry_at
    }

    /// Retries that failed so far.
    pub(super) fn failed(&self) -> u32 {
        self.failed
    }

    /// The retry made at `now` failed: the next one waits twice as long (to the bound).
    pub(super) fn retry_failed(&mut self, recovery: RecoveryConfig, now: Instant) {
        self.failed = self.failed.saturating_add(1);
        self.retry_at = now + recovery.backoff(self.failed);
    }
}

/// What a retry found.
pub(super) enum Retry {
    /// The mailbox is usable again; `Some` is its Discovery list if one was asked for.
    Recovered(Option<Vec<ProtocolId>>),
    /// Still unusable, for this reason.
    Failed(String),
}

/// One retry on `device`: an abort that must complete, then the Discovery walk if
/// `discover`. A panic in the driver is a failed retry.
pub(super) fn retry(device: &mut dyn Device, discover: bool) -> Retry {
    let run = catch_panic(|| {
        device.revive()?;
        if discover {
            device.discover().map(Some)
        } else {
            Ok(None)
        }
    });
    match run {
        Ok(Ok(discovered)) => Retry::Recovered(discovered),
        Ok(Err(e)) => Retry::Failed(e.to_string()),
        Err(panic) => Retry::Failed(format!("the mailbox driver panicked: {panic}")),
    }
}

/// Logs a retry's outcome, `failed_before` retries having failed before it: every
/// success, and the first failure and then every tenth (a mailbox held by another
/// requester for minutes would otherwise fill the log).
pub(super) fn log_retry(cap_offset: u16, retry: &Retry, failed_before: u32) {
    match retry {
        Retry::Recovered(_) => info!(
            "DOE mediator [{cap_offset:#x}]: the mailbox is usable again (retry {})",
            failed_before.saturating_add(1)
        ),
        Retry::Failed(reason) if failed_before % 10 == 0 => warn!(
            "DOE mediator [{cap_offset:#x}]: the mailbox is still unusable ({reason}); \
             retrying with backoff"
        ),
        Retry::Failed(_) => {}
    }
}
