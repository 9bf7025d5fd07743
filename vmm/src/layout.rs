//! The guest-physical address map (x86-64), and where RAM and the holes in it are.
//!
//! ```text
//! 0x0000_0500  GDT, then the (empty) IDT
//! 0x0000_7000  zero page (boot_params)
//! 0x0000_8ff0  boot stack top
//! 0x0000_9000  identity page tables (PML4, PDPT, 4 PDs: the first 4 GiB with 2 MiB pages)
//! 0x0002_0000  kernel command line
//! 0x0009_fc00  reserved (EBDA, legacy BIOS area); ACPI tables at 0x000e_0000, a reset
//!              stub at the reset vector 0x000f_fff0 (see `boot::reset_stub`)
//! 0x0010_0000  kernel (bzImage protected-mode part), then RAM; the initramfs at the top
//! 0xc000_0000  32-bit PCI memory window (BARs below 4 GiB)
//! 0xe000_0000  ECAM (PCI Express enhanced config space) for bus 0
//! 0xfec0_0000  IOAPIC; 0xfee0_0000 LAPIC
//! 4 GiB        RAM above the hole, if any
//! then         64-bit PCI memory window, 1 GiB-aligned after the end of RAM
//! ```

/// The GDT (boot code, data and TSS descriptors).
pub const GDT_ADDR: u64 = 0x500;
/// The IDT (empty: interrupts are off until the kernel installs its own).
pub const IDT_ADDR: u64 = 0x520;
/// The zero page: Linux's `struct boot_params`.
pub const ZERO_PAGE_ADDR: u64 = 0x7000;
/// Initial stack pointer of the boot vCPU.
pub const BOOT_STACK_TOP: u64 = 0x8ff0;
/// Page-map level 4 of the boot identity mapping.
pub const PML4_ADDR: u64 = 0x9000;
/// The page-directory-pointer table.
pub const PDPT_ADDR: u64 = 0xa000;
/// The first of [`PD_COUNT`] page directories.
pub const PD_ADDR: u64 = 0xb000;
/// Page directories: each maps 1 GiB with 2 MiB pages.
pub const PD_COUNT: u64 = 4;
/// The kernel command line.
pub const CMDLINE_ADDR: u64 = 0x2_0000;
/// Room reserved for the command line.
pub const CMDLINE_MAX: u64 = 0x1_0000;
/// Start of the Extended BIOS Data Area: RAM below 1 MiB ends here.
pub const EBDA_START: u64 = 0x9_fc00;
/// ACPI tables (inside the reserved area below 1 MiB).
pub const ACPI_START: u64 = 0xe_0000;
/// Room for the ACPI tables (the last 64 KiB below 1 MiB hold the reset vector).
pub const ACPI_SIZE: u64 = 0x1_0000;
/// First byte of "high memory": the kernel is loaded here.
pub const HIMEM_START: u64 = 0x10_0000;

/// Start of the 32-bit MMIO hole; RAM below 4 GiB ends here at the latest.
pub const MMIO32_HOLE_START: u64 = 0xc000_0000;
/// The 32-bit PCI memory window (for BARs below 4 GiB).
pub const PCI_MMIO32_START: u64 = MMIO32_HOLE_START;
/// Size of the 32-bit PCI memory window.
pub const PCI_MMIO32_SIZE: u64 = 0x2000_0000;
/// ECAM base (bus 0 only; see the MCFG table).
pub const ECAM_BASE: u64 = 0xe000_0000;
/// ECAM size: 1 MiB per bus, one bus.
pub const ECAM_SIZE: u64 = 1 << 20;
/// IOAPIC MMIO base.
pub const IOAPIC_ADDR: u64 = 0xfec0_0000;
/// LAPIC MMIO base.
pub const LAPIC_ADDR: u64 = 0xfee0_0000;
/// KVM's TSS (three pages, Intel only; must not overlap anything).
pub const KVM_TSS_ADDR: u64 = 0xfffb_d000;
/// KVM's identity-map page (Intel real-mode emulation; one page below the TSS).
pub const KVM_IDENTITY_MAP_ADDR: u64 = 0xfffb_c000;
/// 4 GiB.
pub const FOUR_GIB: u64 = 1 << 32;
/// Alignment of the 64-bit PCI memory window.
pub const PCI_MMIO64_ALIGN: u64 = 1 << 30;
/// Size of the 64-bit PCI memory window.
pub const PCI_MMIO64_SIZE: u64 = 64 << 30;

/// The PCI I/O port window handed to the guest for I/O BARs (above the legacy ports).
pub const PCI_IO_START: u16 = 0x1000;
/// Last port of the PCI I/O window.
pub const PCI_IO_END: u16 = 0xffff;

// The fixed regions are ordered as the map above says (checked at compile time).
const _: () = assert!(BOOT_STACK_TOP < PML4_ADDR && BOOT_STACK_TOP > ZERO_PAGE_ADDR + 0x1000);
const _: () = assert!(PD_ADDR + PD_COUNT * 0x1000 <= CMDLINE_ADDR);
const _: () = assert!(CMDLINE_ADDR + CMDLINE_MAX <= EBDA_START);
const _: () = assert!(PCI_MMIO32_START + PCI_MMIO32_SIZE <= ECAM_BASE);
const _: () = assert!(ECAM_BASE + ECAM_SIZE <= IOAPIC_ADDR);

/// Aligns `v` up to `align` (a power of two).
pub const fn align_up(v: u64, align: u64) -> u64 {
    (v + align - 1) & !(align - 1)
}

