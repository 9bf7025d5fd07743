//! A guest (or a device) doing the wrong thing: nothing panics, nothing hidden or
//! emulated reaches the device, and the chain stays clean.

use super::fixtures::*;
use crate::pci::capability::ids::EXT_DOE;
use crate::pci::capability::walk_extended;
use crate::pci::device::PciDevice;
use crate::vfio::{InterruptQueue, MockBackend, MockEvent, PassthroughBuilder, PassthroughError};

/// Config offsets whose writes must never reach the device: BARs, the ROM BAR, the
/// Interrupt Line, the Capabilities Pointer, the MSI-X capability body and the DOE.
fn never_forwarded(offset: u16) -> bool {
    (0x10..0x28).contains(&offset)
        || (0x30..0x35).contains(&offset)
        || offset == 0x3c
        || (CXL_MSIX..CXL_MSIX + 12).contains(&offset)
        || (CXL_DOE..CXL_DOE + DOE_LEN).contains(&offset)
        || [0x100, 0x13c, 0x160, 0x170, 0x200]
            .iter()
            .any(|&h| (h..h + 4).contains(&offset))
}

#[test]
fn malformed_accesses_read_all_ones_and_write_nothing() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    for (offset, len) in [
        (0, 3),
        (0, 0),
        (0, 5),
        (0, 8),
        (0x101, 2),
        (0x102, 4),
        (0x1000, 1),
        (0xfff, 2),
        (u16::MAX, 4),
    ] {
        let mut data = vec![0x55; len];
        f.read_config(offset, &mut data);
        assert!(data.iter().all(|&b| b == 0xff), "{offset:#x}/{len}");
        f.write_config(offset, &vec![0xaa; len]);
    }
    assert!(mock.events().is_empty(), "{:?}", mock.events());
}

#[test]
fn every_well_formed_read_is_aligned_and_avoids_hidden_registers() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    for offset in 0..0x1000u16 {
        for len in [1, 2, 4] {
            if usize::from(offset) % len == 0 {
                read(&mut f, offset, len);
            }
        }
    }
    for event in mock.events() {
        let MockEvent::ConfigRead { offset, len } = event else {
            panic!("a read caused {event:?}");
        };
        assert_eq!(
            usize::from(offset) % len,
            0,
            "unaligned device read at {offset:#x}"
        );
        assert!(
            !(CXL_DOE..CXL_DOE + DOE_LEN).contains(&offset),
            "read the DOE at {offset:#x}"
        );
        assert!(
            !(0x10..0x28).contains(&offset),
            "read a physical BAR at {offset:#x}"
        );
    }
}

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn a_write_storm_never_leaks_and_never_breaks_the_chain() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    let mut rng = Lcg(0x00d0_e5ee);
    for _ in 0..20_000 {
        let len = [1, 2, 3, 4, 8][(rng.next() % 5) as usize];
        let offset = (rng.next() % 0x1010) as u16;
        let value = rng.next().to_le_bytes();
        f.write_config(offset, &value[..len]);
        let mut data = vec![0; len];
        f.read_config(offset, &mut data);
        let bar = (rng.next() % 8) as u8;
        let bar_offset = rng.next() % 0x11000;
        f.write_bar(bar, bar_offset, &value[..len]);
        f.read_bar(bar, bar_offset, &mut data);
    }
    for event in mock.events() {
        match event {
            MockEvent::ConfigWrite { offset, data } => {
                let bytes = offset..offset + data.len() as u16;
                assert!(
                    !bytes.clone().any(never_forwarded),
                    "leaked a write to {bytes:?}"
                );
            }
            MockEvent::BarWrite {
                index,
                offset,
                data,
            } => {
                let end = offset + data.len() as u64;
                let msix = [
                    (0, u64::from(CXL_MSIX_VECTORS) * 16),
                    (CXL_PBA, CXL_PBA + 8),
                ];
                let hit = index == CXL_MSIX_BAR && msix.iter().any(|&(s, e)| offset < e && end > s);
                assert!(!hit, "an MSI-X write at {offset:#x} reached the device");
            }
            _ => {}
        }
    }
    let view = guest_view(&mut f);
    let chain = walk_extended(&view).unwrap();
    assert!(chain.iter().all(|c| c.id != EXT_DOE));
    assert_eq!(chain.len(), 5);
}

#[test]
fn hostile_bar_accesses_are_refused() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    for (index, offset, len) in [
        (0, 0, 0),
        (0, 0, 9),
        (0, u64::MAX, 4),
        (0, 64 * KIB - 2, 4),
        (1, 0, 4),
        (7, 0, 4),
        (CXL_MSIX_BAR, 0x5c, 8),
        (CXL_MSIX_BAR, CXL_PBA - 4, 8),
    ] {
        let mut data = vec![0x55; len];
        f.read_bar(index, offset, &mut data);
        assert!(
            data.iter().all(|&b| b == 0xff),
            "BAR {index} at {offset:#x}/{len}"
        );
        f.write_bar(index, offset, &vec![0xaa; len]);
    }
    assert!(mock.events().is_empty(), "{:?}", mock.events());
}

#[test]
fn a_failing_device_reads_all_ones_but_emulated_registers_still_answer() {
    let (mut f, mock, _) = build(cxl_mock());
    write32(&mut f, 0x10, 0xc000_0000);
    mock.set_failing(true);
    assert_eq!(read32(&mut f, 0x00), u32::MAX);
    assert_eq!(read32(&mut f, 0x10), 0xc000_0004);
    assert_eq!(read32(&mut f, 0x170), 0x2001_0023);
    write16(&mut f, 0x04, 0x0002);
    assert_eq!(
        read16(&mut f, 0x04),
        0xfffe,
        "device bits fail, decode bits are local"
    );
    write16(&mut f, CXL_MSIX + 2, 1 << 15);
    let mut data = [0; 4];
    f.read_bar(0, 0, &mut data);
    assert_eq!(data, [0xff; 4]);
}

fn build_err(mock: MockBackend) -> PassthroughError {
    PassthroughBuilder::new(mock, Box::new(InterruptQueue::new()))
        .build()
        .expect_err("the function must be refused")
}

#[test]
fn functions_that_cannot_be_modelled_are_refused() {
    let looped = cxl_mock();
    looped.modify_config(|cfg| cfg.set_u32(0x200, 0x1000_0001));
    assert!(matches!(
        build_err(looped),
        PassthroughError::Capabilities(_)
    ));

    let bridge = cxl_mock();
    bridge.modify_config(|cfg| cfg.set_u8(0x0e, 0x01));
    assert!(matches!(
        build_err(bridge),
        PassthroughError::NotAnEndpoint(1)
    ));

    let table_outside = cxl_mock();
    table_outside.modify_config(|cfg| cfg.set_u32(CXL_MSIX + 4, 0x2000 | 4));
    assert!(matches!(
        build_err(table_outside),
        PassthroughError::MsixOutsideBar {
            what: "table",
            bar: 4,
            ..
        }
    ));

    let table_in_io = cxl_mock();
    table_in_io.modify_config(|cfg| cfg.set_u32(CXL_MSIX + 4, 3));
    assert!(matches!(
        build_err(table_in_io),
        PassthroughError::MsixOutsideBar { bar: 3, .. }
    ));

    let gone = cxl_mock();
    gone.set_failing(true);
    assert!(matches!(build_err(gone), PassthroughError::Snapshot(_)));

    let reserved_type = cxl_mock();
    reserved_type.modify_config(|cfg| cfg.set_u32(0x10, 0x0000_0006)); // Reserved memory type.
    assert!(matches!(build_err(reserved_type), PassthroughError::Bar(_)));
}
