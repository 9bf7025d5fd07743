//! Walking the two capability chains of a config snapshot.
//!
//! Both walks are bounded and never trust the device: a pointer into the header, out of
//! range or unaligned, a loop, or a header reading all ones gives a typed error instead
//! of a hang or a panic. The extended walk is the one in [`doe_proxy::ext_cap`] (shared
//! with the host-side DOE tools), run over the snapshot.

use doe_proxy::config_space::{check_offset, ConfigError, ConfigSpace};
use doe_proxy::ext_cap;

use super::extent::assign_extents;
use super::{CapSpace, Capability, CapabilityError, CAP_ALIGN};
use crate::pci::config::PciConfig;
use crate::pci::header::{
    CAPABILITIES_POINTER, CAP_POINTER_MASK, HEADER_SIZE, LEGACY_CONFIG_SIZE, STATUS,
    STATUS_CAPABILITIES_LIST,
};

/// Slots for visited standard capabilities: one per dword of 0x40..0x100.
const STD_SLOTS: usize = ((LEGACY_CONFIG_SIZE - HEADER_SIZE) / CAP_ALIGN) as usize;
/// Offset of the Next Capability Pointer in a standard capability header.
const STD_NEXT: u16 = 1;
/// A standard header (ID and Next) reading all ones: the function is gone.
const STD_HEADER_ABSENT: u16 = 0xffff;

/// Walks the standard chain from the Capabilities Pointer, in chain order.
///
/// A function whose Status register has no Capabilities List bit has an empty chain.
pub fn walk_standard(cfg: &PciConfig) -> Result<Vec<Capability>, CapabilityError> {
    let mut caps = Vec::new();
    if cfg.u16_at(STATUS) & STATUS_CAPABILITIES_LIST == 0 {
        return Ok(caps);
    }
    let mut visited = [false; STD_SLOTS];
    let mut at = CAPABILITIES_POINTER;
    let mut next = u16::from(cfg.u8_at(CAPABILITIES_POINTER) & CAP_POINTER_MASK);
    // Each pass visits a new slot, so the loop ends after at most STD_SLOTS passes.
    while next != 0 {
        if next < HEADER_SIZE {
            return Err(CapabilityError::StandardPointerInHeader { at, next });
        }
        let slot = usize::from((next - HEADER_SIZE) / CAP_ALIGN);
        if visited[slot] {
            return Err(CapabilityError::StandardLoop { at, next });
        }
        visited[slot] = true;
        let header = cfg.u16_at(next);
        if header == STD_HEADER_ABSENT {
            return Err(CapabilityError::StandardDeviceGone(next));
        }
        caps.push(Capability {
            space: CapSpace::Standard,
            id: u16::from(cfg.u8_at(next)),
            version: 0,
            offset: next,
            len: 0,
        });
        at = next + STD_NEXT;
        next = u16::from(cfg.u8_at(at) & CAP_POINTER_MASK);
    }
    assign_extents(cfg, &mut caps);
    Ok(caps)
}

/// Walks the extended chain from 0x100, in chain order. A header of 0 (no extended
/// capabilities) or all ones (no extended config space) at 0x100 gives an empty chain.
pub fn walk_extended(cfg: &PciConfig) -> Result<Vec<Capability>, CapabilityError> {
    let mut caps: Vec<Capability> = ext_cap::walk(&Snapshot(cfg))?
        .into_iter()
        .map(|cap| Capability {
            space: CapSpace::Extended,
            id: cap.id,
            version: cap.version,
            offset: cap.offset,
            len: 0,
        })
        .collect();
    assign_extents(cfg, &mut caps);
    Ok(caps)
}

/// A snapshot seen through the DOE tools' dword interface. Read-only: the walk never
/// writes, and a write would be refused.
struct Snapshot<'a>(&'a PciConfig);

impl ConfigSpace for Snapshot<'_> {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        check_offset(offset)?;
        Ok(self.0.u32_at(offset))
    }

    fn write_u32(&self, offset: u16, _value: u32) -> Result<(), ConfigError> {
        Err(ConfigError::BadOffset(offset))
    }
}

#[cfg(test)]
mod tests {
    use doe_proxy::ext_cap::{ExtCapError, ExtCapHeader};

    use super::*;
    use crate::pci::capability::ids::{EXT_AER, EXT_DOE, EXT_DVSEC, STD_MSIX, STD_PCI_EXPRESS};

    fn with_std_chain(links: &[(u16, u8, u8)]) -> PciConfig {
        let mut cfg = PciConfig::new();
        cfg.set_u16(STATUS, STATUS_CAPABILITIES_LIST);
        cfg.set_u8(CAPABILITIES_POINTER, links.first().map_or(0, |l| l.0 as u8));
        for &(offset, id, next) in links {
            cfg.set_u8(offset, id);
            cfg.set_u8(offset + 1, next);
        }
        cfg
    }

    #[test]
    fn standard_chain_in_chain_order() {
        let cfg = with_std_chain(&[
            (0x80, STD_PCI_EXPRESS as u8, 0x40),
            (0x40, STD_MSIX as u8, 0),
        ]);
        let caps = walk_standard(&cfg).unwrap();
        assert_eq!(
            caps.iter()
                .map(|c| (c.id, c.offset, c.len))
                .collect::<Vec<_>>(),
            vec![(STD_PCI_EXPRESS, 0x80, 0x24), (STD_MSIX, 0x40, 0x0c)]
        );
    }

