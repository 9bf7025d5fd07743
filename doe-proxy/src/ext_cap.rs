//! The PCIe extended capability list (PCIe r6.0 §7.6.3): decode, walk, find DOE, append.
//!
//! Extended capabilities live above the 256-byte PCI-compatible space. The first header
//! sits at 0x100; each header names the next by a dword offset, and a next offset of 0
//! ends the list. The walk never trusts the device: it is bounded by the number of
//! dwords that could hold a header, rejects pointers that leave extended space, and
//! reports loops instead of following them.

use crate::config_space::{ConfigError, ConfigSpace, CONFIG_SPACE_SIZE};

/// Where the first extended capability header lives (PCIe r6.0 §7.6.3).
pub const EXT_CAP_START: u16 = 0x100;
/// Capability ID of Data Object Exchange (PCIe r6.0 §7.9.24.1; Linux `PCI_EXT_CAP_ID_DOE`).
pub const EXT_CAP_ID_DOE: u16 = 0x2e;
/// Most headers a list can hold: one per dword of extended space.
pub const MAX_EXT_CAPS: usize = ((CONFIG_SPACE_SIZE - EXT_CAP_START) / DWORD) as usize;
/// Highest offset a header can sit at (the last dword of config space).
pub const LAST_HEADER_OFFSET: u16 = CONFIG_SPACE_SIZE - DWORD;

/// Bytes in a dword; headers are dword-aligned.
const DWORD: u16 = 4;
/// Header bits 15:0: PCI Express Extended Capability ID (PCIe r6.0 §7.6.3).
const HDR_ID_MASK: u32 = 0x0000_ffff;
/// Header bits 19:16: Capability Version.
const HDR_VERSION_SHIFT: u32 = 16;
const HDR_VERSION_MASK: u32 = 0x000f_0000;
/// Header bits 31:20: Next Capability Offset.
const HDR_NEXT_SHIFT: u32 = 20;
/// Bits 31:20 hold the next offset; its low two bits are reserved and software must mask
/// them (PCIe r6.0 §7.6.3), as Linux's `PCI_EXT_CAP_NEXT` does.
const HDR_NEXT_MASK: u32 = 0xffc0_0000;
/// What a read returns from a function that is absent or gone (an Unsupported Request
/// completes with all ones).
const HDR_ABSENT: u32 = 0xffff_ffff;
/// A header of all zeroes at 0x100 means the function has no extended capabilities.
const HDR_EMPTY: u32 = 0;

/// A decoded extended capability header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtCapHeader {
    /// Capability ID.
    pub id: u16,
    /// Capability version (4 bits).
    pub version: u8,
    /// Offset of the next header, 0 at the end of the list (12 bits, the two reserved low
    /// bits masked: always dword-aligned).
    pub next: u16,
}

impl ExtCapHeader {
    /// Decodes a header dword.
    pub fn decode(raw: u32) -> Self {
        ExtCapHeader {
            id: (raw & HDR_ID_MASK) as u16,
            version: ((raw & HDR_VERSION_MASK) >> HDR_VERSION_SHIFT) as u8,
            next: ((raw & HDR_NEXT_MASK) >> HDR_NEXT_SHIFT) as u16,
        }
    }

    /// Encodes the header; a version or next offset wider than its field is truncated.
    pub fn encode(&self) -> u32 {
        u32::from(self.id)
            | ((u32::from(self.version) << HDR_VERSION_SHIFT) & HDR_VERSION_MASK)
            | ((u32::from(self.next) << HDR_NEXT_SHIFT) & HDR_NEXT_MASK)
    }
}

/// One capability found in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExtCapability {
    /// Capability ID (an ID of 0 is a placeholder, e.g. where VFIO hid a capability).
    pub id: u16,
    /// Capability version.
    pub version: u8,
    /// Offset of its header in config space.
    pub offset: u16,
}

