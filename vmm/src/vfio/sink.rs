//! The [`InterruptSink`] of an assigned function: turns the model's interrupt updates into
//! GSI routes (`KVM_SET_GSI_ROUTING`) and irqfds (`KVM_IRQFD`).
//!
//! It runs on the vCPU thread of the guest access that caused the update, under the PCI
//! bus lock: it takes only the routing-table lock and makes non-blocking KVM ioctls; it
//! never touches the device. Failures are logged (rate-limited: the guest drives them) and
//! leave that vector undelivered.

use std::sync::{Arc, Mutex, PoisonError};

use devices::vfio::{InterruptSink, InterruptUpdate, IrqKind};
use kvm_ioctls::VmFd;

use super::events::IrqEvents;
use super::vectors::{IrqfdChange, VectorTable};
use crate::interrupts::GsiRouting;

/// Routes one function's interrupts into the VM.
pub struct VfioInterruptSink {
    vm: Arc<VmFd>,
    routing: Arc<Mutex<GsiRouting>>,
    events: Arc<IrqEvents>,
    table: VectorTable,
    /// The legacy GSI the guest expects this function's INTx on (if it has one).
    intx_gsi: Option<u32>,
    intx_attached: bool,
    /// The host function, for logs.
    name: String,
}

impl std::fmt::Debug for VfioInterruptSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioInterruptSink")
            .field("name", &self.name)
            .field("intx_gsi", &self.intx_gsi)
            .finish_non_exhaustive()
    }
}

impl VfioInterruptSink {
    /// A sink for the function `name` whose eventfds are `events`; INTx goes to
    /// `intx_gsi` (level-triggered, with a resample eventfd) when given.
    pub fn new(
        vm: Arc<VmFd>,
        routing: Arc<Mutex<GsiRouting>>,
        events: Arc<IrqEvents>,
        intx_gsi: Option<u32>,
        name: String,
    ) -> Self {
        Self {
            vm,
            routing,
            events,
            table: VectorTable::new(),
            intx_gsi,
            intx_attached: false,
            name,
        }
    }

    fn intx(&mut self, enable: bool) {
        let Some(gsi) = self.intx_gsi else {
            if enable {
                log::debug!(
                    "{}: INTx has no route in the guest; left unconnected",
                    self.name
                );
            }
            return;
        };
        if enable == self.intx_attached {
            return;
        }
        let fd = match self.events.get(IrqKind::Intx, 0) {
            Ok(fd) => fd,
            Err(e) => {
                crate::warn_ratelimited!("{}: INTx eventfd: {e}", self.name);
                return;
            }
        };
        let result = if enable {
            self.vm
                .register_irqfd_with_resample(&fd, self.events.resample(), gsi)
        } else {
            self.vm.unregister_irqfd(&fd, gsi)
        };
        match result {
            Ok(()) => self.intx_attached = enable,
            Err(e) => {
                crate::warn_ratelimited!("{}: KVM_IRQFD for INTx (GSI {gsi}): {e}", self.name)
            }
        }
    }

    fn irqfd(&self, change: IrqfdChange) {
        let (kind, vector, gsi, attach) = match change {
            IrqfdChange::Attach { kind, vector, gsi } => (kind, vector, gsi, true),
            IrqfdChange::Detach { kind, vector, gsi } => (kind, vector, gsi, false),
        };
        let result = self
            .events
            .get(kind, vector)
            .map_err(|e| e.to_string())
            .and_then(|fd| {
                if attach {
                    self.vm.register_irqfd(&fd, gsi)
                } else {
                    self.vm.unregister_irqfd(&fd, gsi)
                }
                .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            crate::warn_ratelimited!(
                "{}: KVM_IRQFD {} for {kind:?} vector {vector} (GSI {gsi}): {e}",
                self.name,
                if attach { "attach" } else { "detach" }
            );
        }
    }
}

impl InterruptSink for VfioInterruptSink {
    fn update(&mut self, update: InterruptUpdate) {
        match update {
            InterruptUpdate::Enabled {
                kind: IrqKind::Intx,
                ..
            } => return self.intx(true),
            InterruptUpdate::Disabled {
                kind: IrqKind::Intx,
            } => return self.intx(false),
            _ => {}
        }
        let mut routing = self.routing.lock().unwrap_or_else(PoisonError::into_inner);
        let plan = match self.table.apply(update, &mut routing) {
            Ok(plan) => plan,
            Err(e) => {
                crate::warn_ratelimited!("{}: {e}", self.name);
                return;
            }
        };
        let (detaches, attaches): (Vec<_>, Vec<_>) = plan
            .irqfds
            .into_iter()
            .partition(|c| matches!(c, IrqfdChange::Detach { .. }));
        for change in detaches {
            self.irqfd(change);
        }
        if plan.commit {
            if let Err(e) = routing.commit(&self.vm) {
                crate::warn_ratelimited!("{}: {e}", self.name);
            }
        }
        drop(routing);
        for change in attaches {
            self.irqfd(change);
        }
    }
}
