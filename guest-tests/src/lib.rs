//! The nested QEMU bench: set-up, image building, booting L1 with a topology, running a
//! scenario's scripts inside it and checking what came back. See the crate README.
#![deny(missing_docs)]

pub mod bench;
pub mod doe_bench;
pub mod edu;
pub mod intx_test;
pub mod msi_test;
pub mod pci_config;
pub mod probe;
pub mod proc_interrupts;
pub mod scenarios;
pub mod tool;
pub mod wait;
