//! Identity page tables for the 64-bit boot entry: the first 4 GiB mapped with 2 MiB pages.
//!
//! Linux's 64-bit boot protocol (Documentation/arch/x86/boot.rst) needs the kernel, the zero
//! page and the command line identity-mapped; 4 GiB covers all of low memory.

use vm_memory::{Bytes, GuestAddress};

use crate::layout::{PDPT_ADDR, PD_ADDR, PD_COUNT, PML4_ADDR};
use crate::memory::GuestMemoryMmap;

/// Page-table entry bit: present.
const PTE_PRESENT: u64 = 1 << 0;
/// Page-table entry bit: writable.
const PTE_WRITABLE: u64 = 1 << 1;
/// Page-directory entry bit: maps a 2 MiB page.
const PDE_LARGE: u64 = 1 << 7;
/// Entries per table.
const ENTRIES: u64 = 512;
/// 2 MiB.
const LARGE_PAGE: u64 = 2 << 20;

/// The entries to write as `(guest address, value)`: PML4, PDPT, then every PD.
pub fn entries() -> Vec<(u64, u64)> {
    let mut out = vec![(PML4_ADDR, PDPT_ADDR | PTE_PRESENT | PTE_WRITABLE)];
    for pd in 0..PD_COUNT {
        let pd_addr = PD_ADDR + pd * 0x1000;
        out.push((PDPT_ADDR + pd * 8, pd_addr | PTE_PRESENT | PTE_WRITABLE));
        for i in 0..ENTRIES {
            let phys = (pd * ENTRIES + i) * LARGE_PAGE;
            out.push((
                pd_addr + i * 8,
                phys | PTE_PRESENT | PTE_WRITABLE | PDE_LARGE,
            ));
        }
    }
    out
}

/// Writes the page tables; the caller loads CR3 with [`PML4_ADDR`].
pub fn write(mem: &GuestMemoryMmap) -> Result<(), vm_memory::GuestMemoryError> {
    for (addr, value) in entries() {
        mem.write_obj(value, GuestAddress(addr))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_4_gib_identically() {
        let e = entries();
        assert_eq!(e[0], (PML4_ADDR, PDPT_ADDR | 3));
        let pdes: Vec<_> = e.iter().filter(|(a, _)| *a >= PD_ADDR).collect();
        assert_eq!(pdes.len() as u64, PD_COUNT * ENTRIES);
        let last = pdes.last().unwrap();
        assert_eq!(last.1 & !0xfff, (4 << 30) - LARGE_PAGE);
        assert_eq!(last.1 & 0xfff, 0x83);
    }
}
