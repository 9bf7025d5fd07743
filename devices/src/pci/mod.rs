//! PCI device models: the contract with the bus, config space, capabilities.

pub mod device;

pub use device::{BarKind, BarRange, PciDevice};
