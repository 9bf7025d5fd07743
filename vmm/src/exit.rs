//! How vCPU threads and devices tell the main loop that the VM is over.

use std::sync::Mutex;

use vmm_sys_util::eventfd::EventFd;

/// Why the VM stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmExit {
    /// The guest powered off (ACPI S5): vmm exits 0.
    PowerOff,
    /// The guest asked for a reset (reset register, triple fault): vmm exits non-zero.
    Reset,
    /// A vCPU failed; the message is the one line vmm prints.
    Error(String),
}

/// The first exit reported wins; the event wakes the main loop.
#[derive(Debug)]
pub struct ExitNotifier {
    reason: Mutex<Option<VmExit>>,
    event: EventFd,
}

impl ExitNotifier {
    /// A notifier with a fresh non-blocking eventfd.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            reason: Mutex::new(None),
            event: EventFd::new(libc::EFD_NONBLOCK)?,
        })
    }

    /// Records `exit` (unless one is recorded already) and wakes the main loop.
    pub fn notify(&self, exit: VmExit) {
        let mut reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if reason.is_none() {
            *reason = Some(exit);
        }
        // A full counter still wakes the loop, so the result does not matter.
        let _ = self.event.write(1);
    }

    /// The recorded exit, if any.
    pub fn reason(&self) -> Option<VmExit> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The eventfd the main loop waits on.
    pub fn event(&self) -> &EventFd {
        &self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let n = ExitNotifier::new().unwrap();
        assert_eq!(n.reason(), None);
        n.notify(VmExit::PowerOff);
        n.notify(VmExit::Reset);
        assert_eq!(n.reason(), Some(VmExit::PowerOff));
        assert_eq!(n.event().read().unwrap(), 2);
    }
}
