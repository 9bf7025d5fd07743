//! [`PassthroughBackend`] over a real VFIO device: config and BAR region accesses that
//! return errors (`pread`/`pwrite` on the device fd at the region's offset, where
//! `vfio-ioctls` would only log), region info, and interrupts through
//! `VFIO_DEVICE_SET_IRQS` with the function's shared eventfds.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use devices::vfio::{BackendError, IrqKind, PassthroughBackend, RegionInfo};
use vfio_bindings::bindings::vfio::{
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX,
    VFIO_PCI_MSI_IRQ_INDEX, VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ,
    VFIO_REGION_INFO_FLAG_WRITE,
};
use vfio_ioctls::{VfioDevice, VfioRegionInfoCap};

use super::dma_gate::{sets_bus_master, DmaGate};
use super::events::IrqEvents;

/// BAR regions are VFIO region indexes 0..=5.
const BAR_REGIONS: u8 = 6;

/// Where one VFIO region lies in the device fd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionSpan {
    /// Offset of the region in the device fd.
    pub offset: u64,
    /// Size of the region.
    pub size: u64,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
}

impl RegionSpan {
    /// The fd offset of `len` bytes at `at` in the region, if they fit.
    fn locate(&self, at: u64, len: usize) -> io::Result<u64> {
        at.checked_add(len as u64)
            .filter(|end| *end <= self.size)
            .map(|_| self.offset + at)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{len} bytes at {at:#x} are outside the region of {:#x} bytes",
                        self.size
                    ),
                )
            })
    }

    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// A function opened through VFIO.
pub struct VfioBackend {
    /// A duplicate of the device fd for positioned reads and writes. Declared before
    /// `device` so it is closed first: the group can only be released once every fd of
    /// the device is closed.
    file: File,
    device: VfioDevice,
    config: RegionSpan,
    bars: [RegionSpan; BAR_REGIONS as usize],
    events: Arc<IrqEvents>,
    /// Holds a write that enables bus mastering until guest RAM is mapped for DMA.
    dma: Arc<DmaGate>,
    /// The function, for messages.
    name: String,
}

impl std::fmt::Debug for VfioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioBackend")
            .field("config", &self.config)
            .field("bars", &self.bars)
            .finish_non_exhaustive()
    }
}

fn irq_index(kind: IrqKind) -> u32 {
    match kind {
        IrqKind::Intx => VFIO_PCI_INTX_IRQ_INDEX,
        IrqKind::Msi => VFIO_PCI_MSI_IRQ_INDEX,
        IrqKind::Msix => VFIO_PCI_MSIX_IRQ_INDEX,
    }
}

impl VfioBackend {
    /// Wraps `device` (the function `name`); its interrupts signal the eventfds of
    /// `events`, and its bus mastering waits for `dma`.
    pub fn new(
        device: VfioDevice,
        events: Arc<IrqEvents>,
        dma: Arc<DmaGate>,
        name: String,
    ) -> io::Result<Self> {
        // SAFETY: the device fd is open for as long as `device` lives, and it outlives this
        // borrow, which only serves to duplicate the fd.
        let file =
            File::from(unsafe { BorrowedFd::borrow_raw(device.as_raw_fd()) }.try_clone_to_owned()?);
        let span = |index: u32| RegionSpan {
            offset: device.get_region_offset(index),
            size: device.get_region_size(index),
            flags: device.get_region_flags(index),
        };
        let config = span(VFIO_PCI_CONFIG_REGION_INDEX);
        let bars = std::array::from_fn(|i| span(i as u32));
        Ok(Self {
            file,
            device,
            config,
            bars,
            events,
            dma,
            name,
        })
    }

    /// The region of BAR `index`.
    pub fn bar_region(&self, index: u8) -> RegionSpan {
        self.bars
            .get(usize::from(index))
            .copied()
            .unwrap_or_default()
    }

    /// The parts of BAR `index`'s region VFIO lets map, `(offset, size)` each, when the
    /// region carries a sparse-mmap capability; `None` when the whole region may be mapped.
    pub fn sparse_mmap(&self, index: u8) -> Option<Vec<(u64, u64)>> {
        self.device
            .get_region_caps(u32::from(index))
            .into_iter()
            .find_map(|cap| match cap {
                VfioRegionInfoCap::SparseMmap(sparse) => {
                    Some(sparse.areas.iter().map(|a| (a.offset, a.size)).collect())
                }
                _ => None,
            })
    }

    /// The device fd (to mmap BAR regions).
    pub fn fd(&self) -> &File {
        &self.file
    }

