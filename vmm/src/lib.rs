//! vmm: a lightweight KVM VMM that boots a Linux guest (bzImage + initramfs + command line)
//! with a PCI root bus ready for assigned functions. See README.md of this crate for the
//! module map and the command line.

#![deny(missing_docs)]

// The rate-limited log macros are doe-proxy's (one limiter for the workspace); re-exported
// so vmm code keeps calling `crate::warn_ratelimited!`.
pub use doe_proxy::{debug_ratelimited, warn_ratelimited};

pub mod acpi;
pub mod boot;
pub mod builder;
pub mod bus;
pub mod cli;
pub mod coalesced;
pub mod control;
pub mod devices;
pub mod doe;
pub mod error;
pub mod event_loop;
pub mod exit;
pub mod interrupts;
pub mod layout;
pub mod logger;
pub mod memory;
pub mod pci;
pub mod seccomp;
pub mod stats;
pub mod vcpu;
pub mod vfio;
pub mod vm;

pub use error::Error;
