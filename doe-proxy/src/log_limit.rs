//! The one log rate limiter of the workspace, behind the `*_ratelimited!` macros: what a
//! guest or a socket peer can trigger (unknown accesses, bad requests, audit write
//! failures) is logged through them, so nobody outside can flood the host's log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Messages allowed per call site per window.
pub const BURST: u32 = 10;
/// Window length in milliseconds.
pub const WINDOW_MS: u64 = 5_000;

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Bits of the packed state that hold the event count; the rest hold the window number.
const COUNT_BITS: u32 = 16;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Allows [`BURST`] events per fixed window of [`WINDOW_MS`]; one per call site of the
/// macros. The window number and the count live in one atomic word, so threads logging at
/// once (vCPUs) never open a window twice.
#[derive(Debug)]
pub struct RateLimiter {
    state: AtomicU64,
}

impl RateLimiter {
    /// A limiter that has let nothing through yet.
    pub const fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
        }
    }

    /// Whether one more event may be logged now.
    pub fn allow(&self) -> bool {
        self.allow_at(now_ms())
    }

    /// [`RateLimiter::allow`] at a given time (milliseconds), for tests.
    pub fn allow_at(&self, now: u64) -> bool {
        // Window numbers start at 1 so that a fresh limiter (state 0) is in no window.
        let window = now / WINDOW_MS + 1;
        let mut allowed = false;
        // The closure always returns Some, so the update cannot fail.
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
                let (current, count) = (state >> COUNT_BITS, state & COUNT_MASK);
                let count = if current == window { count } else { 0 };
                allowed = count < u64::from(BURST);
                let count = if allowed { count + 1 } else { count };
                Some((window << COUNT_BITS) | count)
            });
        allowed
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

/// `log::warn!`, at most [`BURST`](crate::log_limit::BURST) times per window per call site.
#[macro_export]
macro_rules! warn_ratelimited {
    ($($arg:tt)+) => {{
        static LIMITER: $crate::log_limit::RateLimiter = $crate::log_limit::RateLimiter::new();
        if log::log_enabled!(log::Level::Warn) && LIMITER.allow() {
            log::warn!($($arg)+);
        }
    }};
}

/// `log::debug!`, at most [`BURST`](crate::log_limit::BURST) times per window per call site.
#[macro_export]
macro_rules! debug_ratelimited {
    ($($arg:tt)+) => {{
        static LIMITER: $crate::log_limit::RateLimiter = $crate::log_limit::RateLimiter::new();
        if log::log_enabled!(log::Level::Debug) && LIMITER.allow() {
            log::debug!($($arg)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_a_burst_then_recovers() {
        let l = RateLimiter::new();
        let allowed = (0..100).filter(|_| l.allow_at(1_000)).count();
        assert_eq!(allowed, BURST as usize);
        assert!(!l.allow_at(WINDOW_MS - 1), "still the first window");
        assert!(l.allow_at(WINDOW_MS), "the next window opens again");
    }
}
