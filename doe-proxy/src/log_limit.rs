//! The one log rate limiter of the workspace, behind the `*_ratelimited!` macros: what a
//! guest or a socket peer can trigger (unknown accesses, bad requests, audit write
//! failures) is logged through them, so nobody outside can flood the host's log.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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

/// Allows [`BURST`] events per [`WINDOW_MS`]; one per call site of the macros.
#[derive(Debug)]
pub struct RateLimiter {
    window_start: AtomicU64,
    count: AtomicU32,
}

impl RateLimiter {
    /// A limiter whose first window starts at the first event.
    pub const fn new() -> Self {
        Self {
            window_start: AtomicU64::new(0),
            count: AtomicU32::new(0),
        }
    }

    /// Whether one more event may be logged now.
    pub fn allow(&self) -> bool {
        self.allow_at(now_ms())
    }

    /// [`RateLimiter::allow`] at a given time (milliseconds), for tests.
    pub fn allow_at(&self, now: u64) -> bool {
        let start = self.window_start.load(Ordering::Relaxed);
        let window_over =
            now.saturating_sub(start) >= WINDOW_MS || self.count.load(Ordering::Relaxed) == 0;
        if window_over
            && self
                .window_start
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(1, Ordering::Relaxed);
            return true;
        }
        self.count.fetch_add(1, Ordering::Relaxed) < BURST
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
        assert!(l.allow_at(1_000 + WINDOW_MS));
    }
}
