//! The CXL type 3 device of the bench through the trap map: the DOE is gone from the
//! guest's chain, everything else is intact, BARs are emulated.

use doe_proxy::ext_cap::find_doe_mailboxes;

use super::fixtures::*;
use crate::pci::capability::ids::{EXT_AER, EXT_DOE, EXT_DVSEC, STD_MSIX, STD_PCI_EXPRESS};
use crate::pci::capability::{walk_extended, walk_standard, CapSpace, Decision};
use crate::pci::config::PciConfig;
use crate::pci::device::{BarKind, BarRange, PciDevice};
use crate::vfio::{BackendConfigSpace, MmapArea, MockEvent};

fn ext_chain(cfg: &PciConfig) -> Vec<(u16, u16)> {
    walk_extended(cfg)
        .unwrap()
        .iter()
        .map(|c| (c.id, c.offset))
        .collect()
}

#[test]
fn the_transcribed_headers_match_the_raw_bytes() {
    let cfg = cxl_config();
    let dwords: Vec<(u16, u32)> = CXL_EXT_HEADERS
        .iter()
        .map(|&(offset, _)| (offset, cfg.u32_at(offset)))
        .collect();
    assert_eq!(
        dwords,
        vec![
            (0x100, 0x13c1_0023),
            (0x13c, 0x1601_0023),
            (0x160, 0x1701_0023),
            (0x170, 0x1901_0023),
            (0x190, 0x2001_002e),
            (0x200, 0x0002_0001),
        ]
    );
    // The second DVSEC is at 0x13c (the first one's next pointer), not 0x138.
    assert_eq!(
        ext_chain(&cfg),
        vec![
            (EXT_DVSEC, 0x100),
            (EXT_DVSEC, 0x13c),
            (EXT_DVSEC, 0x160),
            (EXT_DVSEC, 0x170),
            (EXT_DOE, 0x190),
            (EXT_AER, 0x200),
        ]
    );
}

#[test]
fn the_guest_chain_has_no_doe_and_everything_else_linked() {
    let (mut f, _, _) = build(cxl_mock());
    let view = guest_view(&mut f);
    assert_eq!(
        ext_chain(&view),
        vec![
            (EXT_DVSEC, 0x100),
            (EXT_DVSEC, 0x13c),
            (EXT_DVSEC, 0x160),
            (EXT_DVSEC, 0x170),
            (EXT_AER, 0x200),
        ]
    );
    // Only the header of the DVSEC before the DOE changed: next 0x190 -> 0x200.
    assert_eq!(view.u32_at(0x170), 0x2001_0023);
    for (offset, raw) in CXL_EXT_HEADERS
        .iter()
        .filter(|(o, _)| ![0x170, CXL_DOE].contains(o))
    {
        assert_eq!(
            view.u32_at(*offset),
            u32::from_le_bytes(*raw),
            "header at {offset:#x}"
        );
    }
    assert!(
        (CXL_DOE..CXL_DOE + DOE_LEN).all(|o| view.u8_at(o) == 0),
        "the DOE reads zero"
    );
    assert_eq!(
        view.u32_at(0x104),
        0x03c1_1e98,
        "DVSEC bodies are the device's"
    );
    let std: Vec<(u16, u16)> = walk_standard(&view)
        .unwrap()
        .iter()
        .map(|c| (c.id, c.offset))
        .collect();
    assert_eq!(std, vec![(STD_MSIX, CXL_MSIX), (STD_PCI_EXPRESS, 0x80)]);
    assert_eq!(
        f.layout()
            .decision(walk_extended(&cxl_config()).unwrap()[4].at()),
        Some(Decision::Hide)
    );
}

#[test]
fn identity_passes_and_host_values_do_not_leak() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.modify_config(|cfg| cfg.set_u8(0x0e, 0x80)); // A multi-function device.
    assert_eq!(read32(&mut f, 0x00), CXL_ID);
    assert_eq!(read32(&mut f, 0x08), CXL_CLASS_REV);
    assert_eq!(read32(&mut f, 0x2c), 0x1100_1af4);
    assert_eq!(
        read32(&mut f, 0x0c) >> 16,
        0,
        "alone in its slot: no multi-function bit"
    );
    for bar in (0x10..0x28).step_by(4) {
        let value = read32(&mut f, bar);
        assert_eq!(
            value & 0xffff_fff0,
            0,
            "BAR at {bar:#x} shows no host address: {value:#x}"
        );
    }
    assert_eq!(
        read16(&mut f, 0x3c),
        0x0100,
        "pin from the device, line from the guest"
    );
    write16(&mut f, 0x3c, 0x0005);
    assert_eq!(read16(&mut f, 0x3c), 0x0105);
    assert_eq!(read32(&mut f, 0x30), 0, "no expansion ROM");
    write32(&mut f, 0x30, u32::MAX);
    assert_eq!(read32(&mut f, 0x30), 0);
}

