//! Which parts of each BAR the VMM may map straight into the guest, and which must be
//! trapped (the MSI-X table and PBA, regions VFIO does not let map, I/O BARs).

use super::backend::RegionInfo;
use super::msix::BarSlice;
use crate::pci::device::BarKind;

/// Host page size: mappings and the holes around the MSI-X structures are page-aligned
/// (x86-64).
pub const PAGE_SIZE: u64 = 4096;

/// A page-aligned part of a BAR that may be mapped into the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmapArea {
    /// Offset in the BAR (and in the VFIO region).
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// How the VMM should back one BAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarMapping {
    /// BAR index.
    pub index: u8,
    /// What the BAR decodes.
    pub kind: BarKind,
    /// Size of the device's region.
    pub region_size: u64,
    /// Parts to map (mmap the VFIO region at these offsets and map them at the guest
    /// BAR base plus the same offsets); every other byte of the BAR is trapped and goes
    /// through `read_bar`/`write_bar`.
    pub mmap: Vec<MmapArea>,
}

fn align_down(value: u64) -> u64 {
    value & !(PAGE_SIZE - 1)
}

fn align_up(value: u64) -> u64 {
    value.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// The mapping of BAR `index`: the whole region, page-aligned, minus the pages of the
/// `traps` (MSI-X structures) that lie in it; nothing for I/O BARs or regions VFIO does
/// not let map.
pub(crate) fn bar_mapping(
    index: u8,
    kind: BarKind,
    region: &RegionInfo,
    traps: &[BarSlice],
) -> BarMapping {
    let mut mmap = Vec::new();
    if kind != BarKind::Io && region.mmap {
        let mut holes: Vec<(u64, u64)> = traps
            .iter()
            .filter(|slice| slice.bar == index && slice.len > 0)
            .map(|slice| (align_down(slice.offset), align_up(slice.end())))
            .collect();
        holes.sort_unstable();
        let end = align_down(region.size);
        let mut at = 0;
        for (start, stop) in holes.into_iter().chain([(end, end)]) {
            let start = start.min(end);
            if start > at {
                mmap.push(MmapArea {
                    offset: at,
                    size: start - at,
                });
            }
            at = at.max(stop);
        }
    }
    BarMapping {
        index,
        kind,
        region_size: region.size,
        mmap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(size: u64) -> RegionInfo {
        RegionInfo {
            size,
            readable: true,
            writable: true,
            mmap: true,
        }
    }

    #[test]
    fn msix_pages_are_cut_out() {
        let table = BarSlice {
            bar: 4,
            offset: 0x2000,
            len: 0x60,
        };
        let pba = BarSlice {
            bar: 4,
            offset: 0x3800,
            len: 8,
        };
        let mapping = bar_mapping(4, BarKind::Mmio64, &region(0x10000), &[table, pba]);
        assert_eq!(
            mapping.mmap,
            vec![
                MmapArea {
                    offset: 0,
                    size: 0x2000
                },
                MmapArea {
                    offset: 0x4000,
                    size: 0xc000
                }
            ]
        );
    }

    #[test]
    fn a_bar_that_is_all_msix_is_all_trapped() {
        let table = BarSlice {
            bar: 4,
            offset: 0,
            len: 0x60,
        };
        let pba = BarSlice {
            bar: 4,
            offset: 0x800,
            len: 8,
        };
        assert!(
            bar_mapping(4, BarKind::Mmio32, &region(0x1000), &[table, pba])
                .mmap
                .is_empty()
        );
    }

    #[test]
    fn io_small_and_unmappable_bars_are_trapped() {
        assert!(bar_mapping(0, BarKind::Io, &region(0x1000), &[])
            .mmap
            .is_empty());
        assert!(bar_mapping(0, BarKind::Mmio32, &region(0x100), &[])
            .mmap
            .is_empty());
        let mut no_mmap = region(0x10000);
        no_mmap.mmap = false;
        assert!(bar_mapping(0, BarKind::Mmio32, &no_mmap, &[])
            .mmap
            .is_empty());
        let other_bar = BarSlice {
            bar: 2,
            offset: 0,
            len: 0x1000,
        };
        assert_eq!(
            bar_mapping(0, BarKind::Mmio32, &region(0x2000), &[other_bar]).mmap,
            vec![MmapArea {
                offset: 0,
                size: 0x2000
            }]
        );
    }
}
