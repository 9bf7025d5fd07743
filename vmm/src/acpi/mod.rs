//! ACPI tables in guest memory: RSDP → XSDT → {FADT → DSDT, MADT, MCFG}.
//!
//! Linux finds the RSDP through `boot_params.acpi_rsdp_addr`, so no EBDA/BIOS scan is needed.

pub mod dsdt;
pub mod tables;

use vm_memory::{Bytes, GuestAddress};

use crate::layout::{ACPI_SIZE, ACPI_START};
use crate::memory::GuestMemoryMmap;

/// Alignment of every table.
const TABLE_ALIGN: u64 = 16;
/// Room kept for the RSDP at the start of the ACPI area.
const RSDP_SLOT: u64 = 64;

/// Errors placing the tables.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    /// The tables outgrew their area.
    #[error("ACPI tables need {need} bytes, only {have} are reserved")]
    TooBig {
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// Writing guest memory failed.
    #[error("cannot write ACPI tables into guest memory: {0}")]
    Write(#[from] vm_memory::GuestMemoryError),
}

/// The inputs of the tables.
#[derive(Debug, Clone, Copy)]
pub struct AcpiConfig {
    /// Number of vCPUs.
    pub cpus: u8,
    /// What the DSDT describes.
    pub dsdt: dsdt::DsdtConfig,
}

/// The tables laid out at their guest addresses.
#[derive(Debug, Clone)]
pub struct AcpiTables {
    /// Guest address of the RSDP.
    pub rsdp_addr: u64,
    /// Every table (the RSDP included) as `(guest address, bytes)`.
    pub blobs: Vec<(u64, Vec<u8>)>,
}

/// Builds and places every table in the ACPI area.
pub fn build(cfg: &AcpiConfig) -> Result<AcpiTables, AcpiError> {
    let mut cursor = ACPI_START + RSDP_SLOT;
    let mut blobs = Vec::new();
    let mut place = |bytes: Vec<u8>| {
        let addr = cursor;
        cursor = crate::layout::align_up(cursor + bytes.len() as u64, TABLE_ALIGN);
        blobs.push((addr, bytes));
        addr
    };
    let dsdt_addr = place(tables::dsdt(&dsdt::body(&cfg.dsdt)));
    let fadt_addr = place(tables::fadt(dsdt_addr));
    let madt_addr = place(tables::madt(cfg.cpus));
    let mcfg_addr = place(tables::mcfg(cfg.dsdt.ecam.0));
    let xsdt_addr = place(tables::xsdt(&[fadt_addr, madt_addr, mcfg_addr]));
    let used = cursor - ACPI_START;
    if used > ACPI_SIZE {
        return Err(AcpiError::TooBig {
            need: used,
            have: ACPI_SIZE,
        });
    }
    blobs.push((ACPI_START, tables::rsdp(xsdt_addr)));
    Ok(AcpiTables {
        rsdp_addr: ACPI_START,
        blobs,
    })
}

/// Writes the tables into guest memory.
pub fn write(mem: &GuestMemoryMmap, tables: &AcpiTables) -> Result<(), AcpiError> {
    for (addr, bytes) in &tables.blobs {
        mem.write_slice(bytes, GuestAddress(*addr))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
