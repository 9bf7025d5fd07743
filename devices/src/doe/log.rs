//! Rate-limited debug lines for what a guest can trigger through its mailbox.

/// `log::debug!`, at most a few lines per window per call site (a guest can trigger
/// every line in this module as fast as it can write registers).
macro_rules! debug_limited {
    ($($arg:tt)+) => {{
        static LIMITER: $crate::log_limit::LogLimiter = $crate::log_limit::LogLimiter::new();
        if log::log_enabled!(log::Level::Debug) && LIMITER.allow() {
            log::debug!($($arg)+);
        }
    }};
}

pub(crate) use debug_limited;
