//! What the guest asked of the function's interrupts, for the VMM to turn into KVM GSI
//! routes and irqfds.
//!
//! The function model emits [`InterruptUpdate`]s to an [`InterruptSink`] synchronously,
//! in an order the VMM can rely on:
//!
//! - enabling a kind: `Enabled`, then one `Vector` per vector, then the backend's
//!   `enable_irq` (so routes and irqfds exist before the device can fire);
//! - a changed message or mask while enabled: `Vector` for that vector only;
//! - disabling a kind: the backend's `disable_irq`, then `Disabled`.
//!
//! A masked vector must not be delivered; the VMM detaches its irqfd and re-attaches it
//! on unmask (KVM then delivers an event that arrived while it was masked). Enabling MSI
//! or MSI-X disables INTx first (`Disabled { Intx }`), and disabling both enables INTx
//! again when the function has a pin.

use std::sync::{Arc, Mutex, PoisonError};

use super::backend::IrqKind;

/// An MSI message: the guest's address and data for one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsiMessage {
    /// Message address.
    pub address: u64,
    /// Message data.
    pub data: u32,
}

/// Where one vector goes and whether it may be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VectorRoute {
    /// The message the guest programmed.
    pub message: MsiMessage,
    /// Masked (per vector, or by the MSI-X Function Mask): hold the interrupt.
    pub masked: bool,
}

/// A change of the function's interrupt state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptUpdate {
    /// `kind` is now enabled with `vectors` vectors (1 for INTx).
    Enabled {
        /// The mechanism.
        kind: IrqKind,
        /// Vectors in use.
        vectors: u32,
    },
    /// Vector `vector` of `kind` now has this route.
    Vector {
        /// The mechanism (MSI or MSI-X).
        kind: IrqKind,
        /// Vector index.
        vector: u32,
        /// Its message and mask.
        route: VectorRoute,
    },
    /// `kind` is now disabled.
    Disabled {
        /// The mechanism.
        kind: IrqKind,
    },
}

/// Receives the function's interrupt updates (the VMM's GSI routing and irqfds).
pub trait InterruptSink: Send {
    /// Applies one update; called on the thread of the guest access that caused it.
    fn update(&mut self, update: InterruptUpdate);
}

/// An [`InterruptSink`] that queues updates for whoever holds a clone to drain, for a
/// VMM that applies them after the access (or for tests).
#[derive(Debug, Clone, Default)]
pub struct InterruptQueue {
    updates: Arc<Mutex<Vec<InterruptUpdate>>>,
}

impl InterruptQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every queued update, oldest first.
    pub fn drain(&self) -> Vec<InterruptUpdate> {
        std::mem::take(&mut *self.updates.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl InterruptSink for InterruptQueue {
    fn update(&mut self, update: InterruptUpdate) {
        self.updates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(update);
    }
}
