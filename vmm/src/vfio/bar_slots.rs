//! KVM memory slots for the mmapped parts of an assigned function's BARs: while a BAR
//! decodes, each of its mapped areas is a slot at the BAR's guest base plus the area's
//! offset, so guest accesses go straight to the device; when the BAR stops decoding or
//! moves, the slots go (and come back at the new base). Everything else in the BAR stays
//! on the MMIO bus and is trapped.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use devices::pci::BarRange;
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;

use super::mmap::MappedArea;
use crate::pci::BarListener;

/// KVM slot numbers in use beyond guest RAM. Shared by every assigned function.
#[derive(Debug)]
pub struct SlotAllocator {
    first: u32,
    used: BTreeSet<u32>,
}

impl SlotAllocator {
    /// Hands out slots from `first` up (RAM owns the ones below).
    pub fn new(first: u32) -> Self {
        Self {
            first,
            used: BTreeSet::new(),
        }
    }

    /// The lowest free slot.
    pub fn allocate(&mut self) -> u32 {
        let slot = (self.first..)
            .find(|s| !self.used.contains(s))
            .unwrap_or(u32::MAX);
        self.used.insert(slot);
        slot
    }

    /// Gives `slot` back.
    pub fn free(&mut self, slot: u32) {
        self.used.remove(&slot);
    }
}

/// The guest ranges the mapped `areas` of `bar` occupy: `(area, guest address)`, only
/// for areas of that BAR that fit in it.
pub fn slot_ranges<'a>(
    bar: &BarRange,
    areas: &'a [MappedArea],
) -> impl Iterator<Item = (&'a MappedArea, u64)> + 'a {
    let (index, base, size) = (bar.index, bar.base, bar.size);
    areas
        .iter()
        .filter(move |a| a.index == index && a.offset.saturating_add(a.size) <= size)
        .map(move |a| (a, base + a.offset))
}

/// Keeps one function's BAR slots in line with what its BARs decode.
pub struct BarSlots {
    vm: Arc<VmFd>,
    slots: Arc<Mutex<SlotAllocator>>,
    areas: Vec<MappedArea>,
    /// Slots in use: (BAR index, slot).
    active: Mutex<Vec<(u8, u32)>>,
    name: String,
}

impl std::fmt::Debug for BarSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarSlots")
            .field("name", &self.name)
            .field("areas", &self.areas)
            .finish_non_exhaustive()
    }
}

impl BarSlots {
    /// Slots for the `areas` of the function `name`.
    pub fn new(
        vm: Arc<VmFd>,
        slots: Arc<Mutex<SlotAllocator>>,
        areas: Vec<MappedArea>,
        name: String,
    ) -> Self {
        Self {
            vm,
            slots,
            areas,
            active: Mutex::new(Vec::new()),
            name,
        }
    }

    fn set(
        &self,
        slot: u32,
        guest: u64,
        area: Option<&MappedArea>,
    ) -> Result<(), kvm_ioctls::Error> {
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: guest,
            memory_size: area.map_or(0, |a| a.size),
            userspace_addr: area.map_or(0, |a| a.host.as_ptr() as u64),
        };
        // SAFETY: a non-empty slot points at a live device mapping owned by `self.areas`,
        // which outlives the slot (slots are removed before the areas are dropped, and
        // `BarSlots` lives as long as the VM); a zero size deletes the slot.
        unsafe { self.vm.set_user_memory_region(region) }
    }
}

impl BarListener for BarSlots {
    fn bar_mapped(&self, bar: &BarRange) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        for (area, guest) in slot_ranges(bar, &self.areas) {
            let slot = self
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .allocate();
            match self.set(slot, guest, Some(area)) {
                Ok(()) => active.push((bar.index, slot)),
                Err(e) => {
                    self.slots
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .free(slot);
                    crate::warn_ratelimited!(
                        "{}: BAR{} at {guest:#x}: KVM slot failed ({e}); the area stays trapped",
                        self.name,
                        bar.index
                    );
                }
            }
        }
    }

    fn bar_unmapped(&self, bar: &BarRange) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.retain(|&(index, slot)| {
            if index != bar.index {
                return true;
            }
            if let Err(e) = self.set(slot, 0, None) {
                crate::warn_ratelimited!("{}: removing KVM slot {slot}: {e}", self.name);
            }
            self.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .free(slot);
            false
        });
    }
}

impl Drop for BarSlots {
    fn drop(&mut self) {
        let active = std::mem::take(
            self.active
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (_, slot) in active {
            let _ = self.set(slot, 0, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::pci::BarKind;
    use std::ptr::NonNull;

    #[test]
    fn slots_are_reused_lowest_first() {
        let mut s = SlotAllocator::new(2);
        assert_eq!((s.allocate(), s.allocate(), s.allocate()), (2, 3, 4));
        s.free(3);
        assert_eq!(s.allocate(), 3);
        assert_eq!(s.allocate(), 5);
    }

    #[test]
    fn each_area_of_the_bar_lands_at_base_plus_offset() {
        let area = |index, offset, size| MappedArea {
            index,
            offset,
            size,
            host: NonNull::dangling(),
        };
        let areas = vec![
            area(4, 0, 0x2000),
            area(4, 0x4000, 0xc000),
            area(2, 0, 0x1000),
            area(4, 0x10000, 0x1000),
        ];
        let bar = BarRange {
            index: 4,
            kind: BarKind::Mmio64,
            base: 0x40_0000_0000,
            size: 0x10000,
            prefetchable: false,
        };
        let got: Vec<_> = slot_ranges(&bar, &areas)
            .map(|(a, guest)| (a.offset, guest))
            .collect();
        assert_eq!(
            got,
            vec![(0, 0x40_0000_0000), (0x4000, 0x40_0000_4000)],
            "other BARs and areas past the BAR are left out"
        );
        // Dangling pointers must not be unmapped.
        std::mem::forget(areas);
    }
}
