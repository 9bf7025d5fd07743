//! The VFIO passthrough *model*: how an assigned function looks to the guest, tested
//! against a mock device. The ioctls live in the VMM, behind [`PassthroughBackend`].
//!
//! - [`backend`]: the trait the real VFIO device implements (Result-returning config and
//!   BAR access, region info, interrupt setup); [`mock`] implements it in memory.
//! - [`builder`] / [`function`]: [`PassthroughFunction`], the [`crate::pci::PciDevice`]
//!   the bus drives, built step by step.
//! - [`trap_setup`] / [`trap_map`]: what is emulated, what goes to the device.
//! - [`policy`]: the capabilities hidden from every guest (DOE first), and why.
//! - [`msi`] / [`msix`] / [`irq_state`] / [`interrupt`]: MSI and MSI-X emulation, and the
//!   [`InterruptUpdate`]s the VMM turns into GSI routes and irqfds.
//! - [`bar_map`]: which parts of each BAR may be mmapped into the guest.

pub mod backend;
pub mod bar_map;
pub mod builder;
mod error;
pub mod function;
pub mod interrupt;
mod irq_state;
pub mod mock;
mod msi;
mod msix;
pub mod policy;
mod trap_map;
mod trap_setup;

#[cfg(test)]
mod tests;

pub use backend::{
    intx_pin, BackendConfigSpace, BackendError, IrqKind, PassthroughBackend, RegionInfo,
};
pub use bar_map::{BarMapping, MmapArea, PAGE_SIZE};
pub use builder::PassthroughBuilder;
pub use error::PassthroughError;
pub use function::PassthroughFunction;
pub use interrupt::{InterruptQueue, InterruptSink, InterruptUpdate, MsiMessage, VectorRoute};
pub use mock::{MockBackend, MockEvent};
pub use policy::{hidden_reason, HiddenCapability, HIDDEN_EXTENDED};

/// Names the owner of a virtualised or synthesised capability of an assigned function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VirtualCap {
    /// The emulated MSI capability.
    Msi,
    /// The emulated MSI-X capability.
    Msix,
    /// A handler attached with the builder, by attach order.
    Handler(usize),
}
