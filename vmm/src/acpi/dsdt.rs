//! The DSDT body (AML): the PCI host bridge with its resources and INTx routing (`_PRT`),
//! the ECAM reservation, COM1, and the `_S5_` sleep type that makes ACPI power-off possible.

use acpi_tables::aml::{
    AddressSpace, AddressSpaceCacheable, Device, EISAName, Interrupt, Memory32Fixed, Name, Package,
    Path, ResourceTemplate, Scope, IO,
};
use acpi_tables::Aml;

use crate::devices::serial::{COM1_BASE, COM1_GSI, COM1_LEN};
use crate::layout::{PCI_IO_END, PCI_MMIO32_SIZE, PCI_MMIO32_START};
use crate::pci::intx;

/// The PCI config-address/data ports (0xCF8..0xCFF).
const PCI_CONFIG_IO_BASE: u16 = 0xcf8;
/// Their number.
const PCI_CONFIG_IO_LEN: u8 = 8;
/// `_S5_` SLP_TYP value the guest writes to the sleep control register to power off.
pub const S5_SLEEP_TYPE: u8 = 5;

/// Everything the DSDT describes that depends on the VM's configuration.
#[derive(Debug, Clone, Copy)]
pub struct DsdtConfig {
    /// ECAM base and size (bus 0).
    pub ecam: (u64, u64),
    /// The 64-bit PCI memory window, `(base, size)`.
    pub mmio64: (u64, u64),
}

/// A `Device` whose children are the named objects `objects`, as AML bytes.
fn device(name: &str, objects: &[(&str, &dyn Aml)]) -> Vec<u8> {
    let names: Vec<Name> = objects
        .iter()
        .map(|(n, v)| Name::new((*n).into(), *v))
        .collect();
    let children: Vec<&dyn Aml> = names.iter().map(|n| n as &dyn Aml).collect();
    let mut out = Vec::new();
    Device::new(name.into(), children).to_aml_bytes(&mut out);
    out
}

/// One `_PRT` entry (ACPI 6.5 §6.2.13): `Package { Address, Pin, Source, SourceIndex }`.
struct PrtEntry {
    /// `device << 16 | 0xFFFF`: every function of the device.
    address: u32,
    /// 0 = INTA# … 3 = INTD#.
    pin: u8,
    /// The GSI (with `Source` 0).
    gsi: u32,
}

impl Aml for PrtEntry {
    fn to_aml_bytes(&self, sink: &mut dyn acpi_tables::AmlSink) {
        let source = 0u8;
        Package::new(vec![&self.address, &self.pin, &source, &self.gsi]).to_aml_bytes(sink);
    }
}

/// The `_PRT` of the root bus: every device's four pins, routed as [`intx::gsi`] says.
fn prt_entries() -> Vec<PrtEntry> {
    (0..intx::DEVICES)
        .flat_map(|device| {
            (1..=intx::PINS).filter_map(move |pin| {
                intx::gsi(device, pin).map(|gsi| PrtEntry {
                    address: u32::from(device) << 16 | 0xffff,
                    pin: pin - 1,
                    gsi,
                })
            })
        })
        .collect()
}

