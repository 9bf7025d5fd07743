//! The contract between the VMM's PCI bus and every PCI function model.

/// The address space a BAR decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// I/O port space.
    Io,
    /// Memory below 4 GiB (32-bit BAR).
    Mmio32,
    /// Memory anywhere (64-bit BAR, two registers).
    Mmio64,
}

/// A BAR as the guest has currently programmed and enabled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BarRange {
    /// BAR index (0..=5; a 64-bit BAR is named by its low register).
    pub index: u8,
    /// What it decodes.
    pub kind: BarKind,
    /// Guest-physical (or I/O port) base address.
    pub base: u64,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// Whether the BAR is prefetchable (memory BARs only).
    pub prefetchable: bool,
}

/// A PCI function on the VMM's root bus.
///
/// Config accesses are 1, 2 or 4 bytes wide, naturally aligned, at offsets below 4096; the
/// bus guarantees both. After every config write the bus calls [`PciDevice::bar_ranges`]
/// and remaps whatever changed, so a device never has to report moves itself.
pub trait PciDevice: Send {
    /// Reads `data.len()` bytes of config space at `offset`.
    fn read_config(&mut self, offset: u16, data: &mut [u8]);
    /// Writes `data` to config space at `offset`.
    fn write_config(&mut self, offset: u16, data: &[u8]);
    /// The BARs that currently decode (programmed, and enabled in the Command register).
    fn bar_ranges(&self) -> Vec<BarRange>;
    /// A trapped access to BAR `index` at `offset` from its base.
    fn read_bar(&mut self, index: u8, offset: u64, data: &mut [u8]);
    /// A trapped write to BAR `index` at `offset` from its base.
    fn write_bar(&mut self, index: u8, offset: u64, data: &[u8]);
}
