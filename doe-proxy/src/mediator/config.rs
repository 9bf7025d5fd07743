//! How a mediator is set up.

use crate::protocol::MAX_OBJECT_DWORDS;

/// Submissions a client may have queued (not counting the one running) by default:
/// a guest's virtual mailbox has at most one, a host tool a few.
const DEFAULT_QUEUE_DEPTH: usize = 8;

/// A mediator's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediatorConfig {
    /// Submissions one client may have queued; one more is refused with
    /// [`ExchangeError::QueueFull`](super::ExchangeError::QueueFull).
    pub queue_depth: usize,
    /// Largest request accepted, in dwords (at most 2^18, the DOE maximum).
    pub max_request_dwords: usize,
    /// Abort the mailbox before the first Discovery, as Linux does when it creates one,
    /// to clear whatever a previous owner left.
    pub reset_on_start: bool,
}

impl Default for MediatorConfig {
    fn default() -> Self {
        MediatorConfig {
            queue_depth: DEFAULT_QUEUE_DEPTH,
            max_request_dwords: MAX_OBJECT_DWORDS,
            reset_on_start: true,
        }
    }
}
