//! Device models for the VMM: PCI functions, their config space and capabilities, the
//! VFIO passthrough function and (later) the virtual DOE mailbox. See README.md.
#![deny(missing_docs)]

pub mod doe;
mod log_limit;
pub mod pci;
pub mod vfio;
