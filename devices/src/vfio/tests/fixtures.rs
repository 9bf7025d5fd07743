//! Mock devices modelled on what the bench shows, and helpers to drive a function as the
//! guest would.

use std::sync::Arc;

use crate::pci::capability::ids::{
    EXT_ARI, EXT_DOE, EXT_SRIOV, STD_MSI, STD_MSIX, STD_PCI_EXPRESS,
};
use crate::pci::config::PciConfig;
use crate::pci::header::{COMMAND, STATUS, STATUS_CAPABILITIES_LIST, STATUS_RW1C};
use crate::pci::PciDevice;
use crate::vfio::{
    InterruptQueue, IrqKind, MockBackend, PassthroughBuilder, PassthroughFunction, RegionInfo,
};

/// The function under test, its device and its interrupt updates.
pub(super) type Bench = (
    PassthroughFunction<Arc<MockBackend>>,
    Arc<MockBackend>,
    InterruptQueue,
);

pub(super) const KIB: u64 = 1 << 10;

/// The CXL type 3 device as QEMU presents it in L1: Intel 8086:0d93, class 050210.
pub(super) const CXL_ID: u32 = 0x0d93_8086;
pub(super) const CXL_CLASS_REV: u32 = 0x0502_1001;

/// The extended capability headers of the CXL device, as raw bytes from its config
/// space (DVSECs at 0x100, 0x13c, 0x160, 0x170; DOE at 0x190; AER at 0x200).
pub(super) const CXL_EXT_HEADERS: [(u16, [u8; 4]); 6] = [
    (0x100, [0x23, 0x00, 0xc1, 0x13]),
    (0x13c, [0x23, 0x00, 0x01, 0x16]),
    (0x160, [0x23, 0x00, 0x01, 0x17]),
    (0x170, [0x23, 0x00, 0x01, 0x19]),
    (0x190, [0x2e, 0x00, 0x01, 0x20]),
    (0x200, [0x01, 0x00, 0x02, 0x00]),
];

/// The DOE mailbox of the CXL device and its length.
pub(super) const CXL_DOE: u16 = 0x190;
pub(super) const DOE_LEN: u16 = 0x18;
/// DOE Control, relative to the capability.
pub(super) const DOE_CONTROL: u16 = 0x08;
/// MSI-X capability of the CXL device; 6 vectors, table at BAR4 + 0, PBA at BAR4 + 0x800.
pub(super) const CXL_MSIX: u16 = 0x40;
pub(super) const CXL_MSIX_VECTORS: u32 = 6;
pub(super) const CXL_MSIX_BAR: u8 = 4;
pub(super) const CXL_PBA: u64 = 0x800;

fn region(size: u64) -> RegionInfo {
    RegionInfo {
        size,
        readable: true,
        writable: true,
        mmap: true,
    }
}

/// Config space of the CXL device. Host-side values the guest must never see are set
/// where they would be: BAR addresses, the Interrupt Line. BAR sizes are illustrative.
pub(super) fn cxl_config() -> PciConfig {
    let mut cfg = PciConfig::new();
    cfg.set_u32(0x00, CXL_ID);
    cfg.set_u16(STATUS, STATUS_CAPABILITIES_LIST);
    cfg.set_u32(0x08, CXL_CLASS_REV);
    cfg.set_u32(0x10, 0xfe80_0004); // BAR0: 64-bit component registers, host address.
    cfg.set_u32(0x18, 0xfe81_0004); // BAR2: 64-bit device registers.
    cfg.set_u32(0x20, 0xfe82_0000); // BAR4: 32-bit, MSI-X only.
    cfg.set_u32(0x2c, 0x1100_1af4);
    cfg.set_u8(0x34, CXL_MSIX as u8);
    cfg.set_u16(0x3c, 0x010b); // Interrupt Pin INTA, host's line 11.
                               // MSI-X 0x40 -> PCIe 0x80.
    cfg.set_u16(CXL_MSIX, u16::from_le_bytes([STD_MSIX as u8, 0x80]));
    cfg.set_u16(CXL_MSIX + 2, (CXL_MSIX_VECTORS - 1) as u16);
    cfg.set_u32(CXL_MSIX + 4, u32::from(CXL_MSIX_BAR));
    cfg.set_u32(CXL_MSIX + 8, CXL_PBA as u32 | u32::from(CXL_MSIX_BAR));
    cfg.set_u16(0x80, u16::from_le_bytes([STD_PCI_EXPRESS as u8, 0]));
    cfg.set_u16(0x82, 0x0002);
    for (offset, raw) in CXL_EXT_HEADERS {
        cfg.set_bytes(offset, &raw);
    }
    // DVSEC header 1 (vendor 1e98, revision, length) and 2 (DVSEC ID).
    for (offset, header1, id) in [
        (0x100, 0x03c1_1e98, 0),
        (0x13c, 0x0240_1e98, 8),
        (0x160, 0x0100_1e98, 5),
        (0x170, 0x0200_1e98, 7),
    ] {
        cfg.set_u32(offset + 4, header1);
        cfg.set_u32(offset + 8, id);
    }
    cfg.set_u32(CXL_DOE + 4, 0x0000_0001); // DOE Capabilities: interrupt support.
    cfg.set_u32(0x204, 0x0000_0000); // AER Uncorrectable Error Status.
                                     // What the hardware lets software write (so a leaked write would show).
    cfg.set_writable_u16(COMMAND, 0x0547);
    cfg.set_rw1c_u16(STATUS, STATUS_RW1C);
    for bar in [0x10, 0x14, 0x18, 0x1c, 0x20] {
        cfg.set_writable_u32(bar, 0xffff_fff0);
    }
    cfg.set_writable_u16(CXL_MSIX + 2, 0xc000);
    cfg.set_writable_u32(CXL_DOE + DOE_CONTROL, 0x8000_0003);
    cfg.set_writable_u32(CXL_DOE + 0x10, u32::MAX);
    cfg
}