    #[test]
    fn reserved_pointer_bits_are_masked() {
        let mut cfg = with_std_chain(&[(0x40, STD_MSIX as u8, 0)]);
        cfg.set_u8(CAPABILITIES_POINTER, 0x43);
        assert_eq!(walk_standard(&cfg).unwrap()[0].offset, 0x40);
    }

    #[test]
    fn no_capabilities_list_bit_means_no_chain() {
        let mut cfg = with_std_chain(&[(0x40, STD_MSIX as u8, 0)]);
        cfg.set_u16(STATUS, 0);
        assert!(walk_standard(&cfg).unwrap().is_empty());
    }

    #[test]
    fn malformed_standard_chains_are_typed_errors() {
        let cfg = with_std_chain(&[(0x40, 1, 0x50), (0x50, 5, 0x40)]);
        assert!(matches!(
            walk_standard(&cfg),
            Err(CapabilityError::StandardLoop {
                at: 0x51,
                next: 0x40
            })
        ));
        let cfg = with_std_chain(&[(0x40, 1, 0x40)]);
        assert!(matches!(
            walk_standard(&cfg),
            Err(CapabilityError::StandardLoop {
                at: 0x41,
                next: 0x40
            })
        ));
        let cfg = with_std_chain(&[(0x40, 1, 0x10)]);
        assert!(matches!(
            walk_standard(&cfg),
            Err(CapabilityError::StandardPointerInHeader {
                at: 0x41,
                next: 0x10
            })
        ));
        let mut cfg = with_std_chain(&[]);
        cfg.set_u8(CAPABILITIES_POINTER, 0x3c);
        assert!(matches!(
            walk_standard(&cfg),
            Err(CapabilityError::StandardPointerInHeader {
                at: 0x34,
                next: 0x3c
            })
        ));
        let mut cfg = with_std_chain(&[(0x40, 1, 0xfc)]);
        cfg.set_u16(0xfc, 0xffff);
        assert!(matches!(
            walk_standard(&cfg),
            Err(CapabilityError::StandardDeviceGone(0xfc))
        ));
    }

    #[test]
    fn the_longest_standard_chain_ends() {
        let mut cfg = with_std_chain(&[]);
        cfg.set_u8(CAPABILITIES_POINTER, 0x40);
        let mut offset = 0x40;
        while offset < 0xfc {
            cfg.set_u8(offset, 0x09);
            cfg.set_u8(offset + 1, (offset + 4) as u8);
            offset += 4;
        }
        cfg.set_u16(0xfc, 0x0009);
        assert_eq!(walk_standard(&cfg).unwrap().len(), STD_SLOTS);
    }

    fn ext(cfg: &mut PciConfig, offset: u16, id: u16, next: u16) {
        cfg.set_u32(
            offset,
            ExtCapHeader {
                id,
                version: 1,
                next,
            }
            .encode(),
        );
    }

    #[test]
    fn extended_chain_with_extents() {
        let mut cfg = PciConfig::new();
        ext(&mut cfg, 0x100, EXT_DVSEC, 0x190);
        cfg.set_u32(0x104, 0x03c0_1e98);
        ext(&mut cfg, 0x190, EXT_DOE, 0x200);
        ext(&mut cfg, 0x200, EXT_AER, 0);
        let caps = walk_extended(&cfg).unwrap();
        assert_eq!(
            caps.iter()
                .map(|c| (c.id, c.offset, c.len))
                .collect::<Vec<_>>(),
            vec![
                (EXT_DVSEC, 0x100, 0x3c),
                (EXT_DOE, 0x190, 0x18),
                (EXT_AER, 0x200, 0x48)
            ]
        );
    }

    #[test]
    fn malformed_extended_chains_are_typed_errors() {
        let mut cfg = PciConfig::new();
        ext(&mut cfg, 0x100, EXT_AER, 0x180);
        ext(&mut cfg, 0x180, EXT_DOE, 0x100);
        assert!(matches!(
            walk_extended(&cfg),
            Err(CapabilityError::Extended(ExtCapError::Loop {
                at: 0x180,
                next: 0x100
            }))
        ));
        ext(&mut cfg, 0x180, EXT_DOE, 0x42);
        assert!(matches!(
            walk_extended(&cfg),
            Err(CapabilityError::Extended(
                ExtCapError::NextBelowStart { .. }
            ))
        ));
        cfg.set_u32(0x180, u32::MAX);
        assert!(matches!(
            walk_extended(&cfg),
            Err(CapabilityError::Extended(ExtCapError::DeviceGone(0x180)))
        ));
    }

    #[test]
    fn absent_extended_space_is_an_empty_chain() {
        let mut cfg = PciConfig::new();
        assert!(walk_extended(&cfg).unwrap().is_empty());
        cfg.set_u32(0x100, u32::MAX);
        assert!(walk_extended(&cfg).unwrap().is_empty());
    }
}
