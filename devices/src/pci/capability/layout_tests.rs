//! Tests of the capability layout: hide, virtualise and synthesise in both chains, and
//! the guest's view walked with the same walks the device was walked with.

use doe_proxy::ext_cap::ExtCapHeader;

use super::ids::{
    EXT_AER, EXT_DOE, EXT_DVSEC, STD_MSI, STD_MSIX, STD_PCI_EXPRESS, STD_POWER_MANAGEMENT,
};
use super::*;
use crate::pci::config::PciConfig;
use crate::pci::header::{CAPABILITIES_POINTER, STATUS, STATUS_CAPABILITIES_LIST};

/// Handler names used in the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Doe,
    Synth,
}

/// Filler written into every capability body, to see what leaks.
const BODY: u8 = 0xa5;

fn ext_header(id: u16, next: u16) -> u32 {
    ExtCapHeader {
        id,
        version: 1,
        next,
    }
    .encode()
}

/// A function with the given extended chain (id, offset, len) in that order; bodies
/// filled with [`BODY`].
fn ext_function(chain: &[(u16, u16, u16)]) -> PciConfig {
    let mut cfg = PciConfig::new();
    for (i, &(id, offset, len)) in chain.iter().enumerate() {
        cfg.set_bytes(offset, &vec![BODY; usize::from(len)]);
        let next = chain.get(i + 1).map_or(0, |c| c.1);
        cfg.set_u32(offset, ext_header(id, next));
        if id == EXT_DVSEC {
            cfg.set_u32(offset + 4, u32::from(len) << 20 | 0x1e98);
        }
    }
    cfg
}

/// DVSEC 0x100 (0x40 bytes), DOE 0x140, AER 0x180.
fn three_ext() -> PciConfig {
    ext_function(&[
        (EXT_DVSEC, 0x100, 0x40),
        (EXT_DOE, 0x140, 0x18),
        (EXT_AER, 0x180, 0x48),
    ])
}

fn layout(cfg: &PciConfig) -> CapabilityLayout<Key> {
    CapabilityLayout::from_config(cfg).unwrap()
}

fn at(space: CapSpace, offset: u16) -> CapRef {
    CapRef { space, offset }
}

fn ext_at(offset: u16) -> CapRef {
    at(CapSpace::Extended, offset)
}

/// (id, offset) of the extended chain the guest walks.
fn guest_ext(layout: &CapabilityLayout<Key>, cfg: &PciConfig) -> Vec<(u16, u16)> {
    walk_extended(&layout.guest_view(cfg))
        .unwrap()
        .iter()
        .map(|c| (c.id, c.offset))
        .collect()
}

fn guest_std(layout: &CapabilityLayout<Key>, cfg: &PciConfig) -> Vec<(u16, u16)> {
    walk_standard(&layout.guest_view(cfg))
        .unwrap()
        .iter()
        .map(|c| (c.id, c.offset))
        .collect()
}

fn all_zero(view: &PciConfig, start: u16, len: u16) -> bool {
    (start..start + len).all(|o| view.u8_at(o) == 0)
}

#[test]
fn passing_everything_changes_nothing() {
    let cfg = three_ext();
    let layout = layout(&cfg);
    assert_eq!(layout.guest_view(&cfg), cfg);
    assert_eq!(layout.route(0x144), Route::Device);
    assert_eq!(layout.route(0x0), Route::Device);
}

#[test]
fn hiding_the_middle_extended_capability_relinks_around_it() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    layout.hide(ext_at(0x140)).unwrap();
    let view = layout.guest_view(&cfg);
    assert_eq!(
        guest_ext(&layout, &cfg),
        vec![(EXT_DVSEC, 0x100), (EXT_AER, 0x180)]
    );
    assert_eq!(view.u32_at(0x100), ext_header(EXT_DVSEC, 0x180));
    assert!(all_zero(&view, 0x140, 0x18));
    assert_eq!(layout.route(0x14c), Route::Fixed(0));
    // The bytes after the DOE (a gap before AER) are the device's again.
    assert_eq!(layout.route(0x158), Route::Device);
    assert_eq!(view.u8_at(0x10c), BODY, "a passed body is the device's");
}

#[test]
fn hiding_the_last_extended_capability_ends_the_chain_before_it() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    layout.hide(ext_at(0x180)).unwrap();
    assert_eq!(
        guest_ext(&layout, &cfg),
        vec![(EXT_DVSEC, 0x100), (EXT_DOE, 0x140)]
    );
    let view = layout.guest_view(&cfg);
    assert_eq!(view.u32_at(0x140), ext_header(EXT_DOE, 0));
    assert!(all_zero(&view, 0x180, 0x48));
}

