//! The fixed ACPI tables: FADT, MADT, MCFG, XSDT, RSDP (ACPI 6.5 §5.2; MCFG: PCI Firmware
//! Spec 3.2 §4.1.2).

use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::madt::{
    EnabledStatus, IoApic, LocalInterruptController, ProcessorLocalApic, MADT,
};
use acpi_tables::mcfg::MCFG;
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::Aml;

use crate::devices::acpi_pm::{RESET_PORT, RESET_VALUE, SLEEP_CONTROL_PORT, SLEEP_STATUS_PORT};
use crate::layout::{IOAPIC_ADDR, LAPIC_ADDR};

/// OEM ID in every table header.
pub const OEM_ID: [u8; 6] = *b"DOEVMM";
/// OEM table ID in every table header.
pub const OEM_TABLE_ID: [u8; 8] = *b"DOEVMM  ";
/// OEM revision.
const OEM_REVISION: u32 = 1;
/// DSDT revision 2 and up: 64-bit integers in AML.
const DSDT_REVISION: u8 = 6;
/// IA-PC boot architecture flag: no VGA (ACPI 6.5 Table 5.11).
const IAPC_NO_VGA: u16 = 1 << 2;
/// IA-PC boot architecture flag: no CMOS RTC.
const IAPC_NO_CMOS_RTC: u16 = 1 << 5;

fn to_bytes(t: &dyn Aml) -> Vec<u8> {
    let mut v = Vec::new();
    t.to_aml_bytes(&mut v);
    v
}

fn io_register(port: u16) -> GAS {
    GAS::new(
        AddressSpace::SystemIo,
        8,
        0,
        AccessSize::ByteAccess,
        u64::from(port),
    )
}

/// The DSDT: a header around `body` (AML).
pub fn dsdt(body: &[u8]) -> Vec<u8> {
    let mut sdt = Sdt::new(
        *b"DSDT",
        36,
        DSDT_REVISION,
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
    );
    sdt.append_slice(body);
    sdt.as_slice().to_vec()
}

/// The FADT of a hardware-reduced platform: power-off and reset through I/O ports that the
/// VMM traps ([`crate::devices::acpi_pm`]).
pub fn fadt(dsdt_addr: u64) -> Vec<u8> {
    let mut b = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt_addr)
        .flag(Flags::HwReducedAcpi)
        .flag(Flags::ResetRegSup)
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    b.iapc_boot_arch = (IAPC_NO_VGA | IAPC_NO_CMOS_RTC).into();
    b.reset_reg = io_register(RESET_PORT);
    b.reset_value = RESET_VALUE;
    b.sleep_control_reg = io_register(SLEEP_CONTROL_PORT);
    b.sleep_status_reg = io_register(SLEEP_STATUS_PORT);
    to_bytes(&b.finalize())
}

/// The MADT: one enabled Local APIC per vCPU (APIC ID = vCPU index) and the IOAPIC.
///
/// No interrupt source overrides: KVM's in-kernel PIT and ISA devices drive IOAPIC pins
/// with the same number as their ISA IRQ, which is what Linux assumes without overrides.
pub fn madt(cpus: u8) -> Vec<u8> {
    let mut madt = MADT::new(
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
        LocalInterruptController::Address(LAPIC_ADDR as u32),
    );
    for id in 0..cpus {
        madt.add_structure(ProcessorLocalApic::new(id, id, EnabledStatus::Enabled));
    }
    madt.add_structure(IoApic::new(ioapic_id(cpus), IOAPIC_ADDR as u32, 0));
    to_bytes(&madt)
}

/// The IOAPIC's ID: the first one after the vCPUs' APIC IDs.
pub fn ioapic_id(cpus: u8) -> u8 {
    cpus
}

/// The MCFG: one ECAM range for segment 0, bus 0.
pub fn mcfg(ecam_base: u64) -> Vec<u8> {
    let mut mcfg = MCFG::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    mcfg.add_ecam(ecam_base, 0, 0, 0);
    to_bytes(&mcfg)
}

/// The XSDT listing `entries`.
pub fn xsdt(entries: &[u64]) -> Vec<u8> {
    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    for e in entries {
        xsdt.add_entry(*e);
    }
    to_bytes(&xsdt)
}

/// The RSDP (revision 2) pointing at the XSDT.
pub fn rsdp(xsdt_addr: u64) -> Vec<u8> {
    to_bytes(&Rsdp::new(OEM_ID, xsdt_addr))
}
