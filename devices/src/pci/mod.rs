//! PCI device models: the contract with the bus, config space, BARs, capabilities.
//!
//! - [`device`]: the [`PciDevice`] trait the VMM's bus drives.
//! - [`access`]: what makes a config access well formed.
//! - [`header`]: named offsets and bits of the type 0 header.
//! - [`config`]: a 4 KiB register model with writable and RW1C masks.
//! - [`bar`]: BAR emulation (sizing, programming, decode).
//! - [`capability`]: standard and extended capability chains — walk, hide, virtualise,
//!   synthesise.

pub mod access;
pub mod bar;
pub mod capability;
pub mod config;
pub mod device;
pub mod header;

pub use access::{check_config_access, AccessError};
pub use bar::{BarDef, BarError, Bars};
pub use config::PciConfig;
pub use device::{BarKind, BarRange, PciDevice};