#[test]
fn hiding_the_first_extended_capability_leaves_a_placeholder_at_0x100() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    layout.hide(ext_at(0x100)).unwrap();
    let view = layout.guest_view(&cfg);
    // ID 0, version 0, pointing to the first visible capability.
    assert_eq!(view.u32_at(0x100), 0x1400_0000);
    assert!(all_zero(&view, 0x104, 0x3c));
    assert_eq!(
        guest_ext(&layout, &cfg),
        vec![(0, 0x100), (EXT_DOE, 0x140), (EXT_AER, 0x180)]
    );
}

#[test]
fn hiding_the_only_extended_capability_leaves_a_null_header() {
    let cfg = ext_function(&[(EXT_DOE, 0x100, 0x18)]);
    let mut layout = layout(&cfg);
    layout.hide(ext_at(0x100)).unwrap();
    let view = layout.guest_view(&cfg);
    assert_eq!(
        view.u32_at(0x100),
        0,
        "0, not all ones: all ones means no extended space"
    );
    assert!(all_zero(&view, 0x100, 0x18));
    assert!(guest_ext(&layout, &cfg).is_empty());
}

#[test]
fn hiding_every_extended_capability_leaves_a_null_header() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    for offset in [0x100, 0x140, 0x180] {
        layout.hide(ext_at(offset)).unwrap();
    }
    let view = layout.guest_view(&cfg);
    assert_eq!(view.u32_at(0x100), 0);
    assert!(all_zero(&view, 0x100, 0xc8));
    assert!(guest_ext(&layout, &cfg).is_empty());
}

#[test]
fn an_empty_extended_space_reads_a_null_header() {
    let mut cfg = PciConfig::new();
    cfg.set_u32(0x100, u32::MAX);
    let layout = layout(&cfg);
    assert_eq!(layout.guest_view(&cfg).u32_at(0x100), 0);
}

/// PM 0x40 → MSI 0x50 → PCIe 0x80 → MSI-X 0xc0.
fn std_function() -> PciConfig {
    let mut cfg = PciConfig::new();
    cfg.set_u16(STATUS, STATUS_CAPABILITIES_LIST);
    cfg.set_u8(CAPABILITIES_POINTER, 0x40);
    for (offset, id, next) in [
        (0x40, STD_POWER_MANAGEMENT, 0x50),
        (0x50, STD_MSI, 0x80),
        (0x80, STD_PCI_EXPRESS, 0xc0),
        (0xc0, STD_MSIX, 0),
    ] {
        cfg.set_bytes(offset, &[BODY; 12]);
        cfg.set_u8(offset, id as u8);
        cfg.set_u8(offset + 1, next);
    }
    cfg.set_u16(0x52, 0x0080); // MSI: 64-bit.
    cfg.set_u16(0x82, 0x0002); // PCIe v2.
    cfg
}

#[test]
fn hiding_standard_capabilities_rewrites_pointers() {
    let cfg = std_function();
    let mut layout = layout(&cfg);
    layout.hide(at(CapSpace::Standard, 0x40)).unwrap();
    layout.hide(at(CapSpace::Standard, 0x80)).unwrap();
    let view = layout.guest_view(&cfg);
    assert_eq!(view.u8_at(CAPABILITIES_POINTER), 0x50);
    assert_eq!(
        guest_std(&layout, &cfg),
        vec![(STD_MSI, 0x50), (STD_MSIX, 0xc0)]
    );
    assert!(all_zero(&view, 0x40, 8));
    assert!(all_zero(&view, 0x80, 0x3c));
    layout.hide(at(CapSpace::Standard, 0xc0)).unwrap();
    assert_eq!(guest_std(&layout, &cfg), vec![(STD_MSI, 0x50)]);
    assert_eq!(layout.guest_view(&cfg).u8_at(0x51), 0);
}

#[test]
fn hiding_every_standard_capability_clears_the_capabilities_list_bit() {
    let mut cfg = std_function();
    cfg.set_u16(STATUS, STATUS_CAPABILITIES_LIST | 0x8000);
    let mut layout = layout(&cfg);
    for offset in [0x40, 0x50, 0x80, 0xc0] {
        layout.hide(at(CapSpace::Standard, offset)).unwrap();
    }
    let view = layout.guest_view(&cfg);
    assert_eq!(
        view.u16_at(STATUS),
        0x8000,
        "other Status bits are the device's"
    );
    assert_eq!(view.u8_at(CAPABILITIES_POINTER), 0);
    assert!(guest_std(&layout, &cfg).is_empty());
    assert_eq!(
        layout.route(STATUS),
        Route::Patched {
            mask: STATUS_CAPABILITIES_LIST as u8,
            value: 0
        }
    );
}