#[test]
fn guest_accesses_to_the_hidden_doe_never_reach_the_device() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    let before = mock.config();
    for offset in (CXL_DOE..CXL_DOE + DOE_LEN).step_by(4) {
        // Abort, then GO, as a guest driving the mailbox raw would.
        write32(&mut f, offset, 0x8000_0001);
        write16(&mut f, offset + 2, 0xffff);
        f.write_config(offset + 1, &[0xff]);
        assert_eq!(read32(&mut f, offset), 0);
        assert_eq!(read(&mut f, offset + 3, 1), vec![0]);
    }
    assert!(
        mock.events().is_empty(),
        "no access at all: {:?}",
        mock.events()
    );
    assert_eq!(mock.config(), before);
    // The device's mailbox is still there for the VMM (and the mediator) to use.
    assert_eq!(
        find_doe_mailboxes(&BackendConfigSpace(mock.clone())).unwrap(),
        vec![CXL_DOE]
    );
}

#[test]
fn bars_size_and_decode_without_touching_the_device() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    for bar in (0x10..0x28).step_by(4) {
        write32(&mut f, bar, u32::MAX);
    }
    let sized: Vec<u32> = (0x10..0x28)
        .step_by(4)
        .map(|bar| read32(&mut f, bar))
        .collect();
    assert_eq!(
        sized,
        vec![
            0xffff_0004,
            0xffff_ffff,
            0xffff_0004,
            0xffff_ffff,
            0xffff_f000,
            0
        ]
    );
    write32(&mut f, 0x10, 0xc000_0000);
    write32(&mut f, 0x14, 0x0000_0001);
    write32(&mut f, 0x18, 0xc001_0000);
    write32(&mut f, 0x1c, 0);
    write32(&mut f, 0x20, 0xc002_0000);
    assert!(f.bar_ranges().is_empty(), "memory decode is off");
    assert!(
        mock.events().is_empty(),
        "BAR writes never reach the device: {:?}",
        mock.events()
    );
    // Memory Space + Bus Master: forwarded, and decoded locally.
    write16(&mut f, 0x04, 0x0006);
    assert_eq!(
        mock.events(),
        vec![MockEvent::ConfigWrite {
            offset: 0x04,
            data: vec![0x06, 0x00]
        }]
    );
    assert_eq!(mock.config().u16_at(0x04), 0x0006);
    assert_eq!(read16(&mut f, 0x04), 0x0006);
    let range = |index, kind, base, size| BarRange {
        index,
        kind,
        base,
        size,
        prefetchable: false,
    };
    assert_eq!(
        f.bar_ranges(),
        vec![
            range(0, BarKind::Mmio64, 0x1_c000_0000, 64 * KIB),
            range(2, BarKind::Mmio64, 0xc001_0000, 64 * KIB),
            range(4, BarKind::Mmio32, 0xc002_0000, 4 * KIB),
        ]
    );
    write16(&mut f, 0x04, 0x0004);
    assert!(f.bar_ranges().is_empty());
    assert_eq!(
        mock.config().u32_at(0x10),
        0xfe80_0004,
        "the physical BAR is untouched"
    );
}

#[test]
fn status_error_bits_are_the_device_s() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.modify_config(|cfg| cfg.set_u16(0x06, 0x8010));
    assert_eq!(read16(&mut f, 0x06), 0x8010);
    write16(&mut f, 0x06, 0x8000);
    assert_eq!(
        mock.config().u16_at(0x06),
        0x0010,
        "RW1C reached the device"
    );
    assert_eq!(read16(&mut f, 0x06), 0x0010);
}

#[test]
fn msix_pages_are_trapped_and_the_rest_mapped() {
    let (f, _, _) = build(cxl_mock());
    let areas: Vec<(u8, Vec<MmapArea>)> = f
        .bar_mappings()
        .iter()
        .map(|m| (m.index, m.mmap.clone()))
        .collect();
    let whole = vec![MmapArea {
        offset: 0,
        size: 64 * KIB,
    }];
    assert_eq!(
        areas,
        vec![(0, whole.clone()), (2, whole), (CXL_MSIX_BAR, vec![])]
    );
}

#[test]
fn trapped_bar_accesses_reach_the_device_region() {
    let (mut f, mock, _) = build(cxl_mock());
    f.write_bar(0, 0x20, &0x1234_5678u32.to_le_bytes());
    assert_eq!(mock.bar_bytes(0, 0x20, 4), vec![0x78, 0x56, 0x34, 0x12]);
    let mut data = [0; 8];
    f.read_bar(0, 0x20, &mut data);
    assert_eq!(data, [0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
}

#[test]
fn the_layout_names_the_chains() {
    let (f, _, _) = build(cxl_mock());
    let guest: Vec<u16> = f
        .layout()
        .guest_chain(CapSpace::Extended)
        .iter()
        .map(|c| c.offset)
        .collect();
    assert_eq!(guest, vec![0x100, 0x13c, 0x160, 0x170, 0x200]);
    assert_eq!(f.layout().find(CapSpace::Extended, EXT_DOE).count(), 1);
}
