//! Firmware-style BAR placement for assigned functions: each BAR gets a naturally aligned
//! base in the host bridge window of its kind (32-bit BARs below 4 GiB, 64-bit BARs in the
//! 64-bit window above RAM, I/O BARs in the I/O window), so Linux keeps the assignment
//! instead of allocating its own.

use devices::pci::BarKind;
use devices::vfio::PAGE_SIZE;

/// A window handed out from the bottom up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    next: u64,
    end: u64,
}

impl Window {
    fn new((base, size): (u64, u64)) -> Self {
        Self {
            next: base,
            end: base.saturating_add(size),
        }
    }

    fn take(&mut self, size: u64, align: u64) -> Option<u64> {
        let base = self.next.checked_next_multiple_of(align)?;
        let end = base.checked_add(size).filter(|end| *end <= self.end)?;
        self.next = end;
        Some(base)
    }
}

/// Hands out BAR bases from the three windows.
#[derive(Debug, Clone)]
pub struct BarAllocator {
    mmio32: Window,
    mmio64: Window,
    io: Window,
}

impl BarAllocator {
    /// An allocator over the windows, each `(base, size)`.
    pub fn new(mmio32: (u64, u64), mmio64: (u64, u64), io: (u64, u64)) -> Self {
        Self {
            mmio32: Window::new(mmio32),
            mmio64: Window::new(mmio64),
            io: Window::new(io),
        }
    }

    /// A base for a BAR of `kind` and `size` bytes: aligned to its size (a power of two;
    /// memory BARs to at least a page, so they can be mapped into the guest), or `None`
    /// when the window is full.
    pub fn allocate(&mut self, kind: BarKind, size: u64) -> Option<u64> {
        let size = size.checked_next_power_of_two()?;
        match kind {
            BarKind::Io => self.io.take(size, size),
            BarKind::Mmio32 => self.mmio32.take(size.max(PAGE_SIZE), size.max(PAGE_SIZE)),
            BarKind::Mmio64 => self.mmio64.take(size.max(PAGE_SIZE), size.max(PAGE_SIZE)),
        }
    }
}

/// The order to place a function's BARs in: largest first, so alignment wastes least.
pub fn placement_order(bars: &mut [(u8, BarKind, u64)]) {
    bars.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc() -> BarAllocator {
        BarAllocator::new(
            (0xc000_0000, 0x2000_0000),
            (0x40_0000_0000, 0x10_0000_0000),
            (0x1000, 0xf000),
        )
    }

    #[test]
    fn bars_land_in_their_window_naturally_aligned() {
        let mut a = alloc();
        assert_eq!(a.allocate(BarKind::Mmio64, 0x1_0000), Some(0x40_0000_0000));
        assert_eq!(a.allocate(BarKind::Mmio32, 0x100), Some(0xc000_0000));
        assert_eq!(
            a.allocate(BarKind::Mmio32, 0x10_0000),
            Some(0xc010_0000),
            "aligned to its size, a small BAR still gets a whole page"
        );
        assert_eq!(a.allocate(BarKind::Mmio64, 0x3000), Some(0x40_0001_0000));
        assert_eq!(a.allocate(BarKind::Io, 0x20), Some(0x1000));
        assert_eq!(a.allocate(BarKind::Io, 0x100), Some(0x1100));
    }

    #[test]
    fn a_full_window_says_so() {
        let mut a = alloc();
        assert_eq!(a.allocate(BarKind::Mmio32, 0x2000_0000), Some(0xc000_0000));
        assert_eq!(a.allocate(BarKind::Mmio32, 0x1000), None);
        assert_eq!(a.allocate(BarKind::Mmio32, u64::MAX), None);
        assert_eq!(a.allocate(BarKind::Io, 0x1_0000), None);
    }

    #[test]
    fn largest_first() {
        let mut bars = [
            (0, BarKind::Mmio64, 0x1000),
            (2, BarKind::Mmio64, 0x10_0000),
            (4, BarKind::Mmio32, 0x1000),
        ];
        placement_order(&mut bars);
        assert_eq!(bars.map(|b| b.0), [2, 0, 4]);
    }
}