/// A malformed extended capability list, or a failed access while walking it.
#[derive(Debug, thiserror::Error)]
pub enum ExtCapError {
    /// Reading or writing config space failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A next pointer points back into the PCI-compatible space below 0x100.
    #[error("extended capability at {at:#x} points to {next:#x}, below 0x100")]
    NextBelowStart {
        /// The header holding the pointer.
        at: u16,
        /// The pointer.
        next: u16,
    },
    /// A next pointer leads back to a header already visited.
    #[error("extended capability list loops: {at:#x} points back to {next:#x}")]
    Loop {
        /// The header holding the pointer.
        at: u16,
        /// The header visited before.
        next: u16,
    },
    /// More headers than extended space can hold.
    #[error("extended capability list longer than {MAX_EXT_CAPS} entries")]
    TooMany,
    /// A header in the middle of the list reads as all ones: the function went away.
    #[error("extended capability header at {0:#x} reads as all ones (device gone?)")]
    DeviceGone(u16),
    /// A capability cannot be placed at this offset (below 0x100, unaligned or past
    /// 0xffc).
    #[error("cannot place an extended capability at {0:#x}")]
    BadOffset(u16),
    /// A capability already starts at this offset.
    #[error("an extended capability already sits at {0:#x}")]
    Occupied(u16),
}

/// Checks the pointer `next` found in the header at `at` (`next` is not 0).
fn check_next(at: u16, next: u16) -> Result<(), ExtCapError> {
    if next < EXT_CAP_START {
        return Err(ExtCapError::NextBelowStart { at, next });
    }
    Ok(())
}

/// The slot of an extended-space header offset in a visited-set.
fn slot(offset: u16) -> usize {
    usize::from((offset - EXT_CAP_START) / DWORD)
}

/// Walks the extended capability list from 0x100 and returns every entry in list order.
///
/// An all-zero or all-ones header at 0x100 means "no extended capabilities" (a
/// conventional PCI function, or one whose extended space is not readable) and gives an
/// empty list.
pub fn walk(cfg: &(impl ConfigSpace + ?Sized)) -> Result<Vec<ExtCapability>, ExtCapError> {
    let first = cfg.read_u32(EXT_CAP_START)?;
    if first == HDR_EMPTY || first == HDR_ABSENT {
        return Ok(Vec::new());
    }
    let mut caps = Vec::new();
    let mut visited = [false; MAX_EXT_CAPS];
    let mut offset = EXT_CAP_START;
    let mut raw = first;
    while caps.len() < MAX_EXT_CAPS {
        visited[slot(offset)] = true;
        let header = ExtCapHeader::decode(raw);
        caps.push(ExtCapability {
            id: header.id,
            version: header.version,
            offset,
        });
        if header.next == 0 {
            return Ok(caps);
        }
        check_next(offset, header.next)?;
        if visited[slot(header.next)] {
            return Err(ExtCapError::Loop {
                at: offset,
                next: header.next,
            });
        }
        offset = header.next;
        raw = cfg.read_u32(offset)?;
        if raw == HDR_ABSENT {
            return Err(ExtCapError::DeviceGone(offset));
        }
    }
    Err(ExtCapError::TooMany)
}

/// Offsets of every DOE capability of the function, in list order.
pub fn find_doe_mailboxes(cfg: &(impl ConfigSpace + ?Sized)) -> Result<Vec<u16>, ExtCapError> {
    Ok(walk(cfg)?
        .into_iter()
        .filter(|cap| cap.id == EXT_CAP_ID_DOE)
        .map(|cap| cap.offset)
        .collect())
}

