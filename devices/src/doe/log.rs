//! Rate-limited debug lines for what a guest can trigger through its mailbox.

/// `log::debug!`, at most a few lines per window per call site (a guest can trigger every
/// line in this module as fast as it can write registers); the workspace's one limiter.
pub(crate) use doe_proxy::debug_ratelimited as debug_limited;
