//! What the passthrough model needs from the real device: the [`PassthroughBackend`]
//! trait. The VMM implements it over a VFIO device (config region, BAR regions,
//! `VFIO_DEVICE_SET_IRQS`); tests implement it with [`super::MockBackend`].
//!
//! Unlike `vfio-ioctls`, whose region accesses only log failures, every access here
//! returns a `Result`: the function model decides what a failed access means for the
//! guest (all ones on a read, a dropped write) and the DOE mailbox driver needs to know.

use std::io;
use std::sync::Arc;

use doe_proxy::config_space::{check_offset, ConfigError, ConfigSpace};

/// An interrupt mechanism of a PCI function (the VFIO IRQ indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IrqKind {
    /// Legacy INTx (level-triggered pin).
    Intx,
    /// MSI.
    Msi,
    /// MSI-X.
    Msix,
}

/// What the device says about one BAR's region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegionInfo {
    /// Size in bytes; 0 when the BAR is not implemented.
    pub size: u64,
    /// The region can be read.
    pub readable: bool,
    /// The region can be written.
    pub writable: bool,
    /// The region can be mapped into the guest (`VFIO_REGION_INFO_FLAG_MMAP`); if not,
    /// every guest access to the BAR is trapped.
    pub mmap: bool,
}

/// A failed access to the device.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A config region access failed.
    #[error("config access of {len} bytes at {offset:#x} failed: {source}")]
    Config {
        /// Offset accessed.
        offset: u16,
        /// Bytes accessed.
        len: usize,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A BAR region access failed.
    #[error("access of {len} bytes at {offset:#x} in BAR {index} failed: {source}")]
    Bar {
        /// BAR index.
        index: u8,
        /// Offset in the BAR.
        offset: u64,
        /// Bytes accessed.
        len: usize,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The region info of a BAR could not be read.
    #[error("cannot get the region info of BAR {index}: {source}")]
    BarInfo {
        /// BAR index.
        index: u8,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Querying, enabling or disabling interrupts failed.
    #[error("{kind:?} interrupt setup failed: {source}")]
    Irq {
        /// The mechanism.
        kind: IrqKind,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// The device behind a passthrough function: config region, BAR regions, interrupts.
///
/// Config accesses are 1, 2 or 4 bytes, naturally aligned, below 4 KiB: the function
/// model never asks for anything else. Methods take `&self` so one device can be shared
/// (through an `Arc`) between the function model on the vCPU thread and a DOE mailbox
/// driver on another thread.
pub trait PassthroughBackend: Send + Sync {
    /// Reads `data.len()` bytes of config space at `offset`.
    fn read_config(&self, offset: u16, data: &mut [u8]) -> Result<(), BackendError>;
    /// Writes `data` to config space at `offset`.
    fn write_config(&self, offset: u16, data: &[u8]) -> Result<(), BackendError>;
    /// Size and flags of BAR `index`'s region (size 0: no BAR).
    fn bar_info(&self, index: u8) -> Result<RegionInfo, BackendError>;
    /// Reads `data.len()` bytes at `offset` in BAR `index` (a trapped guest access).
    fn read_bar(&self, index: u8, offset: u64, data: &mut [u8]) -> Result<(), BackendError>;
    /// Writes `data` at `offset` in BAR `index` (a trapped guest access).
    fn write_bar(&self, index: u8, offset: u64, data: &[u8]) -> Result<(), BackendError>;
    /// How many vectors of `kind` the device offers (0: none).
    fn irq_count(&self, kind: IrqKind) -> Result<u32, BackendError>;
    /// Starts delivering `vectors` vectors of `kind`, each to the VMM's event for
    /// (`kind`, vector). Only one kind is enabled at a time.
    fn enable_irq(&self, kind: IrqKind, vectors: u32) -> Result<(), BackendError>;
    /// Stops delivering `kind`.
    fn disable_irq(&self, kind: IrqKind) -> Result<(), BackendError>;
}

impl<T: PassthroughBackend + ?Sized> PassthroughBackend for Arc<T> {
    fn read_config(&self, offset: u16, data: &mut [u8]) -> Result<(), BackendError> {
        (**self).read_config(offset, data)
    }
    fn write_config(&self, offset: u16, data: &[u8]) -> Result<(), BackendError> {
        (**self).write_config(offset, data)
    }
    fn bar_info(&self, index: u8) -> Result<RegionInfo, BackendError> {
        (**self).bar_info(index)
    }
    fn read_bar(&self, index: u8, offset: u64, data: &mut [u8]) -> Result<(), BackendError> {
        (**self).read_bar(index, offset, data)
    }
    fn write_bar(&self, index: u8, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        (**self).write_bar(index, offset, data)
    }
    fn irq_count(&self, kind: IrqKind) -> Result<u32, BackendError> {
        (**self).irq_count(kind)
    }
    fn enable_irq(&self, kind: IrqKind, vectors: u32) -> Result<(), BackendError> {
        (**self).enable_irq(kind, vectors)
    }
    fn disable_irq(&self, kind: IrqKind) -> Result<(), BackendError> {
        (**self).disable_irq(kind)
    }
}

/// The Interrupt Pin (1 = INTA# … 4 = INTD#) of the function behind `backend`, when it
/// has one and the backend offers INTx for it: what decides whether the function may
/// interrupt through INTx at all. `None` for a function without INTx.
pub fn intx_pin<B: PassthroughBackend + ?Sized>(backend: &B) -> Result<Option<u8>, BackendError> {
    let mut pin = [0u8];
    backend.read_config(crate::pci::header::INTERRUPT_PIN, &mut pin)?;
    if pin[0] == 0 || backend.irq_count(IrqKind::Intx)? == 0 {
        return Ok(None);
    }
    Ok(Some(pin[0]))
}

/// A backend's config region seen as a DOE [`ConfigSpace`], so the mailbox driver of
/// `doe-proxy` can reach a physical DOE mailbox through the VFIO device in-process.
#[derive(Debug, Clone)]
pub struct BackendConfigSpace<B>(pub B);

impl<B: PassthroughBackend> ConfigSpace for BackendConfigSpace<B> {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        check_offset(offset)?;
        let mut bytes = [0; 4];
        self.0
            .read_config(offset, &mut bytes)
            .map_err(|e| ConfigError::Io {
                offset,
                source: io::Error::other(e),
            })?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        check_offset(offset)?;
        self.0
            .write_config(offset, &value.to_le_bytes())
            .map_err(|e| ConfigError::Io {
                offset,
                source: io::Error::other(e),
            })
    }
}
