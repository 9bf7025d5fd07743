//! How long the driver waits, and how often it looks.

use std::time::Duration;

/// Linux `PCI_DOE_TIMEOUT` (HZ, one second; "6.30.2 Operation, PCI Spec r6.0").
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Poll period: faster than Linux's HZ/128 (~8 ms) because a user-space requester does
/// not share a workqueue and a Discovery exchange takes ~60 µs on real hardware.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Linux waits up to `PCI_DOE_TIMEOUT` for an abort to complete.
const DEFAULT_ABORT_TIMEOUT: Duration = Duration::from_secs(1);

/// The mailbox driver's timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxConfig {
    /// How long to wait for Busy to clear before sending, and for Data Object Ready after
    /// Go (default 1 s, as Linux).
    pub timeout: Duration,
    /// Pause between two reads of the Status register while waiting (default 1 ms).
    pub poll_interval: Duration,
    /// How long an abort may take to clear Busy and Error before the mailbox is declared
    /// dead (default 1 s, as Linux).
    pub abort_timeout: Duration,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig {
            timeout: DEFAULT_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            abort_timeout: DEFAULT_ABORT_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_linux_except_the_poll_period() {
        let config = MailboxConfig::default();
        assert_eq!(config.timeout, Duration::from_secs(1));
        assert_eq!(config.abort_timeout, Duration::from_secs(1));
        assert_eq!(config.poll_interval, Duration::from_millis(1));
    }
}
