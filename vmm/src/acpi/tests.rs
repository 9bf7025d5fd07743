//! Layout and content tests of the ACPI tables, read back the way an OS parses them.

use super::*;
use crate::layout::{ECAM_BASE, ECAM_SIZE, IOAPIC_ADDR, LAPIC_ADDR};

fn cfg(cpus: u8) -> AcpiConfig {
    AcpiConfig {
        cpus,
        dsdt: dsdt::DsdtConfig {
            ecam: (ECAM_BASE, ECAM_SIZE),
            mmio64: (1 << 32, 64 << 30),
        },
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
}

fn table_at(t: &AcpiTables, addr: u64) -> &[u8] {
    &t.blobs
        .iter()
        .find(|(a, _)| *a == addr)
        .expect("no table there")
        .1
}

#[test]
fn every_table_checksums_and_has_its_length() {
    let t = build(&cfg(2)).unwrap();
    for (addr, bytes) in &t.blobs {
        if *addr == t.rsdp_addr {
            assert_eq!(sum(&bytes[..20]), 0, "RSDP v1 checksum");
            assert_eq!(sum(bytes), 0, "RSDP extended checksum");
            assert_eq!(&bytes[..8], b"RSD PTR ");
        } else {
            assert_eq!(sum(bytes), 0, "{}", String::from_utf8_lossy(&bytes[..4]));
            assert_eq!(u32_at(bytes, 4) as usize, bytes.len());
        }
    }
}

#[test]
fn tables_do_not_overlap_and_fit_the_area() {
    let t = build(&cfg(8)).unwrap();
    let mut spans: Vec<(u64, u64)> = t
        .blobs
        .iter()
        .map(|(a, b)| (*a, *a + b.len() as u64))
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0);
    }
    assert!(spans.last().unwrap().1 <= ACPI_START + ACPI_SIZE);
}

#[test]
fn pointers_chain_from_rsdp() {
    let t = build(&cfg(1)).unwrap();
    let rsdp = table_at(&t, t.rsdp_addr);
    assert_eq!(rsdp[15], 2, "revision 2 (has an XSDT)");
    let xsdt = table_at(&t, u64_at(rsdp, 24));
    assert_eq!(&xsdt[..4], b"XSDT");
    let sigs: Vec<&[u8]> = (36..xsdt.len())
        .step_by(8)
        .map(|o| &table_at(&t, u64_at(xsdt, o))[..4])
        .collect();
    assert_eq!(sigs, vec![&b"FACP"[..], b"APIC", b"MCFG"]);
    let fadt = table_at(&t, u64_at(xsdt, 36));
    let dsdt = table_at(&t, u64_at(fadt, 140));
    assert_eq!(&dsdt[..4], b"DSDT");
}

#[test]
fn fadt_is_hardware_reduced_with_sleep_and_reset_registers() {
    use crate::devices::acpi_pm::{RESET_PORT, RESET_VALUE, SLEEP_CONTROL_PORT, SLEEP_STATUS_PORT};
    let fadt = tables::fadt(0x1234);
    assert_eq!(fadt.len(), 276);
    assert_eq!(fadt[8], 6, "FADT major revision");
    let flags = u32_at(&fadt, 112);
    assert_ne!(flags & (1 << 20), 0, "HW_REDUCED_ACPI");
    assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
    assert_eq!(
        u16_at(&fadt, 109) & (1 << 3),
        0,
        "MSI must not be marked unsupported"
    );
    // Generic Address Structures: space 1 = system I/O, 8 bits wide.
    let gas = |o: usize| (fadt[o], fadt[o + 1], u64_at(&fadt, o + 4));
    assert_eq!(gas(116), (1, 8, u64::from(RESET_PORT)));
    assert_eq!(fadt[128], RESET_VALUE);
    assert_eq!(gas(244), (1, 8, u64::from(SLEEP_CONTROL_PORT)));
    assert_eq!(gas(256), (1, 8, u64::from(SLEEP_STATUS_PORT)));
    assert_eq!(u64_at(&fadt, 140), 0x1234);
}

#[test]
fn madt_lists_one_lapic_per_vcpu_and_the_ioapic() {
    let madt = tables::madt(3);
    assert_eq!(u32_at(&madt, 36), LAPIC_ADDR as u32);
    let mut o = 44;
    let mut lapics = Vec::new();
    let mut ioapics = Vec::new();
    while o < madt.len() {
        let (kind, len) = (madt[o], usize::from(madt[o + 1]));
        match kind {
            0 => lapics.push((madt[o + 2], madt[o + 3], u32_at(&madt, o + 4))),
            1 => ioapics.push((madt[o + 2], u32_at(&madt, o + 4), u32_at(&madt, o + 8))),
            other => panic!("unexpected MADT structure {other}"),
        }
        o += len;
    }
    assert_eq!(lapics, vec![(0, 0, 1), (1, 1, 1), (2, 2, 1)]);
    assert_eq!(ioapics, vec![(3, IOAPIC_ADDR as u32, 0)]);
}

#[test]
fn mcfg_covers_bus_0() {
    let mcfg = tables::mcfg(ECAM_BASE);
    assert_eq!(mcfg.len(), 36 + 8 + 16);
    assert_eq!(u64_at(&mcfg, 44), ECAM_BASE);
    assert_eq!(u16_at(&mcfg, 52), 0, "segment");
    assert_eq!((mcfg[54], mcfg[55]), (0, 0), "bus range");
    assert_eq!(ECAM_SIZE, 1 << 20, "one bus of ECAM");
}
