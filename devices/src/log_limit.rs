//! Log lines a guest can trigger (hostile config or BAR accesses, device errors it
//! provokes) go through the workspace's one rate limiter, `doe_proxy::log_limit`, so a
//! guest cannot flood the host's log.

/// `log::warn!`, at most a few lines per window per call site.
pub(crate) use doe_proxy::warn_ratelimited as warn_limited;
