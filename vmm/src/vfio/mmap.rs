//! The host side of direct BAR access: which parts of each BAR region to mmap (the
//! model's areas, cut down to VFIO's sparse-mmap areas when the region has them), and
//! the mappings themselves, unmapped on drop.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

use devices::vfio::{BarMapping, MmapArea, PAGE_SIZE};

/// The parts of `areas` that VFIO lets map: all of them without a sparse-mmap capability,
/// else their page-aligned intersections with the `sparse` `(offset, size)` areas.
pub fn mappable(areas: &[MmapArea], sparse: Option<&[(u64, u64)]>) -> Vec<MmapArea> {
    let Some(sparse) = sparse else {
        return areas.to_vec();
    };
    let mut out = Vec::new();
    for area in areas {
        for &(offset, size) in sparse {
            let start = area.offset.max(offset).next_multiple_of(PAGE_SIZE);
            let end = (area.offset + area.size).min(offset.saturating_add(size)) & !(PAGE_SIZE - 1);
            if end > start {
                out.push(MmapArea {
                    offset: start,
                    size: end - start,
                });
            }
        }
    }
    out.sort_by_key(|a| a.offset);
    out
}

/// One BAR area mapped into vmm's address space.
#[derive(Debug)]
pub struct MappedArea {
    /// BAR index.
    pub index: u8,
    /// Offset in the BAR.
    pub offset: u64,
    /// Length.
    pub size: u64,
    /// Where it is mapped.
    pub host: NonNull<u8>,
}

// SAFETY: the mapping is device memory owned by this value; it is only handed to KVM as
// an address (never dereferenced by vmm), so moving the owner between threads is fine.
unsafe impl Send for MappedArea {}
// SAFETY: as above: shared references only read the address.
unsafe impl Sync for MappedArea {}

impl MappedArea {
    /// Maps `size` bytes of the device fd `fd` at `fd_offset` (read/write, shared).
    pub fn new(fd: &File, fd_offset: u64, index: u8, offset: u64, size: u64) -> io::Result<Self> {
        let len = usize::try_from(size).map_err(io::Error::other)?;
        let file_offset = libc::off_t::try_from(fd_offset).map_err(io::Error::other)?;
        // SAFETY: a fresh shared mapping chosen by the kernel (no MAP_FIXED), so no existing
        // memory is affected; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                file_offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let host =
            NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Self {
            index,
            offset,
            size,
            host,
        })
    }
}

impl Drop for MappedArea {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `new` with this address and length and is
        // unmapped only here; KVM slots using it are removed before (see `BarSlots`).
        unsafe { libc::munmap(self.host.as_ptr().cast(), self.size as usize) };
    }
}

/// Maps every area of `mappings` that VFIO lets map; an area that fails to map is left
/// trapped (logged), which is slower but correct.
pub fn map_bars(
    fd: &File,
    mappings: &[BarMapping],
    region_offset: impl Fn(u8) -> u64,
    sparse: impl Fn(u8) -> Option<Vec<(u64, u64)>>,
) -> Vec<MappedArea> {
    let mut out = Vec::new();
    for mapping in mappings {
        let sparse = sparse(mapping.index);
        for area in mappable(&mapping.mmap, sparse.as_deref()) {
            let at = region_offset(mapping.index) + area.offset;
            match MappedArea::new(fd, at, mapping.index, area.offset, area.size) {
                Ok(mapped) => out.push(mapped),
                Err(e) => log::warn!(
                    "BAR{} +{:#x} ({:#x} bytes) cannot be mapped, it stays trapped: {e}",
                    mapping.index,
                    area.offset,
                    area.size
                ),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(offset: u64, size: u64) -> MmapArea {
        MmapArea { offset, size }
    }

    #[test]
    fn without_sparse_areas_the_model_decides() {
        let a = [area(0, 0x2000), area(0x3000, 0x1000)];
        assert_eq!(mappable(&a, None), a.to_vec());
    }

    #[test]
    fn sparse_areas_cut_the_model_areas_to_whole_pages() {
        let a = [area(0, 0x4000), area(0x5000, 0x3000)];
        let sparse = [(0x800, 0x2000), (0x6000, 0x10000)];
        assert_eq!(
            mappable(&a, Some(&sparse)),
            vec![area(0x1000, 0x1000), area(0x6000, 0x2000)]
        );
        assert!(mappable(&a, Some(&[])).is_empty());
    }
}
