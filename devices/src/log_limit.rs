//! Rate limiting for log lines a guest can trigger (hostile config or BAR accesses, device
//! errors it provokes): a guest must not be able to flood the host's log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Lines a call site may log per window.
const LINES_PER_WINDOW: u64 = 10;
/// Length of a window in milliseconds.
const WINDOW_MS: u64 = 5_000;
/// Bits of the packed state that hold the line count; the rest hold the window number.
const COUNT_BITS: u32 = 16;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Milliseconds since the first rate-limited event of the process.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Lets [`LINES_PER_WINDOW`] events through per window; one limiter per call site.
///
/// The window number and the count live in one atomic word, so concurrent vCPU threads
/// never double-open a window.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    state: AtomicU64,
}

impl LogLimiter {
    /// A limiter that has let nothing through yet.
    pub(crate) const fn new() -> Self {
        LogLimiter {
            state: AtomicU64::new(0),
        }
    }

    /// Whether one more line may be logged now.
    pub(crate) fn allow(&self) -> bool {
        self.allow_at(now_ms())
    }

    /// [`LogLimiter::allow`] at time `now_ms`.
    fn allow_at(&self, now_ms: u64) -> bool {
        // Window numbers start at 1 so that a fresh limiter (state 0) is in no window.
        let window = now_ms / WINDOW_MS + 1;
        let mut allowed = false;
        // The closure always returns Some, so the update cannot fail.
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
                let (current, count) = (state >> COUNT_BITS, state & COUNT_MASK);
                let count = if current == window { count } else { 0 };
                allowed = count < LINES_PER_WINDOW;
                let count = if allowed { count + 1 } else { count };
                Some((window << COUNT_BITS) | count)
            });
        allowed
    }
}

/// `log::warn!`, at most a few lines per window per call site.
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMITER: $crate::log_limit::LogLimiter = $crate::log_limit::LogLimiter::new();
        if log::log_enabled!(log::Level::Warn) && LIMITER.allow() {
            log::warn!($($arg)+);
        }
    }};
}

pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_and_the_next_window_opens_again() {
        let limiter = LogLimiter::new();
        let allowed = (0..100).filter(|_| limiter.allow_at(1_000)).count();
        assert_eq!(allowed as u64, LINES_PER_WINDOW);
        assert!(!limiter.allow_at(WINDOW_MS - 1));
        assert!(limiter.allow_at(WINDOW_MS));
    }
}
