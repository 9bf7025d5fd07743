//! The eventfds of one assigned function's interrupts, shared by the two sides that use
//! them: the backend hands them to VFIO (`VFIO_DEVICE_SET_IRQS`, the device signals them)
//! and the interrupt sink binds them to GSIs (`KVM_IRQFD`, KVM injects them).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use devices::vfio::IrqKind;
use vmm_sys_util::eventfd::EventFd;

/// One eventfd per (kind, vector), created on first use, plus the INTx resample eventfd.
#[derive(Debug)]
pub struct IrqEvents {
    fds: Mutex<HashMap<(IrqKind, u32), Arc<EventFd>>>,
    resample: EventFd,
}

impl IrqEvents {
    /// An empty set (creates the INTx resample eventfd).
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            fds: Mutex::new(HashMap::new()),
            resample: EventFd::new(libc::EFD_NONBLOCK)?,
        })
    }

    /// The eventfd of vector `vector` of `kind`.
    pub fn get(&self, kind: IrqKind, vector: u32) -> io::Result<Arc<EventFd>> {
        let mut fds = self.fds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fd) = fds.get(&(kind, vector)) {
            return Ok(fd.clone());
        }
        let fd = Arc::new(EventFd::new(libc::EFD_NONBLOCK)?);
        fds.insert((kind, vector), fd.clone());
        Ok(fd)
    }

    /// The eventfd KVM signals when the guest EOIs the INTx line (VFIO then unmasks it).
    pub fn resample(&self) -> &EventFd {
        &self.resample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_eventfd_per_kind_and_vector() {
        let e = IrqEvents::new().unwrap();
        let a = e.get(IrqKind::Msix, 0).unwrap();
        assert!(Arc::ptr_eq(&a, &e.get(IrqKind::Msix, 0).unwrap()));
        assert!(!Arc::ptr_eq(&a, &e.get(IrqKind::Msix, 1).unwrap()));
        assert!(!Arc::ptr_eq(&a, &e.get(IrqKind::Msi, 0).unwrap()));
    }
}
