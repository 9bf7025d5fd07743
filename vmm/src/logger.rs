//! A minimal stderr logger; the `*_ratelimited!` macros are `doe-proxy`'s (`doe_proxy::log_limit`).
//!
//! The level comes from `VMM_LOG` (`error`, `warn`, `info`, `debug`, `trace`; default `warn`).
//! Anything a guest can trigger (unknown port or MMIO accesses, bad BAR placements) must be
//! logged through a rate-limited macro so a guest cannot flood the host's log.

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "vmm: {}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger; the level comes from `VMM_LOG`.
pub fn init() {
    let level = std::env::var("VMM_LOG")
        .ok()
        .and_then(|s| s.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Warn);
    // A second call (tests) keeps the first logger, which is fine.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// The rate limiter behind the macros lives in `doe-proxy` (one for the workspace).
pub use doe_proxy::log_limit::{RateLimiter, BURST, WINDOW_MS};
