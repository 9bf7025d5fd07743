//! Names for the mediator's clients and their submissions.

use std::fmt;

/// One client of a mediator (a guest's virtual mailbox, a host-user connection). Ids are
/// never reused within one mediator, and ordered by registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub(super) u64);

/// One submitted request. Ids are never reused within one mediator, across all clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubmissionId(pub(super) u64);

impl ClientId {
    /// The number behind the id (for logs and audit records).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl SubmissionId {
    /// The id numbered `raw`. A mediator numbers its own submissions; this is for other
    /// implementations of a submission interface (a client of a remote mediator, a mock).
    pub fn new(raw: u64) -> Self {
        SubmissionId(raw)
    }

    /// The number behind the id (for logs and audit records).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client#{}", self.0)
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "submission#{}", self.0)
    }
}