/// Links a new capability header at `offset` to the end of the list (the capability's
/// body is the caller's). On a function with no extended capabilities and `offset` above
/// 0x100, a placeholder header (ID 0) is written at 0x100 to point to it, because the
/// list must start at 0x100. Used to build config spaces for tests and to synthesise
/// capabilities; it does not check that bodies do not overlap.
pub fn append(
    cfg: &(impl ConfigSpace + ?Sized),
    id: u16,
    version: u8,
    offset: u16,
) -> Result<(), ExtCapError> {
    if !(EXT_CAP_START..=LAST_HEADER_OFFSET).contains(&offset) || offset % DWORD != 0 {
        return Err(ExtCapError::BadOffset(offset));
    }
    let caps = walk(cfg)?;
    if caps.iter().any(|cap| cap.offset == offset) {
        return Err(ExtCapError::Occupied(offset));
    }
    let new = ExtCapHeader {
        id,
        version,
        next: 0,
    };
    match caps.last() {
        Some(last) => {
            let linked = ExtCapHeader {
                id: last.id,
                version: last.version,
                next: offset,
            };
            cfg.write_u32(last.offset, linked.encode())?;
        }
        None if offset != EXT_CAP_START => {
            let placeholder = ExtCapHeader {
                id: 0,
                version: 0,
                next: offset,
            };
            cfg.write_u32(EXT_CAP_START, placeholder.encode())?;
        }
        None => {}
    }
    cfg.write_u32(offset, new.encode())?;
    Ok(())
}

