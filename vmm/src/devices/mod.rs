//! The VMM's own platform devices (PCI function models live in the `devices` crate).

pub mod acpi_pm;
pub mod serial;
