//! Everything DOE, without KVM: protocol codecs, the config-space abstraction, the
//! register-level mailbox driver and an emulated DOE function for tests.
#![deny(missing_docs)]

pub mod admin;
pub mod cdat_read;
pub mod config_space;
pub mod emulated;
pub mod exchange;
pub mod ext_cap;
pub mod log_limit;
pub mod mailbox;
pub mod mediator;
pub mod ownership;
pub mod pci_address;
pub mod protocol;
pub mod signals;
pub mod socket;
pub mod spdm;
pub mod sysfs_scan;