    fn bar_access(&self, index: u8, offset: u64, len: usize, flag: u32) -> io::Result<u64> {
        let region = self.bar_region(index);
        if !region.has(flag) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the region does not allow this access",
            ));
        }
        region.locate(offset, len)
    }

    /// Waits (once per VM at most: later calls pass at once) until guest RAM is mapped
    /// for DMA; refuses the write when the mapping failed.
    fn hold_bus_master(&self, offset: u16, len: usize) -> Result<(), BackendError> {
        match self.dma.wait() {
            Ok(waited) => {
                if !waited.is_zero() {
                    log::info!(
                        "{}: bus mastering held {} ms until guest RAM was mapped for DMA",
                        self.name,
                        waited.as_millis()
                    );
                }
                Ok(())
            }
            Err(error) => Err(BackendError::Config {
                offset,
                len,
                source: io::Error::other(format!(
                    "bus mastering refused, guest RAM is not mapped for DMA: {error}"
                )),
            }),
        }
    }

    fn irq_error(kind: IrqKind, e: impl std::fmt::Display) -> BackendError {
        BackendError::Irq {
            kind,
            source: io::Error::other(e.to_string()),
        }
    }
}

impl PassthroughBackend for VfioBackend {
    fn read_config(&self, offset: u16, data: &mut [u8]) -> Result<(), BackendError> {
        self.config
            .locate(u64::from(offset), data.len())
            .and_then(|at| self.file.read_exact_at(data, at))
            .map_err(|source| BackendError::Config {
                offset,
                len: data.len(),
                source,
            })
    }

    fn write_config(&self, offset: u16, data: &[u8]) -> Result<(), BackendError> {
        if sets_bus_master(offset, data) {
            self.hold_bus_master(offset, data.len())?;
        }
        self.config
            .locate(u64::from(offset), data.len())
            .and_then(|at| self.file.write_all_at(data, at))
            .map_err(|source| BackendError::Config {
                offset,
                len: data.len(),
                source,
            })
    }

    fn bar_info(&self, index: u8) -> Result<RegionInfo, BackendError> {
        let region = self.bar_region(index);
        Ok(RegionInfo {
            size: if index < BAR_REGIONS { region.size } else { 0 },
            readable: region.has(VFIO_REGION_INFO_FLAG_READ),
            writable: region.has(VFIO_REGION_INFO_FLAG_WRITE),
            mmap: region.has(VFIO_REGION_INFO_FLAG_MMAP),
        })
    }

    fn read_bar(&self, index: u8, offset: u64, data: &mut [u8]) -> Result<(), BackendError> {
        self.bar_access(index, offset, data.len(), VFIO_REGION_INFO_FLAG_READ)
            .and_then(|at| self.file.read_exact_at(data, at))
            .map_err(|source| BackendError::Bar {
                index,
                offset,
                len: data.len(),
                source,
            })
    }

    fn write_bar(&self, index: u8, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.bar_access(index, offset, data.len(), VFIO_REGION_INFO_FLAG_WRITE)
            .and_then(|at| self.file.write_all_at(data, at))
            .map_err(|source| BackendError::Bar {
                index,
                offset,
                len: data.len(),
                source,
            })
    }

    fn irq_count(&self, kind: IrqKind) -> Result<u32, BackendError> {
        Ok(self
            .device
            .get_irq_info(irq_index(kind))
            .map_or(0, |irq| irq.count))
    }

    fn enable_irq(&self, kind: IrqKind, vectors: u32) -> Result<(), BackendError> {
        let fds = (0..vectors)
            .map(|v| self.events.get(kind, v))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|source| BackendError::Irq { kind, source })?;
        let refs = fds.iter().map(|fd| fd.as_ref()).collect();
        self.device
            .enable_irq(irq_index(kind), refs)
            .map_err(|e| Self::irq_error(kind, e))?;
        if kind == IrqKind::Intx {
            self.device
                .set_irq_resample_fd(VFIO_PCI_INTX_IRQ_INDEX, vec![self.events.resample()])
                .map_err(|e| Self::irq_error(kind, e))?;
        }
        Ok(())
    }

    fn disable_irq(&self, kind: IrqKind) -> Result<(), BackendError> {
        self.device
            .disable_irq(irq_index(kind))
            .map_err(|e| Self::irq_error(kind, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_accesses_stay_inside_the_region() {
        let r = RegionSpan {
            offset: 0x7_0000_0000,
            size: 0x1000,
            flags: VFIO_REGION_INFO_FLAG_READ,
        };
        assert_eq!(r.locate(0xffc, 4).unwrap(), 0x7_0000_0ffc);
        assert!(r.locate(0xffd, 4).is_err());
        assert!(r.locate(u64::MAX, 1).is_err());
        assert!(r.has(VFIO_REGION_INFO_FLAG_READ) && !r.has(VFIO_REGION_INFO_FLAG_WRITE));
    }
}
