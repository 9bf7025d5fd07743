//! The PCI root complex: one bus (segment 0, bus 0) with a host bridge at 00.0, config
//! access through 0xCF8/0xCFC and ECAM, BAR windows trapped on the port and MMIO buses, and
//! the INTx routing ([`intx`]).
//!
//! Functions implement [`devices::pci::PciDevice`]; the bus owns them as trait objects, so
//! VFIO functions plug in with [`PciBus::add`].

pub mod address;
pub mod bars;
pub mod bus;
pub mod config_access;
pub mod config_io;
pub mod ecam;
pub mod host_bridge;
pub mod intx;
#[cfg(test)]
pub mod mock;

pub use bars::{BarListener, BarMapper, BarWindows};
pub use bus::{BarChange, PciBus, PciBusError};