/// Parses a config-space offset as users write it: `0x190` (hex) or `400` (decimal).
pub fn parse_offset(text: &str) -> Result<u16, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("`{text}` is not a config-space offset: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_space::MemoryConfig;

    /// Capability IDs used as filler in the tests (PCIe r6.0 §7.6.3 list).
    const ID_AER: u16 = 0x01;
    const ID_DVSEC: u16 = 0x23;

    fn header(id: u16, version: u8, next: u16) -> u32 {
        ExtCapHeader { id, version, next }.encode()
    }

    #[test]
    fn header_codec() {
        let raw = 0x1902_002e;
        assert_eq!(
            ExtCapHeader::decode(raw),
            ExtCapHeader {
                id: EXT_CAP_ID_DOE,
                version: 2,
                next: 0x190
            }
        );
        assert_eq!(ExtCapHeader::decode(raw).encode(), raw);
    }

    #[test]
    fn walks_a_normal_chain() {
        let cfg = MemoryConfig::new();
        cfg.set_u32(0x100, header(ID_AER, 2, 0x150));
        cfg.set_u32(0x150, header(ID_DVSEC, 1, 0x190));
        cfg.set_u32(0x190, header(EXT_CAP_ID_DOE, 1, 0));
        assert_eq!(
            walk(&cfg).unwrap(),
            vec![
                ExtCapability {
                    id: ID_AER,
                    version: 2,
                    offset: 0x100
                },
                ExtCapability {
                    id: ID_DVSEC,
                    version: 1,
                    offset: 0x150
                },
                ExtCapability {
                    id: EXT_CAP_ID_DOE,
                    version: 1,
                    offset: 0x190
                },
            ]
        );
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0x190]);
    }

    #[test]
    fn empty_lists() {
        let cfg = MemoryConfig::new();
        assert!(walk(&cfg).unwrap().is_empty());
        cfg.set_u32(EXT_CAP_START, HDR_ABSENT);
        assert!(walk(&cfg).unwrap().is_empty());
        assert!(find_doe_mailboxes(&cfg).unwrap().is_empty());
    }

    #[test]
    fn loops_are_reported() {
        let cfg = MemoryConfig::new();
        cfg.set_u32(0x100, header(ID_AER, 1, 0x200));
        cfg.set_u32(0x200, header(EXT_CAP_ID_DOE, 1, 0x100));
        assert!(matches!(
            walk(&cfg),
            Err(ExtCapError::Loop {
                at: 0x200,
                next: 0x100
            })
        ));
        // A header pointing to itself.
        cfg.set_u32(0x100, header(ID_AER, 1, 0x100));
        assert!(matches!(
            walk(&cfg),
            Err(ExtCapError::Loop {
                at: 0x100,
                next: 0x100
            })
        ));
    }

    #[test]
    fn bad_pointers_are_reported() {
        let cfg = MemoryConfig::new();
        cfg.set_u32(0x100, header(ID_AER, 1, 0x40));
        assert!(matches!(
            walk(&cfg),
            Err(ExtCapError::NextBelowStart {
                at: 0x100,
                next: 0x40
            })
        ));
        // The reserved low two bits of a next pointer are masked (PCIe r6.0 §7.6.3), as
        // Linux does: 0x193 is 0x190, and 0xfff is the last dword, 0xffc.
        cfg.set_u32(0x100, 0x1931_0001);
        cfg.set_u32(0x190, header(EXT_CAP_ID_DOE, 1, 0));
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0x190]);
        cfg.set_u32(0x100, 0xfff1_0001);
        cfg.set_u32(0xffc, header(EXT_CAP_ID_DOE, 1, 0));
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0xffc]);
        assert_eq!(ExtCapHeader::decode(0x1931_0001).next, 0x190);
        // The last dword of config space is a valid place for a header.
        cfg.set_u32(0x100, header(ID_AER, 1, 0xffc));
        cfg.set_u32(0xffc, header(EXT_CAP_ID_DOE, 1, 0));
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0xffc]);
    }

    #[test]
    fn an_all_ones_header_mid_list_means_the_device_is_gone() {
        let cfg = MemoryConfig::new();
        cfg.set_u32(0x100, header(ID_AER, 1, 0x200));
        cfg.set_u32(0x200, HDR_ABSENT);
        assert!(matches!(walk(&cfg), Err(ExtCapError::DeviceGone(0x200))));
    }

    #[test]
    fn the_longest_possible_list_is_walked() {
        let cfg = MemoryConfig::new();
        let mut offset = EXT_CAP_START;
        while offset < LAST_HEADER_OFFSET {
            cfg.set_u32(offset, header(ID_AER, 1, offset + DWORD));
            offset += DWORD;
        }
        cfg.set_u32(LAST_HEADER_OFFSET, header(EXT_CAP_ID_DOE, 1, 0));
        let caps = walk(&cfg).unwrap();
        assert_eq!(caps.len(), MAX_EXT_CAPS);
        assert_eq!(caps.last().unwrap().offset, LAST_HEADER_OFFSET);
    }

    #[test]
    fn append_builds_a_chain_in_order() {
        let cfg = MemoryConfig::new();
        append(&cfg, ID_DVSEC, 1, 0x100).unwrap();
        append(&cfg, EXT_CAP_ID_DOE, 1, 0x190).unwrap();
        append(&cfg, EXT_CAP_ID_DOE, 2, 0x160).unwrap();
        assert_eq!(cfg.get_u32(0x100), header(ID_DVSEC, 1, 0x190));
        assert_eq!(cfg.get_u32(0x190), header(EXT_CAP_ID_DOE, 1, 0x160));
        assert_eq!(cfg.get_u32(0x160), header(EXT_CAP_ID_DOE, 2, 0));
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0x190, 0x160]);
        assert!(matches!(
            append(&cfg, ID_AER, 1, 0x160),
            Err(ExtCapError::Occupied(0x160))
        ));
        for bad in [0xfc, 0x102, 0x1000] {
            assert!(matches!(
                append(&cfg, ID_AER, 1, bad),
                Err(ExtCapError::BadOffset(o)) if o == bad
            ));
        }
    }

    #[test]
    fn append_above_0x100_on_an_empty_list_writes_a_placeholder() {
        let cfg = MemoryConfig::new();
        append(&cfg, EXT_CAP_ID_DOE, 1, 0x190).unwrap();
        let caps = walk(&cfg).unwrap();
        assert_eq!(
            caps,
            vec![
                ExtCapability {
                    id: 0,
                    version: 0,
                    offset: 0x100
                },
                ExtCapability {
                    id: EXT_CAP_ID_DOE,
                    version: 1,
                    offset: 0x190
                },
            ]
        );
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0x190]);
    }
}
