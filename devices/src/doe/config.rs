//! The limits of one virtual mailbox.

use std::time::Duration;

use doe_proxy::protocol::header::HEADER_DWORDS;
use doe_proxy::protocol::MAX_OBJECT_DWORDS;

/// The smallest useful limit: a header and one payload dword (a Discovery request).
const MIN_OBJECT_DWORDS: usize = HEADER_DWORDS + 1;

/// How a virtual mailbox is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualDoeConfig {
    /// The longest request object the guest may write, in dwords, header included.
    /// An object whose header announces more is discarded as soon as its length dword
    /// is written. Kept within 3..=2^18 (the DOE maximum).
    pub max_object_dwords: usize,
    /// The longest a vCPU waits, after the guest's Go or Status read, for the result of
    /// the exchange in flight ([`completion_wait`](super::completion_wait)); zero: never
    /// (the guest polls).
    pub completion_wait: Duration,
}

impl Default for VirtualDoeConfig {
    fn default() -> Self {
        VirtualDoeConfig {
            max_object_dwords: MAX_OBJECT_DWORDS,
            completion_wait: Duration::ZERO,
        }
    }
}

impl VirtualDoeConfig {
    /// The request limit, clamped to what DOE can carry.
    pub fn request_limit(&self) -> usize {
        self.max_object_dwords
            .clamp(MIN_OBJECT_DWORDS, MAX_OBJECT_DWORDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_stays_within_what_doe_carries() {
        let limit = |max_object_dwords| {
            VirtualDoeConfig {
                max_object_dwords,
                ..VirtualDoeConfig::default()
            }
            .request_limit()
        };
        assert_eq!(VirtualDoeConfig::default().request_limit(), 1 << 18);
        assert_eq!(limit(0), 3);
        assert_eq!(limit(usize::MAX), 1 << 18);
        assert_eq!(limit(64), 64);
    }
}
