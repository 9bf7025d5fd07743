//! How far a capability's registers reach.
//!
//! The header only says where a capability starts. Its extent is the length its ID
//! defines (fixed, or read from the capability itself), clamped to the start of the next
//! capability by offset — so a wrong length field can never spill over a neighbour. For
//! an ID without a known length, the extent runs to the next capability (or the end of
//! the chain's space): when such a capability is hidden, nothing of it stays reachable.

use super::ids::{
    EXT_AER, EXT_ARI, EXT_ATS, EXT_DEVICE_SERIAL_NUMBER, EXT_DOE, EXT_DVSEC, EXT_PASID, EXT_PRI,
    EXT_RESIZABLE_BAR, EXT_SRIOV, EXT_VENDOR_SPECIFIC, STD_MSI, STD_MSIX, STD_PCI_EXPRESS,
    STD_POWER_MANAGEMENT, STD_VENDOR_SPECIFIC,
};
use super::msi::{MsiLayout, MSIX_CAP_LEN, MSI_CONTROL};
use super::{CapSpace, Capability, CAP_ALIGN};
use crate::pci::config::PciConfig;

/// PCI Power Management: capabilities, control/status, data (PCIe r6.0 §7.5.2).
const PM_LEN: u16 = 0x08;
/// PCI Express Capability, version 2 with slot and root registers (PCIe r6.0 §7.5.3).
const PCIE_V2_LEN: u16 = 0x3c;
/// PCI Express Capability, version 1 (through the root registers).
const PCIE_V1_LEN: u16 = 0x24;
/// PCI Express Capabilities register, whose bits 3:0 hold the capability version.
const PCIE_CAPS: u16 = 0x02;
const PCIE_CAPS_VERSION_MASK: u16 = 0xf;
const PCIE_VERSION_2: u16 = 2;
/// Vendor-Specific (standard): byte 2 is the capability length.
const STD_VENDOR_LEN_BYTE: u16 = 0x02;
/// AER, up to and including the TLP Prefix Log (PCIe r6.0 §7.8.4).
const AER_LEN: u16 = 0x48;
/// Device Serial Number: header and two dwords.
const DSN_LEN: u16 = 0x0c;
/// ARI: header, capability and control.
const ARI_LEN: u16 = 0x08;
/// ATS: header, capability and control.
const ATS_LEN: u16 = 0x08;
/// SR-IOV (PCIe r6.0 §9.3.3).
const SRIOV_LEN: u16 = 0x40;
/// PRI: header, control/status, capacity, allocation.
const PRI_LEN: u16 = 0x10;
/// PASID: header, capability and control.
const PASID_LEN: u16 = 0x08;
/// DOE: header and five registers (PCIe r6.0 §7.9.24).
const DOE_LEN: u16 = 0x18;
/// DVSEC and VSEC: header 1 at +4 holds the length in bits 31:20, header included.
const VENDOR_HEADER1: u16 = 0x04;
const VENDOR_LEN_SHIFT: u32 = 20;
/// Resizable BAR: header, then 8 bytes (capability, control) per resizable BAR; the first
/// control register at +8 holds the number of resizable BARs in bits 7:5 (1..=6).
const REBAR_FIRST_CONTROL: u16 = 0x08;
const REBAR_COUNT_SHIFT: u32 = 5;
const REBAR_COUNT_MASK: u32 = 0b111;
const REBAR_MAX_COUNT: u32 = 6;
const REBAR_ENTRY_LEN: u32 = 8;
const REBAR_HEADER_LEN: u32 = 4;

/// The length the capability's ID defines, if known (read from `cfg` where it varies).
pub fn known_len(cfg: &PciConfig, space: CapSpace, id: u16, offset: u16) -> Option<u16> {
    let at = |delta: u16| offset.saturating_add(delta);
    match (space, id) {
        (CapSpace::Standard, STD_POWER_MANAGEMENT) => Some(PM_LEN),
        (CapSpace::Standard, STD_MSI) => {
            Some(MsiLayout::from_control(cfg.u16_at(at(MSI_CONTROL))).size())
        }
        (CapSpace::Standard, STD_VENDOR_SPECIFIC) => {
            Some(u16::from(cfg.u8_at(at(STD_VENDOR_LEN_BYTE))))
        }
        (CapSpace::Standard, STD_PCI_EXPRESS) => {
            let version = cfg.u16_at(at(PCIE_CAPS)) & PCIE_CAPS_VERSION_MASK;
            Some(if version >= PCIE_VERSION_2 {
                PCIE_V2_LEN
            } else {
                PCIE_V1_LEN
            })
        }
        (CapSpace::Standard, STD_MSIX) => Some(MSIX_CAP_LEN),
        (CapSpace::Extended, EXT_AER) => Some(AER_LEN),
        (CapSpace::Extended, EXT_DEVICE_SERIAL_NUMBER) => Some(DSN_LEN),
        (CapSpace::Extended, EXT_ARI) => Some(ARI_LEN),
        (CapSpace::Extended, EXT_ATS) => Some(ATS_LEN),
        (CapSpace::Extended, EXT_SRIOV) => Some(SRIOV_LEN),
        (CapSpace::Extended, EXT_PRI) => Some(PRI_LEN),
        (CapSpace::Extended, EXT_PASID) => Some(PASID_LEN),
        (CapSpace::Extended, EXT_DOE) => Some(DOE_LEN),
        (CapSpace::Extended, EXT_DVSEC | EXT_VENDOR_SPECIFIC) => {
            Some((cfg.u32_at(at(VENDOR_HEADER1)) >> VENDOR_LEN_SHIFT) as u16)
        }
        (CapSpace::Extended, EXT_RESIZABLE_BAR) => {
            let count =
                (cfg.u32_at(at(REBAR_FIRST_CONTROL)) >> REBAR_COUNT_SHIFT) & REBAR_COUNT_MASK;
            let count = count.clamp(1, REBAR_MAX_COUNT);
            Some((REBAR_HEADER_LEN + count * REBAR_ENTRY_LEN) as u16)
        }
        _ => None,
    }
}