#[test]
fn virtualising_keeps_the_offset_and_hands_the_body_to_the_handler() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    layout.hide(ext_at(0x140)).unwrap();
    // Later issue: the DOE is virtualised instead of hidden, same offset, re-linked.
    layout.virtualise(ext_at(0x140), Key::Doe, 0x10).unwrap();
    assert_eq!(
        guest_ext(&layout, &cfg),
        vec![(EXT_DVSEC, 0x100), (EXT_DOE, 0x140), (EXT_AER, 0x180)]
    );
    assert_eq!(layout.route(0x140), Route::Fixed(EXT_DOE as u8));
    assert_eq!(
        layout.route(0x144),
        Route::Handler {
            key: Key::Doe,
            offset: 4
        }
    );
    assert_eq!(
        layout.route(0x14f),
        Route::Handler {
            key: Key::Doe,
            offset: 0xf
        }
    );
    assert_eq!(
        layout.route(0x150),
        Route::Fixed(0),
        "past the handler, still not the device"
    );
    assert_eq!(layout.route(0x157), Route::Fixed(0));
    assert_eq!(layout.route(0x158), Route::Device);
    assert_eq!(
        layout.decision(ext_at(0x140)),
        Some(Decision::Virtualise {
            key: Key::Doe,
            len: 0x10
        })
    );
}

#[test]
fn virtualising_checks_the_handler_fits() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    assert_eq!(
        layout.virtualise(ext_at(0x140), Key::Doe, 0x1c),
        Err(LayoutError::HandlerTooLong {
            at: ext_at(0x140),
            len: 0x1c,
            room: 0x18
        })
    );
    assert_eq!(
        layout.virtualise(ext_at(0x140), Key::Doe, 2),
        Err(LayoutError::TooShort {
            space: CapSpace::Extended,
            len: 2
        })
    );
    assert_eq!(
        layout.hide(ext_at(0x144)),
        Err(LayoutError::NoSuchCapability(ext_at(0x144)))
    );
}

#[test]
fn synthesising_into_an_empty_extended_chain_uses_0x100() {
    let cfg = PciConfig::new();
    let mut layout = layout(&cfg);
    let offset = layout
        .synthesise(CapSpace::Extended, EXT_DOE, 1, 0x18, Key::Synth)
        .unwrap();
    assert_eq!(offset, 0x100);
    assert_eq!(guest_ext(&layout, &cfg), vec![(EXT_DOE, 0x100)]);
    assert_eq!(
        layout.route(0x104),
        Route::Handler {
            key: Key::Synth,
            offset: 4
        }
    );
    assert_eq!(layout.route(0x118), Route::Device);
}

#[test]
fn synthesising_into_a_chain_appends_it_in_the_first_gap() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    let offset = layout
        .synthesise(CapSpace::Extended, EXT_DOE, 1, 0x18, Key::Synth)
        .unwrap();
    // DOE ends at 0x158, AER starts at 0x180: the gap fits 0x18 bytes.
    assert_eq!(offset, 0x158);
    assert_eq!(
        guest_ext(&layout, &cfg),
        vec![
            (EXT_DVSEC, 0x100),
            (EXT_DOE, 0x140),
            (EXT_AER, 0x180),
            (EXT_DOE, 0x158)
        ]
    );
    let chain = layout.guest_chain(CapSpace::Extended);
    assert_eq!(chain.last().unwrap().origin, Origin::Synthesised);
    // The next one does not fit the rest of the gap and goes after AER.
    let offset = layout
        .synthesise(CapSpace::Extended, EXT_DOE, 1, 0x18, Key::Synth)
        .unwrap();
    assert_eq!(offset, 0x1c8);
}

#[test]
fn synthesising_after_a_hidden_first_capability_keeps_the_placeholder() {
    let cfg = ext_function(&[(EXT_DOE, 0x100, 0x18)]);
    let mut layout = layout(&cfg);
    layout.hide(ext_at(0x100)).unwrap();
    let offset = layout
        .synthesise(CapSpace::Extended, EXT_DOE, 1, 0x18, Key::Synth)
        .unwrap();
    assert_eq!(offset, 0x118, "hidden registers are not reused");
    assert_eq!(guest_ext(&layout, &cfg), vec![(0, 0x100), (EXT_DOE, 0x118)]);
}

#[test]
fn synthesising_into_a_full_chain_fails() {
    // One capability per dword from 0x100 to 0xffc: the longest chain there is.
    let chain: Vec<(u16, u16, u16)> = (0x100..0x1000).step_by(4).map(|o| (0x7777, o, 4)).collect();
    let cfg = ext_function(&chain);
    let mut layout = layout(&cfg);
    assert_eq!(
        layout.synthesise(CapSpace::Extended, EXT_DOE, 1, 0x18, Key::Synth),
        Err(LayoutError::NoSpace {
            space: CapSpace::Extended,
            len: 0x18
        })
    );
    // Hiding one does not free it: hidden registers stay hidden.
    layout.hide(ext_at(0x200)).unwrap();
    assert!(layout
        .synthesise(CapSpace::Extended, EXT_DOE, 1, 4, Key::Synth)
        .is_err());
}

