//! Why a function could not be assigned.

use devices::pci::bar::BarError;
use devices::vfio::PassthroughError;

use super::preflight::PreflightError;
use crate::pci::PciBusError;

/// Assigning a function through VFIO failed.
#[derive(Debug, thiserror::Error)]
pub enum VfioError {
    /// A check before KVM was opened.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The KVM VFIO pseudo-device.
    #[error("cannot create the KVM VFIO device: {0}")]
    KvmVfioDevice(kvm_ioctls::Error),
    /// `/dev/vfio/vfio`.
    #[error("cannot set up the VFIO container: {0}")]
    Container(String),
    /// The group or the device.
    #[error("cannot open PCI device {bdf} through VFIO: {error}")]
    OpenDevice {
        /// The function.
        bdf: String,
        /// What VFIO said.
        error: String,
    },
    /// An eventfd or a descriptor.
    #[error("PCI device {bdf}: {source}")]
    Io {
        /// The function.
        bdf: String,
        /// The error.
        source: std::io::Error,
    },
    /// The passthrough model refused the function.
    #[error("PCI device {bdf} cannot be assigned: {source}")]
    Model {
        /// The function.
        bdf: String,
        /// Why.
        source: PassthroughError,
    },
    /// A BAR does not fit in the guest's window.
    #[error(
        "no room for BAR{index} ({size:#x} bytes) of PCI device {bdf} in the guest's PCI windows"
    )]
    NoBarSpace {
        /// The function.
        bdf: String,
        /// BAR index.
        index: u8,
        /// Its size.
        size: u64,
    },
    /// A BAR base was refused by the model.
    #[error("PCI device {bdf}: {source}")]
    Bar {
        /// The function.
        bdf: String,
        /// Why.
        source: BarError,
    },
    /// The guest's PCI bus.
    #[error(transparent)]
    Pci(#[from] PciBusError),
    /// The thread that maps guest RAM for DMA could not start.
    #[error("cannot start the thread that maps guest memory for DMA: {0}")]
    DmaThread(std::io::Error),
    /// Guest RAM could not be mapped for DMA.
    #[error("VFIO DMA map of guest memory {iova:#x}+{size:#x} failed: {error}")]
    DmaMap {
        /// Guest address (IOVA).
        iova: u64,
        /// Size.
        size: u64,
        /// What VFIO said.
        error: String,
    },
}
