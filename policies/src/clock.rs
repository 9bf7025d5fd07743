//! Time, injected: the rate limiter and the audit log read it through [`Clock`] so tests
//! drive it by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time.
pub trait Clock {
    /// Monotonic time since an arbitrary origin (never goes back).
    fn monotonic(&self) -> Duration;
    /// Wall-clock time since the Unix epoch (for timestamps only).
    fn unix_time(&self) -> Duration;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_time(&self) -> Duration {
        // A wall clock set before 1970 is reported as the epoch.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock moved by hand; clones share the same time. Both readings advance together.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    monotonic_nanos: Arc<AtomicU64>,
    unix_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at monotonic 0 whose wall clock reads `unix_time`.
    pub fn at_unix_time(unix_time: Duration) -> Self {
        let clock = ManualClock::default();
        clock.unix_nanos.store(nanos(unix_time), Ordering::Relaxed);
        clock
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.monotonic_nanos.fetch_add(nanos(by), Ordering::Relaxed);
        self.unix_nanos.fetch_add(nanos(by), Ordering::Relaxed);
    }
}

/// A duration in nanoseconds, saturating (584 years fit).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Clock for ManualClock {
    fn monotonic(&self) -> Duration {
        Duration::from_nanos(self.monotonic_nanos.load(Ordering::Relaxed))
    }

    fn unix_time(&self) -> Duration {
        Duration::from_nanos(self.unix_nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::at_unix_time(Duration::from_secs(100));
        let view = clock.clone();
        clock.advance(Duration::from_millis(1500));
        assert_eq!(view.monotonic(), Duration::from_millis(1500));
        assert_eq!(view.unix_time(), Duration::from_millis(101_500));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let first = clock.monotonic();
        assert!(clock.monotonic() >= first);
        assert!(clock.unix_time() > Duration::ZERO);
    }
}