#[test]
fn synthesising_at_a_chosen_offset_is_checked() {
    let cfg = three_ext();
    let mut layout = layout(&cfg);
    let synth = |layout: &mut CapabilityLayout<Key>, space, id, offset, len| {
        layout.synthesise_at(space, id, 1, offset, len, Key::Synth)
    };
    assert_eq!(
        synth(&mut layout, CapSpace::Extended, EXT_DOE, 0x150, 0x18),
        Err(LayoutError::Overlaps {
            offset: 0x150,
            other: 0x140
        })
    );
    assert!(matches!(
        synth(&mut layout, CapSpace::Extended, EXT_DOE, 0x15a, 0x18),
        Err(LayoutError::BadOffset { .. })
    ));
    assert!(matches!(
        synth(&mut layout, CapSpace::Extended, EXT_DOE, 0xff8, 0x18),
        Err(LayoutError::BadOffset { .. })
    ));
    assert!(matches!(
        synth(&mut layout, CapSpace::Extended, EXT_DOE, 0xfc, 0x18),
        Err(LayoutError::BadOffset { .. })
    ));
    assert_eq!(
        synth(&mut layout, CapSpace::Standard, 0x100, 0x40, 8),
        Err(LayoutError::IdTooWide(0x100))
    );
    assert!(synth(&mut layout, CapSpace::Extended, EXT_DOE, 0xfe8, 0x18).is_ok());
    assert_eq!(guest_ext(&layout, &cfg).last(), Some(&(EXT_DOE, 0xfe8)));
}

#[test]
fn a_capability_synthesised_at_0x100_heads_the_chain() {
    let cfg = PciConfig::new();
    let mut layout = layout(&cfg);
    layout
        .synthesise_at(CapSpace::Extended, EXT_DOE, 1, 0x200, 0x18, Key::Synth)
        .unwrap();
    assert_eq!(guest_ext(&layout, &cfg), vec![(0, 0x100), (EXT_DOE, 0x200)]);
    let offset = layout
        .synthesise(CapSpace::Extended, EXT_AER, 2, 0x48, Key::Synth)
        .unwrap();
    assert_eq!(offset, 0x100);
    assert_eq!(
        guest_ext(&layout, &cfg),
        vec![(EXT_AER, 0x100), (EXT_DOE, 0x200)]
    );
    assert_eq!(layout.guest_view(&cfg).u32_at(0x100), 0x2002_0001);
}

#[test]
fn synthesising_a_standard_capability() {
    let cfg = std_function();
    let mut layout = layout(&cfg);
    let offset = layout
        .synthesise(CapSpace::Standard, 0x09, 0, 0x0c, Key::Synth)
        .unwrap();
    // PM ends at 0x48: 8 bytes free before MSI at 0x50 — too small; MSI ends at 0x5e.
    assert_eq!(offset, 0x60);
    assert_eq!(
        guest_std(&layout, &cfg),
        vec![
            (1, 0x40),
            (STD_MSI, 0x50),
            (STD_PCI_EXPRESS, 0x80),
            (STD_MSIX, 0xc0),
            (0x09, 0x60)
        ]
    );
    assert_eq!(
        layout.route(0x62),
        Route::Handler {
            key: Key::Synth,
            offset: 2
        }
    );
}

#[test]
fn synthesising_the_first_standard_capability_sets_the_list_bit() {
    let cfg = PciConfig::new();
    let mut layout = layout(&cfg);
    layout
        .synthesise(CapSpace::Standard, 0x09, 0, 0x0c, Key::Synth)
        .unwrap();
    let view = layout.guest_view(&cfg);
    assert_ne!(view.u16_at(STATUS) & STATUS_CAPABILITIES_LIST, 0);
    assert_eq!(view.u8_at(CAPABILITIES_POINTER), 0x40);
    assert_eq!(guest_std(&layout, &cfg), vec![(0x09, 0x40)]);
}

#[test]
fn malformed_chains_give_no_layout() {
    let mut cfg = three_ext();
    cfg.set_u32(0x180, ext_header(EXT_AER, 0x100));
    assert!(matches!(
        CapabilityLayout::<Key>::from_config(&cfg),
        Err(CapabilityError::Extended(_))
    ));
    let mut cfg = std_function();
    cfg.set_u8(0xc1, 0x40);
    assert!(matches!(
        CapabilityLayout::<Key>::from_config(&cfg),
        Err(CapabilityError::StandardLoop { .. })
    ));
}