/// The CXL device with its regions and interrupts.
pub(super) fn cxl_mock() -> MockBackend {
    MockBackend::new(cxl_config())
        .with_bar(0, region(64 * KIB))
        .with_bar(2, region(64 * KIB))
        .with_bar(CXL_MSIX_BAR, region(4 * KIB))
        .with_irqs(IrqKind::Intx, 1)
        .with_irqs(IrqKind::Msix, CXL_MSIX_VECTORS)
}

/// A function with MSI (64-bit, per-vector masking, 4 vectors) at 0x50, INTA, one 32-bit
/// BAR and a DOE as its only extended capability.
pub(super) fn msi_mock() -> MockBackend {
    let mut cfg = PciConfig::new();
    cfg.set_u32(0x00, 0x1234_1b36);
    cfg.set_u16(STATUS, STATUS_CAPABILITIES_LIST);
    cfg.set_u32(0x10, 0xfe00_0000);
    cfg.set_u8(0x34, 0x50);
    cfg.set_u8(0x3d, 1);
    cfg.set_u16(0x50, u16::from_le_bytes([STD_MSI as u8, 0]));
    cfg.set_u16(0x52, 0x0184);
    cfg.set_u32(0x100, 0x0001_0000 | u32::from(EXT_DOE));
    MockBackend::new(cfg)
        .with_bar(0, region(16 * KIB))
        .with_irqs(IrqKind::Intx, 1)
        .with_irqs(IrqKind::Msi, 4)
}

/// The NVMe PF of the bench: ARI at 0x100, DOE at 0x108, SR-IOV at 0x160; no INTx pin.
pub(super) fn nvme_pf_mock() -> MockBackend {
    let mut cfg = PciConfig::new();
    cfg.set_u32(0x00, 0x5845_8086);
    cfg.set_u32(0x100, 0x1081_0000 | u32::from(EXT_ARI));
    cfg.set_u32(0x108, 0x1601_0000 | u32::from(EXT_DOE));
    cfg.set_u32(0x160, 0x0001_0000 | u32::from(EXT_SRIOV));
    cfg.set_u32(0x10, 0xfe00_0004);
    MockBackend::new(cfg).with_bar(0, region(16 * KIB))
}

/// Builds the function over `mock`.
pub(super) fn build(mock: MockBackend) -> Bench {
    let mock = Arc::new(mock);
    let queue = InterruptQueue::new();
    let function = PassthroughBuilder::new(Arc::clone(&mock), Box::new(queue.clone()))
        .build()
        .expect("the mock function builds");
    (function, mock, queue)
}

pub(super) fn read(f: &mut impl PciDevice, offset: u16, len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    f.read_config(offset, &mut data);
    data
}

pub(super) fn read32(f: &mut impl PciDevice, offset: u16) -> u32 {
    let mut data = [0; 4];
    f.read_config(offset, &mut data);
    u32::from_le_bytes(data)
}

pub(super) fn read16(f: &mut impl PciDevice, offset: u16) -> u16 {
    let mut data = [0; 2];
    f.read_config(offset, &mut data);
    u16::from_le_bytes(data)
}

pub(super) fn write32(f: &mut impl PciDevice, offset: u16, value: u32) {
    f.write_config(offset, &value.to_le_bytes());
}

pub(super) fn write16(f: &mut impl PciDevice, offset: u16, value: u16) {
    f.write_config(offset, &value.to_le_bytes());
}

/// The whole config space as the guest reads it, one dword at a time.
pub(super) fn guest_view(f: &mut impl PciDevice) -> PciConfig {
    let mut bytes = Vec::with_capacity(4096);
    for offset in (0..0x1000).step_by(4) {
        bytes.extend_from_slice(&read32(f, offset).to_le_bytes());
    }
    PciConfig::from_bytes(&bytes)
}
