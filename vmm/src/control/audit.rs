//! The audit log's writer on the event loop: the guest's denials queued by the vCPUs
//! ([`GuestAudit`]), written when its eventfd wakes the loop, and once a second the
//! summary of suppressed denials (a client's flood that stopped) — all on this thread, so
//! no vCPU ever writes the log.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vmm_sys_util::timerfd::TimerFd;

use crate::doe::{DoeAdmin, GuestAudit};

/// How often suppressed audit denials are summed up (and the queue checked, should a
/// wake-up ever be missed).
const AUDIT_FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// `data` of the timer's events.
const TIMER: u32 = 0;
/// `data` of the queue's eventfd.
const QUEUE: u32 = 1;

/// Writes the guest's queued denials and the periodic summaries.
pub struct AuditWriter {
    timer: TimerFd,
    queue: Arc<GuestAudit>,
    admin: Arc<DoeAdmin>,
}

impl AuditWriter {
    /// A writer for `queue` through `admin`'s log, its periodic timer armed now (before
    /// the loop's seccomp filter).
    pub fn new(queue: Arc<GuestAudit>, admin: Arc<DoeAdmin>) -> io::Result<Self> {
        let mut timer = TimerFd::new().map_err(io::Error::from)?;
        timer
            .reset(AUDIT_FLUSH_PERIOD, Some(AUDIT_FLUSH_PERIOD))
            .map_err(io::Error::from)?;
        Ok(AuditWriter {
            timer,
            queue,
            admin,
        })
    }
}

impl MutEventSubscriber for AuditWriter {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::with_data(&self.timer, TIMER, EventSet::IN)) {
            log::error!("cannot watch the audit timer: {e}");
        }
        if let Err(e) = ops.add(Events::with_data(self.queue.wake_fd(), QUEUE, EventSet::IN)) {
            log::error!("cannot watch the audit queue: {e}");
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let drained = self.queue.write(&self.admin);
        if drained.dropped > 0 {
            log::warn!(
                "{} DOE denial(s) not audited: the audit queue was full (the audit log says so)",
                drained.dropped
            );
        }
        if events.data() == TIMER {
            let _ = self.timer.wait();
            self.admin.flush_suppressed();
        }
    }
}
