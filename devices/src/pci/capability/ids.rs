//! Capability IDs (PCI Code and ID Assignment Specification; Linux `pci_regs.h`).

/// Standard: PCI Power Management (PCIe r6.0 §7.5.2).
pub const STD_POWER_MANAGEMENT: u16 = 0x01;
/// Standard: MSI (PCIe r6.0 §7.7.1).
pub const STD_MSI: u16 = 0x05;
/// Standard: Vendor-Specific; byte 2 holds its length.
pub const STD_VENDOR_SPECIFIC: u16 = 0x09;
/// Standard: PCI Express (PCIe r6.0 §7.5.3).
pub const STD_PCI_EXPRESS: u16 = 0x10;
/// Standard: MSI-X (PCIe r6.0 §7.7.2).
pub const STD_MSIX: u16 = 0x11;

/// Extended: Advanced Error Reporting (PCIe r6.0 §7.8.4).
pub const EXT_AER: u16 = 0x01;
/// Extended: Device Serial Number (PCIe r6.0 §7.9.3).
pub const EXT_DEVICE_SERIAL_NUMBER: u16 = 0x03;
/// Extended: Vendor-Specific Extended Capability (PCIe r6.0 §7.9.5).
pub const EXT_VENDOR_SPECIFIC: u16 = 0x0b;
/// Extended: Alternative Routing-ID Interpretation (PCIe r6.0 §7.8.7).
pub const EXT_ARI: u16 = 0x0e;
/// Extended: Address Translation Services (PCIe r6.0 §10.5.1).
pub const EXT_ATS: u16 = 0x0f;
/// Extended: Single Root I/O Virtualization (PCIe r6.0 §9.3.3).
pub const EXT_SRIOV: u16 = 0x10;
/// Extended: Page Request Interface (PCIe r6.0 §10.5.2).
pub const EXT_PRI: u16 = 0x13;
/// Extended: Resizable BAR (PCIe r6.0 §7.8.6).
pub const EXT_RESIZABLE_BAR: u16 = 0x15;
/// Extended: Process Address Space ID (PCIe r6.0 §7.8.9).
pub const EXT_PASID: u16 = 0x1b;
/// Extended: Designated Vendor-Specific (PCIe r6.0 §7.9.6); CXL puts its registers here.
pub const EXT_DVSEC: u16 = 0x23;
/// Extended: Data Object Exchange (PCIe r6.0 §7.9.24).
pub const EXT_DOE: u16 = doe_proxy::ext_cap::EXT_CAP_ID_DOE;
/// Extended: Integrity and Data Encryption (PCIe r6.0 §7.9.26).
pub const EXT_IDE: u16 = 0x30;