/// Fills in `len` of every capability of one chain (`caps` in chain order, as walked).
pub fn assign_extents(cfg: &PciConfig, caps: &mut [Capability]) {
    let mut starts: Vec<u16> = caps.iter().map(|cap| cap.offset).collect();
    starts.sort_unstable();
    for cap in caps.iter_mut() {
        let limit = starts
            .iter()
            .copied()
            .find(|&start| start > cap.offset)
            .unwrap_or(cap.space.end());
        let room = limit - cap.offset;
        let wanted = known_len(cfg, cap.space, cap.id, cap.offset).unwrap_or(room);
        // A length field that is too small still leaves the header in the capability;
        // one that is too large stops at the neighbour.
        cap.len = wanted.max(cap.space.header_len()).min(room);
    }
}

/// `len` rounded up to whole dwords, as capabilities are placed.
pub fn dword_len(len: u16) -> u16 {
    len.div_ceil(CAP_ALIGN) * CAP_ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(space: CapSpace, id: u16, offset: u16) -> Capability {
        Capability {
            space,
            id,
            version: 1,
            offset,
            len: 0,
        }
    }

    #[test]
    fn fixed_and_field_lengths() {
        let mut cfg = PciConfig::new();
        // DVSEC at 0x100 announcing 0x3c bytes, DOE at 0x13c, an unknown ID at 0x200.
        cfg.set_u32(0x104, 0x03c0_1e98);
        let mut caps = [
            cap(CapSpace::Extended, EXT_DVSEC, 0x100),
            cap(CapSpace::Extended, EXT_DOE, 0x13c),
            cap(CapSpace::Extended, 0x7777, 0x200),
        ];
        assign_extents(&cfg, &mut caps);
        assert_eq!(caps.map(|c| c.len), [0x3c, 0x18, 0xe00]);
    }

    #[test]
    fn lengths_stop_at_the_neighbour_and_keep_the_header() {
        let mut cfg = PciConfig::new();
        cfg.set_u32(0x104, 0xfff0_0000); // DVSEC claiming 0xfff bytes.
        cfg.set_u32(0x124, 0x0000_0000); // DVSEC claiming 0 bytes.
        let mut caps = [
            cap(CapSpace::Extended, EXT_DVSEC, 0x100),
            cap(CapSpace::Extended, EXT_DVSEC, 0x120),
            cap(CapSpace::Extended, EXT_AER, 0x140),
        ];
        assign_extents(&cfg, &mut caps);
        assert_eq!(caps.map(|c| c.len), [0x20, 0x04, 0x48]);
    }

    #[test]
    fn standard_lengths() {
        let mut cfg = PciConfig::new();
        cfg.set_u16(0x52, 0x0180); // MSI: 64-bit, per-vector masking.
        cfg.set_u8(0x72, 0x10); // Vendor-specific, 16 bytes.
        cfg.set_u16(0x82, 0x0002); // PCIe capability version 2.
        let mut caps = [
            cap(CapSpace::Standard, STD_POWER_MANAGEMENT, 0x40),
            cap(CapSpace::Standard, STD_MSI, 0x50),
            cap(CapSpace::Standard, STD_VENDOR_SPECIFIC, 0x70),
            cap(CapSpace::Standard, STD_PCI_EXPRESS, 0x80),
            cap(CapSpace::Standard, STD_MSIX, 0xc0),
        ];
        assign_extents(&cfg, &mut caps);
        assert_eq!(caps.map(|c| c.len), [0x08, 0x18, 0x10, 0x3c, 0x0c]);
    }

    #[test]
    fn resizable_bar_counts_its_bars() {
        let mut cfg = PciConfig::new();
        cfg.set_u32(0x108, 3 << REBAR_COUNT_SHIFT);
        let mut caps = [cap(CapSpace::Extended, EXT_RESIZABLE_BAR, 0x100)];
        assign_extents(&cfg, &mut caps);
        assert_eq!(caps[0].len, 4 + 3 * 8);
    }

    #[test]
    fn dword_rounding() {
        assert_eq!(dword_len(0x0a), 0x0c);
        assert_eq!(dword_len(0x18), 0x18);
        assert_eq!(dword_len(0), 0);
    }
}
