//! PCI functions assigned through VFIO: the glue between the passthrough model of
//! `devices::vfio` and the host's VFIO and KVM.
//!
//! - [`preflight`]: sysfs and `/dev/vfio` checks before KVM is opened, one clear error each.
//! - [`container`]: the container tied to the VM (KVM VFIO device), guest RAM mapped for DMA.
//! - [`dma_gate`]: the DMA mapping runs while the guest boots; bus mastering waits for it.
//! - [`backend`]: [`devices::vfio::PassthroughBackend`] over the VFIO device fd.
//! - [`events`], [`vectors`], [`sink`]: interrupts — eventfds, GSI/irqfd bookkeeping, and the
//!   [`devices::vfio::InterruptSink`] that applies it to KVM.
//! - [`bar_alloc`], [`mmap`], [`bar_slots`]: BAR placement, BAR regions mapped into vmm, and
//!   the KVM memory slots that follow the guest's BAR programming.
//! - [`attach`]: the steps that put each function on the guest's PCI bus.

pub mod attach;
pub mod backend;
pub mod bar_alloc;
pub mod bar_slots;
pub mod container;
pub mod dma_gate;
pub mod error;
pub mod events;
pub mod mmap;
pub mod preflight;
pub mod sink;
pub mod vectors;

pub use attach::{attach, Assigned, VfioContext};
pub use error::VfioError;
pub use preflight::{check_all, Checked};