/// Returns the AML that follows the DSDT header.
pub fn body(cfg: &DsdtConfig) -> Vec<u8> {
    let mut aml = Vec::new();

    // \_SB.PCI0: the host bridge for bus 0 (PCI Firmware Spec 3.2 §4.1, ACPI 6.5 §6.1.5).
    let hid = EISAName::new("PNP0A08");
    let cid = EISAName::new("PNP0A03");
    let bus = AddressSpace::<u16>::new_bus_number(0, 0);
    let cfg_io = IO::new(PCI_CONFIG_IO_BASE, PCI_CONFIG_IO_BASE, 1, PCI_CONFIG_IO_LEN);
    let io_low = AddressSpace::<u16>::new_io(0, PCI_CONFIG_IO_BASE - 1, None);
    let io_high = AddressSpace::<u16>::new_io(
        PCI_CONFIG_IO_BASE + u16::from(PCI_CONFIG_IO_LEN),
        PCI_IO_END,
        None,
    );
    // Both windows non-prefetchable, so they accept every kind of memory BAR.
    let mmio32 = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::NotCacheable,
        true,
        PCI_MMIO32_START as u32,
        (PCI_MMIO32_START + PCI_MMIO32_SIZE - 1) as u32,
        None,
    );
    let mmio64 = AddressSpace::<u64>::new_memory(
        AddressSpaceCacheable::NotCacheable,
        true,
        cfg.mmio64.0,
        cfg.mmio64.0 + cfg.mmio64.1 - 1,
        None,
    );
    let pci_crs = ResourceTemplate::new(vec![&bus, &cfg_io, &io_low, &io_high, &mmio32, &mmio64]);
    let zero = 0u8;
    let prt_entries = prt_entries();
    let prt = Package::new(prt_entries.iter().map(|e| e as &dyn Aml).collect());
    let pci0 = device(
        "PCI0",
        &[
            ("_HID", &hid),
            ("_CID", &cid),
            ("_ADR", &zero),
            ("_SEG", &zero),
            ("_UID", &zero),
            ("_BBN", &zero),
            ("_CRS", &pci_crs),
            ("_PRT", &prt),
        ],
    );

    // Motherboard resources: the ECAM must be reserved here or Linux may refuse MMCONFIG.
    let mb_hid = EISAName::new("PNP0C02");
    let ecam = Memory32Fixed::new(false, cfg.ecam.0 as u32, cfg.ecam.1 as u32);
    let mb_crs = ResourceTemplate::new(vec![&ecam]);
    let mbrd = device(
        "MBRD",
        &[("_HID", &mb_hid), ("_UID", &zero), ("_CRS", &mb_crs)],
    );

    // COM1: described so that Linux maps GSI 4 (hardware-reduced ACPI has no legacy PIC,
    // so ISA IRQs are only set up for devices that declare them).
    let com_hid = EISAName::new("PNP0501");
    let com_io = IO::new(COM1_BASE, COM1_BASE, 1, COM1_LEN as u8);
    let com_irq = Interrupt::new(true, true, false, false, COM1_GSI);
    let com_crs = ResourceTemplate::new(vec![&com_io, &com_irq]);
    let com1 = device(
        "COM1",
        &[("_HID", &com_hid), ("_UID", &zero), ("_CRS", &com_crs)],
    );

    aml.extend(Scope::raw("\\_SB_".into(), [pci0, mbrd, com1].concat()));

    // \_S5_: SLP_TYPa, SLP_TYPb, reserved, reserved (ACPI 6.5 §7.4.2).
    let s5 = S5_SLEEP_TYPE;
    Name::new(
        Path::new("\\_S5_"),
        &Package::new(vec![&s5, &s5, &zero, &zero]),
    )
    .to_aml_bytes(&mut aml);
    aml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn names_the_objects_linux_looks_for() {
        let aml = body(&DsdtConfig {
            ecam: (0xe000_0000, 1 << 20),
            mmio64: (1 << 32, 64 << 30),
        });
        for name in [
            &b"_SB_"[..],
            b"PCI0",
            b"_CRS",
            b"_PRT",
            b"MBRD",
            b"COM1",
            b"_S5_",
        ] {
            assert!(find(&aml, name), "{}", String::from_utf8_lossy(name));
        }
        // ECAM base in a Memory32Fixed descriptor (0x86, length 9, read-only).
        assert!(find(&aml, &[0x86, 9, 0, 0, 0, 0, 0, 0xe0, 0, 0, 0x10, 0]));
        // The 64-bit window's maximum, little-endian, somewhere in a QWord descriptor.
        assert!(find(&aml, &((1u64 << 32) + (64 << 30) - 1).to_le_bytes()));
    }

    #[test]
    fn prt_routes_every_pin_of_every_device() {
        let entries = prt_entries();
        assert_eq!(entries.len(), 32 * 4);
        // Device 1 (the first assigned function), INTA#: 0x0001FFFF, pin 0, GSI 17.
        let first = entries
            .iter()
            .find(|e| e.address == 0x0001_ffff && e.pin == 0)
            .unwrap();
        assert_eq!(first.gsi, 17);
        // Its AML: PackageOp, PkgLength, 4 elements, DWord 0x0001FFFF, Zero (pin), Zero
        // (source), ByteConst 17 (acpi_tables encodes integers in the smallest form).
        let mut aml = Vec::new();
        first.to_aml_bytes(&mut aml);
        assert_eq!(aml[0], 0x12, "{aml:x?}");
        assert_eq!(aml[2], 4, "{aml:x?}");
        assert!(find(&aml, &[0x0c, 0xff, 0xff, 0x01, 0x00]), "{aml:x?}");
        assert!(aml.ends_with(&[0x0a, 17]), "{aml:x?}");
    }
}
