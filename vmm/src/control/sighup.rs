//! SIGHUP reloads the policy: blocked in every thread, read by the event loop from a
//! signalfd created on the main thread before any other thread starts.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};

use super::Reload;

/// Blocks SIGHUP in the calling thread (and so in every thread it creates later) and
/// returns a signalfd that reads it. Call it on the main thread before any thread starts.
pub fn sighup_fd() -> io::Result<OwnedFd> {
    doe_proxy::signals::blocked_signalfd(&[libc::SIGHUP])
}

/// Reloads the policy on SIGHUP.
pub struct SighupReload {
    fd: std::fs::File,
    target: Arc<dyn Reload + Send + Sync>,
}

impl SighupReload {
    /// Watches `fd` (from [`sighup_fd`]) and reloads `target`.
    pub fn new(fd: OwnedFd, target: Arc<dyn Reload + Send + Sync>) -> Self {
        SighupReload {
            fd: std::fs::File::from(fd),
            target,
        }
    }
}

impl MutEventSubscriber for SighupReload {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.fd, EventSet::IN)) {
            log::error!("cannot watch SIGHUP: {e}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        // Drain every queued SIGHUP (nonblocking); one reload answers them all.
        while matches!((&self.fd).read(&mut info), Ok(n) if n > 0) {}
        match self.target.reload() {
            Ok(origin) => eprintln!("vmm: policy reloaded from {origin} (SIGHUP)"),
            Err(e) => {
                eprintln!("vmm: policy reload refused (SIGHUP), the policy in force stays: {e}")
            }
        }
    }
}