/// Aligns `v` down to `align` (a power of two).
pub const fn align_down(v: u64, align: u64) -> u64 {
    v & !(align - 1)
}

/// An e820 range type (Linux `arch/x86/include/uapi/asm/setup_data.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Type {
    /// Usable RAM.
    Ram = 1,
    /// Reserved: the OS must not use it.
    Reserved = 2,
}

/// One e820 entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// First byte.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// What it is.
    pub kind: E820Type,
}

/// Where the guest's RAM lies, for a given RAM size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLayout {
    ram_size: u64,
}

impl MemoryLayout {
    /// The layout for `ram_size` bytes of RAM (whole MiB, as the command line ensures).
    pub fn new(ram_size: u64) -> Self {
        Self { ram_size }
    }

    /// Total RAM in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// End (exclusive) of the RAM below the 32-bit hole.
    pub fn low_ram_end(&self) -> u64 {
        self.ram_size.min(MMIO32_HOLE_START)
    }

    /// RAM above 4 GiB, in bytes.
    pub fn high_ram_size(&self) -> u64 {
        self.ram_size - self.low_ram_end()
    }

    /// The RAM ranges as `(guest address, size)`.
    pub fn ram_ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges = vec![(0, self.low_ram_end())];
        if self.high_ram_size() > 0 {
            ranges.push((FOUR_GIB, self.high_ram_size()));
        }
        ranges
    }

    /// The 64-bit PCI memory window as `(base, size)`: after RAM, never below 4 GiB.
    pub fn pci_mmio64_window(&self) -> (u64, u64) {
        let end_of_ram = FOUR_GIB + self.high_ram_size();
        (align_up(end_of_ram, PCI_MMIO64_ALIGN), PCI_MMIO64_SIZE)
    }

    /// The e820 map handed to Linux, sorted by address.
    ///
    /// RAM, with the legacy area below 1 MiB (where the ACPI tables are) and the ECAM
    /// window reserved. The ECAM must be reserved, or Linux may refuse MMCONFIG.
    pub fn e820(&self) -> Vec<E820Entry> {
        let mut map = vec![
            E820Entry {
                addr: 0,
                size: EBDA_START,
                kind: E820Type::Ram,
            },
            E820Entry {
                addr: EBDA_START,
                size: HIMEM_START - EBDA_START,
                kind: E820Type::Reserved,
            },
            E820Entry {
                addr: HIMEM_START,
                size: self.low_ram_end() - HIMEM_START,
                kind: E820Type::Ram,
            },
            E820Entry {
                addr: ECAM_BASE,
                size: ECAM_SIZE,
                kind: E820Type::Reserved,
            },
        ];
        if self.high_ram_size() > 0 {
            map.push(E820Entry {
                addr: FOUR_GIB,
                size: self.high_ram_size(),
                kind: E820Type::Ram,
            });
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn small_guest_has_one_ram_range() {
        let l = MemoryLayout::new(512 * MIB);
        assert_eq!(l.ram_ranges(), vec![(0, 512 * MIB)]);
        assert_eq!(l.pci_mmio64_window(), (FOUR_GIB, PCI_MMIO64_SIZE));
    }

    #[test]
    fn big_guest_is_split_around_the_hole() {
        let l = MemoryLayout::new(4096 * MIB);
        assert_eq!(
            l.ram_ranges(),
            vec![(0, MMIO32_HOLE_START), (FOUR_GIB, 1 << 30)]
        );
        assert_eq!(l.pci_mmio64_window().0, 5 << 30);
        let e = l.e820();
        assert_eq!(
            e.last().unwrap(),
            &E820Entry {
                addr: FOUR_GIB,
                size: 1 << 30,
                kind: E820Type::Ram
            }
        );
    }

    #[test]
    fn e820_is_sorted_disjoint_and_reserves_the_holes() {
        for mib in [64, 512, 3072, 3073, 8192] {
            let e = MemoryLayout::new(mib * MIB).e820();
            for w in e.windows(2) {
                assert!(w[0].addr + w[0].size <= w[1].addr, "{e:?}");
            }
            let covers = |a: u64, kind| {
                e.iter()
                    .any(|x| x.kind == kind && x.addr <= a && a < x.addr + x.size)
            };
            assert!(covers(ACPI_START, E820Type::Reserved));
            assert!(covers(ECAM_BASE, E820Type::Reserved));
            assert!(covers(ECAM_BASE + ECAM_SIZE - 1, E820Type::Reserved));
            assert!(covers(ZERO_PAGE_ADDR, E820Type::Ram));
            assert!(covers(HIMEM_START, E820Type::Ram));
            let ram: u64 = e
                .iter()
                .filter(|x| x.kind == E820Type::Ram)
                .map(|x| x.size)
                .sum();
            assert_eq!(ram, mib * MIB - (HIMEM_START - EBDA_START));
        }
    }

    #[test]
    fn fixed_regions_do_not_overlap() {
        let regions = [
            (GDT_ADDR, 0x20),
            (IDT_ADDR, 8),
            (ZERO_PAGE_ADDR, 0x1000),
            (PML4_ADDR, 0x1000),
            (PDPT_ADDR, 0x1000),
            (PD_ADDR, PD_COUNT * 0x1000),
            (CMDLINE_ADDR, CMDLINE_MAX),
            (ACPI_START, ACPI_SIZE),
            (crate::boot::reset_stub::RESET_VECTOR_ADDR, 16),
        ];
        for (i, a) in regions.iter().enumerate() {
            for b in &regions[i + 1..] {
                assert!(a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0, "{a:x?} {b:x?}");
            }
        }
    }
}
