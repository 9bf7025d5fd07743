//! Capabilities the VMM owns: a virtual DOE in place of the hidden one (the next issue),
//! a DOE synthesised on a function that has none, and the policy's other hidden IDs.

use std::sync::{Arc, Mutex, PoisonError};

use super::fixtures::*;
use crate::pci::capability::ids::{EXT_DOE, EXT_DVSEC};
use crate::pci::capability::{walk_extended, CapRef, CapSpace, CapabilityHandler, LayoutError};
use crate::pci::config::PciConfig;
use crate::pci::device::PciDevice;
use crate::vfio::{InterruptQueue, MockBackend, MockEvent, PassthroughBuilder, PassthroughError};

/// Writes a handler saw: (offset in the capability, bytes).
type Seen = Arc<Mutex<Vec<(u16, Vec<u8>)>>>;

/// A handler whose registers read back their offset, recording every write.
struct Recorder {
    seen: Seen,
}

impl CapabilityHandler for Recorder {
    fn read(&mut self, offset: u16, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = (offset as u8).wrapping_add(i as u8);
        }
    }

    fn write(&mut self, offset: u16, data: &[u8]) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((offset, data.to_vec()));
    }
}

fn recorder() -> (Box<dyn CapabilityHandler>, Seen) {
    let seen = Seen::default();
    (Box::new(Recorder { seen: seen.clone() }), seen)
}

fn chain(view: &PciConfig) -> Vec<(u16, u16)> {
    walk_extended(view)
        .unwrap()
        .iter()
        .map(|c| (c.id, c.offset))
        .collect()
}

#[test]
fn a_virtual_doe_takes_the_place_of_the_hidden_one() {
    let mock = Arc::new(cxl_mock());
    let (handler, seen) = recorder();
    let mut f = PassthroughBuilder::new(Arc::clone(&mock), Box::new(InterruptQueue::new()))
        .virtualise_extended(CXL_DOE, DOE_LEN, handler)
        .build()
        .unwrap();
    let view = guest_view(&mut f);
    assert_eq!(
        chain(&view),
        vec![
            (EXT_DVSEC, 0x100),
            (EXT_DVSEC, 0x13c),
            (EXT_DVSEC, 0x160),
            (EXT_DVSEC, 0x170),
            (EXT_DOE, CXL_DOE),
            (0x01, 0x200),
        ]
    );
    assert_eq!(view.u32_at(CXL_DOE), 0x2001_002e, "same header, same link");
    assert_eq!(
        read32(&mut f, CXL_DOE + 4),
        0x0706_0504,
        "the handler answers"
    );
    assert_eq!(read(&mut f, CXL_DOE + 0x15, 1), vec![0x15]);
    mock.clear_events();
    write32(&mut f, CXL_DOE + DOE_CONTROL, 0x8000_0000);
    f.write_config(CXL_DOE + 0x12, &[1, 2]);
    write32(&mut f, CXL_DOE, u32::MAX);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(DOE_CONTROL, vec![0, 0, 0, 0x80]), (0x12, vec![1, 2])],
        "the header write stays with the layout"
    );
    assert!(mock.events().is_empty(), "{:?}", mock.events());
}

#[test]
fn a_doe_is_synthesised_on_a_function_without_one() {
    // A VF: no extended capabilities at all.
    let mut vf = PciConfig::new();
    vf.set_u32(0x00, 0x5845_8086);
    vf.set_u32(0x10, 0x0000_0004);
    let mock = MockBackend::new(vf).with_bar(0, RegionInfoExt::mmio(16 * KIB));
    let (handler, seen) = recorder();
    let mut f = PassthroughBuilder::new(mock, Box::new(InterruptQueue::new()))
        .synthesise_extended(EXT_DOE, 1, DOE_LEN, handler)
        .build()
        .unwrap();
    let view = guest_view(&mut f);
    assert_eq!(chain(&view), vec![(EXT_DOE, 0x100)]);
    assert_eq!(view.u32_at(0x100), 0x0001_002e);
    write32(&mut f, 0x110, 7);
    assert_eq!(*seen.lock().unwrap(), vec![(0x10, vec![7, 0, 0, 0])]);
}

#[test]
fn a_handler_must_name_a_real_capability_and_fit_it() {
    let (handler, _) = recorder();
    let err = PassthroughBuilder::new(cxl_mock(), Box::new(InterruptQueue::new()))
        .virtualise_extended(0x194, DOE_LEN, handler)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        PassthroughError::Layout(LayoutError::NoSuchCapability(CapRef {
            space: CapSpace::Extended,
            offset: 0x194
        }))
    ));
    let (handler, _) = recorder();
    let err = PassthroughBuilder::new(cxl_mock(), Box::new(InterruptQueue::new()))
        .virtualise_extended(CXL_DOE, 0x40, handler)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        PassthroughError::Layout(LayoutError::HandlerTooLong { .. })
    ));
}

#[test]
fn ari_doe_and_sriov_are_all_hidden_leaving_a_null_header() {
    // ARI, DOE and SR-IOV registers; the gap between DOE and SR-IOV is the device's.
    let hidden = |offset: u16| (0x100..0x120).contains(&offset) || (0x160..0x1a0).contains(&offset);
    let (mut f, mock, _) = build(nvme_pf_mock());
    mock.clear_events();
    let view = guest_view(&mut f);
    assert_eq!(view.u32_at(0x100), 0, "no extended capabilities left");
    assert!(chain(&view).is_empty());
    assert!(
        (0x100..0x1a0).all(|o| view.u8_at(o) == 0),
        "SR-IOV registers read zero"
    );
    assert!(
        mock.events()
            .iter()
            .all(|e| !matches!(e, MockEvent::ConfigRead { offset, .. } if hidden(*offset))),
        "the hidden capabilities are never read"
    );
}

#[test]
fn a_virtual_doe_behind_a_hidden_ari_starts_with_a_placeholder() {
    let (handler, _) = recorder();
    let mut f = PassthroughBuilder::new(nvme_pf_mock(), Box::new(InterruptQueue::new()))
        .virtualise_extended(0x108, DOE_LEN, handler)
        .build()
        .unwrap();
    let view = guest_view(&mut f);
    assert_eq!(
        view.u32_at(0x100),
        0x1080_0000,
        "ID 0, version 0, next 0x108"
    );
    assert_eq!(chain(&view), vec![(0, 0x100), (EXT_DOE, 0x108)]);
    assert_eq!(
        view.u32_at(0x108),
        0x0001_002e,
        "relinked: SR-IOV after it is hidden"
    );
}

#[test]
fn the_only_extended_capability_hidden_reads_as_a_null_header() {
    let (mut f, _, _) = build(msi_mock());
    assert_eq!(read32(&mut f, 0x100), 0);
    assert!(chain(&guest_view(&mut f)).is_empty());
}

/// Region info shorthand for tests.
struct RegionInfoExt;

impl RegionInfoExt {
    fn mmio(size: u64) -> crate::vfio::RegionInfo {
        crate::vfio::RegionInfo {
            size,
            readable: true,
            writable: true,
            mmap: true,
        }
    }
}
