//! Guest RAM: allocation on the host and registration with KVM.

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

use crate::layout::MemoryLayout;

/// Guest memory as the rest of the VMM sees it.
pub type GuestMemoryMmap = vm_memory::GuestMemoryMmap<()>;

/// Errors of guest memory set-up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The host refused the mapping.
    #[error("cannot allocate {mib} MiB of guest memory on the host: {source}")]
    Allocate {
        /// Size asked for.
        mib: u64,
        /// What mmap said.
        source: vm_memory::mmap::FromRangesError,
    },
    /// KVM refused a memory slot.
    #[error("KVM_SET_USER_MEMORY_REGION failed for slot {slot}: {source}")]
    Register {
        /// The slot.
        slot: u32,
        /// The errno.
        source: kvm_ioctls::Error,
    },
}

/// Allocates the RAM ranges of `layout` (anonymous, private, not reserved up front).
pub fn allocate(layout: &MemoryLayout) -> Result<GuestMemoryMmap, MemoryError> {
    let ranges: Vec<(GuestAddress, usize)> = layout
        .ram_ranges()
        .into_iter()
        .map(|(start, size)| (GuestAddress(start), size as usize))
        .collect();
    GuestMemoryMmap::from_ranges(&ranges).map_err(|source| MemoryError::Allocate {
        mib: layout.ram_size() >> 20,
        source,
    })
}

/// How many KVM slots [`register`] uses (the first free slot after RAM).
pub fn slot_count(mem: &GuestMemoryMmap) -> u32 {
    mem.iter().count() as u32
}

/// Registers every region of `mem` with KVM, one slot each, starting at slot 0.
pub fn register(vm: &VmFd, mem: &GuestMemoryMmap) -> Result<(), MemoryError> {
    for (slot, region) in (0u32..).zip(mem.iter()) {
        let kvm_region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: region.as_ptr() as u64,
        };
        // SAFETY: the region is a live mapping of `memory_size` bytes owned by `mem`, which
        // the VMM keeps alive (in an Arc) for as long as the VM exists; slots do not overlap
        // because the layout's RAM ranges are disjoint.
        unsafe { vm.set_user_memory_region(kvm_region) }
            .map_err(|source| MemoryError::Register { slot, source })?;
    }
    Ok(())
}
