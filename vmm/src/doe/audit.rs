//! The guest's denials on their way to the audit log, off the vCPU threads.
//!
//! A vCPU decides its guest's DOE request while it holds the virtual mailbox's register
//! lock; writing the audit line there (a file or stderr) would put the log's I/O under that
//! lock and on the guest's vCPU. So [`PolicyFilter`](super::PolicyFilter) only pushes the
//! record into a bounded [`AuditQueue`] (a copy of the event, no I/O) and writes an eventfd
//! when the queue was empty; the event loop's `AuditWriter`
//! (`crate::control::audit`) wakes on it and writes the records through the
//! [`DoeAdmin`]'s log on its own thread, where the per-guest rate limit and the summaries
//! of suppressed denials apply as before. A full queue drops the record and counts it; the
//! writer then writes one `"dropped"` line with the count.

use std::io;

use policies::audit::{Drained, Pushed, DEFAULT_QUEUE_CAPACITY};
use policies::{AuditEvent, AuditQueue, SystemClock};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::DoeAdmin;

/// The queue of the guest's denials and the eventfd that wakes their writer.
#[derive(Debug)]
pub struct GuestAudit {
    queue: AuditQueue,
    wake: EventFd,
}

impl GuestAudit {
    /// A queue of [`DEFAULT_QUEUE_CAPACITY`] records.
    pub fn new() -> io::Result<Self> {
        Self::with_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// A queue of at most `capacity` records.
    pub fn with_capacity(capacity: usize) -> io::Result<Self> {
        Ok(GuestAudit {
            queue: AuditQueue::new(capacity, SystemClock::new()),
            wake: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// Queues the record of `event` (called on a vCPU thread: no I/O but the eventfd's
    /// write when the queue was empty). A full queue counts it as dropped.
    pub fn push(&self, event: &AuditEvent<'_>) {
        if self.queue.push(event) == Pushed::First {
            // A failure means the counter is already non-zero: the writer is due anyway.
            let _ = self.wake.write(1);
        }
    }

    /// The eventfd the writer watches.
    pub fn wake_fd(&self) -> &EventFd {
        &self.wake
    }

    /// Writes what is queued through `admin`'s audit log (on the writer's thread). The
    /// eventfd is cleared first, so a record pushed meanwhile wakes the writer again.
    pub fn write(&self, admin: &DoeAdmin) -> Drained {
        let _ = self.wake.read();
        admin.write_queued(&self.queue)
    }

    /// Records waiting to be written.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True if no record waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
