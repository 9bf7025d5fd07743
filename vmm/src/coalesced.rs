//! Exit coalescing for the virtual DOE mailboxes (`--doe-exit-coalescing`).
//!
//! A DOE exchange moves one dword per config access: a write to the Write Data Mailbox per
//! request dword, a write of Go to Control, and per response dword a read of the Read Data
//! Mailbox and a write to it (the pop). The writes have no result the guest can see at the
//! time, so KVM may queue them in its coalesced MMIO ring (`KVM_REGISTER_COALESCED_MMIO`)
//! instead of exiting: the ECAM addresses of each virtual mailbox's Control, Status, Write
//! and Read Data Mailbox registers (offsets 0x08–0x17 of the capability, one 16-byte zone)
//! are registered, and only writes there are queued (Status is read-only: its writes are
//! dropped either way). Reads always exit, so nothing is ever served from anything but the
//! register model.
//!
//! Order is what makes this invisible to the guest. Queued writes are dispatched to the
//! MMIO bus exactly as their exits would have been, in ring order, by every vCPU after each
//! `KVM_RUN` returns and before it handles the exit (the ring is VM-wide, so a vCPU drains
//! the writes of all vCPUs): an access that exits is therefore always handled after every
//! write the guest made before it. A queued Go or Abort thus acts at the guest's next
//! exit — in Linux's protocol the Status read right after it, which then finds the
//! exchange submitted and waits for it (`devices::doe::completion_wait`).
//!
//! Results of exchanges are *not* ordered with the ring: the mediator puts them straight
//! into the register model. The guest observes the mailbox only by reading it, and every
//! read exits and is handled after the ring is drained, so a result landing before queued
//! pops or request dwords are dispatched is, to the guest, a device that answered at that
//! moment — never a stale register.
//!
//! Drains are serialised by a lock, and an entry leaves the ring (its slot is released)
//! only after it was dispatched, so "the ring is empty" really means "every queued write
//! has reached its device": the lock-free check in [`CoalescedWrites::drain`] is sound. When
//! the ring is full KVM exits on the write as usual, and that exit drains first.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use kvm_bindings::{kvm_coalesced_mmio, kvm_coalesced_mmio_ring, KVM_COALESCED_MMIO_PAGE_OFFSET};
use kvm_ioctls::{IoEventAddress, VmFd};

use crate::bus::Bus;

/// One queued write, as KVM recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedWrite {
    /// Guest-physical address.
    pub addr: u64,
    /// Bytes written (1..=8).
    pub len: usize,
    /// The bytes (the first `len`).
    pub data: [u8; 8],
}

/// The shared ring page layout: `first` (ours to advance), `last` (KVM's), then the
/// entries. Works on any memory laid out like `kvm_coalesced_mmio_ring`, so the order
/// logic is tested on an ordinary buffer.
#[derive(Debug)]
struct RingView {
    page: NonNull<u8>,
    /// Entries in the ring (KVM_COALESCED_MMIO_MAX for the page size).
    max: u32,
}

// SAFETY: the page is shared memory only touched through atomics (the indices) and
// volatile copies (the entries), and `first` is only advanced under the drain lock.
unsafe impl Send for RingView {}
// SAFETY: as above.
unsafe impl Sync for RingView {}

const HEADER: usize = std::mem::size_of::<kvm_coalesced_mmio_ring>();
const ENTRY: usize = std::mem::size_of::<kvm_coalesced_mmio>();

impl RingView {
    /// A view of the ring in `page` of `page_size` bytes.
    ///
    /// # Safety
    /// `page` must point to `page_size` readable and writable bytes, 8-byte aligned, that
    /// stay valid for the life of the view.
    unsafe fn new(page: NonNull<u8>, page_size: usize) -> Self {
        RingView {
            page,
            max: ((page_size - HEADER) / ENTRY) as u32,
        }
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: `first` (offset 0) and `last` (offset 4) are aligned u32s inside the page
        // (guaranteed by `new`'s contract); KVM updates `last` concurrently, hence atomics.
        unsafe { &*self.page.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    fn first(&self) -> &AtomicU32 {
        self.index(0)
    }

    fn last(&self) -> &AtomicU32 {
        self.index(4)
    }

    /// Whether every queued write has been dispatched.
    fn is_empty(&self) -> bool {
        // Acquire on `first` pairs with the release after a dispatch; on `last` with KVM's
        // smp_wmb before it publishes an entry.
        self.first().load(Ordering::Acquire) == self.last().load(Ordering::Acquire)
    }

    /// The entry at `first`, if any (not yet released).
    fn peek(&self) -> Option<(u32, kvm_coalesced_mmio)> {
        let first = self.first().load(Ordering::Relaxed);
        let last = self.last().load(Ordering::Acquire);
        if first == last || first >= self.max || last >= self.max {
            return None;
        }
        // SAFETY: `first < max`, so the entry lies inside the page; KVM wrote it before
        // publishing `last` (acquire above), and does not touch it until `first` passes it.
        let entry = unsafe {
            self.page
                .as_ptr()
                .add(HEADER + first as usize * ENTRY)
                .cast::<kvm_coalesced_mmio>()
                .read_volatile()
        };
        Some((first, entry))
    }

    /// Releases the entry at `first` (after it was dispatched).
    fn release(&self, first: u32) {
        self.first()
            .store((first + 1) % self.max, Ordering::Release);
    }
}

/// Drains the queued writes of one ring in order, handing each to `dispatch` before the
/// entry is released. Callers serialise. Returns how many were dispatched.
fn drain_ring(ring: &RingView, mut dispatch: impl FnMut(QueuedWrite)) -> usize {
    let mut n = 0;
    while let Some((first, entry)) = ring.peek() {
        let len = entry.len as usize;
        if (1..=8).contains(&len) {
            dispatch(QueuedWrite {
                addr: entry.phys_addr,
                len,
                data: entry.data,
            });
            n += 1;
        } else {
            crate::warn_ratelimited!("coalesced MMIO entry of {len} bytes dropped");
        }
        ring.release(first);
    }
    n
}

/// The VM's coalesced MMIO ring page, mapped from a vCPU fd.
#[derive(Debug)]
struct MappedRing {
    view: RingView,
    size: usize,
}

impl MappedRing {
    fn map(vcpu: &impl std::os::fd::AsRawFd) -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let size = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            n if n > 0 => n as usize,
            _ => return Err(io::Error::last_os_error()),
        };
        let offset = libc::off_t::from(KVM_COALESCED_MMIO_PAGE_OFFSET) * size as libc::off_t;
        // SAFETY: a new shared mapping of one page of the vCPU fd; KVM provides the ring
        // page at this offset when it has KVM_CAP_COALESCED_MMIO, and the call fails
        // otherwise. Nothing else is mapped over.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                vcpu.as_raw_fd(),
                offset,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let page = NonNull::new(addr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        // SAFETY: a page-aligned mapping of `size` bytes, unmapped only on drop.
        let view = unsafe { RingView::new(page, size) };
        Ok(MappedRing { view, size })
    }
}

impl Drop for MappedRing {
    fn drop(&mut self) {
        // SAFETY: our own mapping of `size` bytes; the view dies with it.
        unsafe { libc::munmap(self.view.page.as_ptr().cast(), self.size) };
    }
}

/// The writes KVM queues instead of exiting, and who drains them (module docs).
#[derive(Debug)]
pub struct CoalescedWrites {
    mmio: Arc<Bus>,
    ring: OnceLock<MappedRing>,
    drain_lock: Mutex<()>,
}

impl CoalescedWrites {
    /// Dispatches queued writes to `mmio`; inactive (draining is a no-op) until
    /// [`CoalescedWrites::enable`].
    pub fn new(mmio: Arc<Bus>) -> Self {
        CoalescedWrites {
            mmio,
            ring: OnceLock::new(),
            drain_lock: Mutex::new(()),
        }
    }

    /// Maps the ring (through `vcpu`, any vCPU of `vm`) and then registers one 16-byte zone
    /// at each of `zones`. Nothing is registered unless the ring is mapped, so no write is
    /// ever queued that nobody drains. Returns how many zones were registered.
    pub fn enable(
        &self,
        vm: &VmFd,
        vcpu: &impl std::os::fd::AsRawFd,
        zones: &[u64],
    ) -> io::Result<usize> {
        if zones.is_empty() {
            return Ok(0);
        }
        if self.ring.get().is_none() {
            let ring = MappedRing::map(vcpu)?;
            let _ = self.ring.set(ring);
        }
        let mut registered = 0;
        for &zone in zones {
            match vm.register_coalesced_mmio(IoEventAddress::Mmio(zone), ZONE_SIZE) {
                Ok(()) => registered += 1,
                Err(e) => log::warn!("cannot coalesce writes at {zone:#x}, they exit: {e}"),
            }
        }
        Ok(registered)
    }

    /// Dispatches every queued write, in order, before returning. Cheap when the ring is
    /// empty (no lock).
    pub fn drain(&self) -> usize {
        let Some(ring) = self.ring.get() else {
            return 0;
        };
        if ring.view.is_empty() {
            return 0;
        }
        let _serial = self
            .drain_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        drain_ring(&ring.view, |w| self.dispatch(w))
    }

    fn dispatch(&self, w: QueuedWrite) {
        let data = &w.data[..w.len];
        if !self.mmio.write(w.addr, data) {
            crate::warn_ratelimited!("unhandled MMIO write {:#x} = {data:x?}", w.addr);
        }
    }
}

/// Bytes of one zone: a virtual DOE's Control (+0x08), Status (+0x0C), Write Data Mailbox
/// (+0x10) and Read Data Mailbox (+0x14), contiguous (PCIe r6.0 §7.9.24).
pub const ZONE_SIZE: u32 = 16;

/// The offset of the Control register in a DOE capability: the zone starts there.
pub const ZONE_OFFSET_IN_CAP: u16 = 0x08;

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake ring page in ordinary memory.
    struct FakeRing {
        page: Vec<u64>,
        view: RingView,
    }

    impl FakeRing {
        fn new(page_size: usize) -> Self {
            let mut page = vec![0u64; page_size / 8];
            let ptr = NonNull::new(page.as_mut_ptr().cast::<u8>()).unwrap();
            // SAFETY: the Vec owns page_size aligned bytes and lives as long as the view
            // (both in this struct; the Vec's buffer never moves).
            let view = unsafe { RingView::new(ptr, page_size) };
            FakeRing { page, view }
        }

        /// What KVM does: entry at `last`, then publish `last + 1`; false when full.
        fn push(&mut self, addr: u64, bytes: &[u8]) -> bool {
            let max = self.view.max;
            let first = self.view.first().load(Ordering::Acquire);
            let last = self.view.last().load(Ordering::Relaxed);
            if (first + max - last - 1) % max == 0 {
                return false;
            }
            let mut data = [0u8; 8];
            data[..bytes.len()].copy_from_slice(bytes);
            let entry = kvm_coalesced_mmio {
                phys_addr: addr,
                len: bytes.len() as u32,
                data,
                ..Default::default()
            };
            // SAFETY: `last < max`, inside the page.
            unsafe {
                self.page
                    .as_mut_ptr()
                    .cast::<u8>()
                    .add(HEADER + last as usize * ENTRY)
                    .cast::<kvm_coalesced_mmio>()
                    .write_volatile(entry)
            };
            self.view.last().store((last + 1) % max, Ordering::Release);
            true
        }
    }

    fn drain(ring: &FakeRing) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        drain_ring(&ring.view, |w| out.push((w.addr, w.data[..w.len].to_vec())));
        out
    }

    #[test]
    fn drains_in_order_and_empties() {
        let mut ring = FakeRing::new(4096);
        assert!(ring.view.is_empty());
        assert!(drain(&ring).is_empty());
        for i in 0..5u32 {
            assert!(ring.push(0xe000_8190 + u64::from(i % 2) * 4, &i.to_le_bytes()));
        }
        assert!(!ring.view.is_empty());
        let got = drain(&ring);
        let want: Vec<_> = (0..5u32)
            .map(|i| (0xe000_8190 + u64::from(i % 2) * 4, i.to_le_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
        assert!(ring.view.is_empty());
        assert!(drain(&ring).is_empty(), "nothing dispatched twice");
    }

    #[test]
    fn wraps_around_and_reports_full() {
        let mut ring = FakeRing::new(4096);
        let max = ring.view.max;
        assert_eq!(max, ((4096 - HEADER) / ENTRY) as u32);
        let mut next = 0u32;
        let mut seen = Vec::new();
        for _round in 0..3 {
            // Fill to capacity (max - 1 entries); the next write would exit.
            let mut pushed = 0;
            while ring.push(0x1000, &next.to_le_bytes()) {
                next += 1;
                pushed += 1;
            }
            assert_eq!(pushed, max - 1, "a full ring makes KVM exit instead");
            drain_ring(&ring.view, |w| {
                seen.push(u32::from_le_bytes(w.data[..4].try_into().unwrap()))
            });
            assert!(ring.view.is_empty());
        }
        assert_eq!(seen, (0..next).collect::<Vec<_>>(), "order across wraps");
    }

    #[test]
    fn an_entry_is_released_only_after_dispatch() {
        let mut ring = FakeRing::new(4096);
        ring.push(0x10, &[1, 0, 0, 0]);
        ring.push(0x14, &[0, 0, 0, 0]);
        let mut during = Vec::new();
        drain_ring(&ring.view, |_| during.push(ring.view.is_empty()));
        assert_eq!(
            during,
            vec![false, false],
            "a concurrent drainer never sees an empty ring while a write is in flight"
        );
        assert!(ring.view.is_empty());
    }

    #[test]
    fn bogus_lengths_are_skipped_not_dispatched() {
        let mut ring = FakeRing::new(4096);
        ring.push(0x10, &[1, 2, 3, 4]);
        ring.push(0x14, &[]);
        ring.push(0x18, &[5, 6]);
        assert_eq!(
            drain(&ring),
            vec![(0x10, vec![1, 2, 3, 4]), (0x18, vec![5, 6])]
        );
    }

    #[test]
    fn writes_reach_the_bus_before_drain_returns() {
        use crate::bus::BusDevice;
        #[derive(Default)]
        struct Recorder(Vec<(u64, Vec<u8>)>);
        impl BusDevice for Recorder {
            fn read(&mut self, _: u64, data: &mut [u8]) {
                data.fill(0);
            }
            fn write(&mut self, offset: u64, data: &[u8]) {
                self.0.push((offset, data.to_vec()));
            }
        }
        let mmio = Arc::new(Bus::new("mmio"));
        let dev = Arc::new(Mutex::new(Recorder::default()));
        mmio.insert(0xe000_0000, 0x1000_0000, dev.clone()).unwrap();
        let writes = CoalescedWrites::new(mmio);
        assert_eq!(writes.drain(), 0, "inactive without a ring");
        let mut ring = FakeRing::new(4096);
        ring.push(0xe000_81a0, &7u32.to_le_bytes());
        ring.push(0xe000_81a4, &0u32.to_le_bytes());
        let _serial = writes.drain_lock.lock().unwrap();
        drain_ring(&ring.view, |w| writes.dispatch(w));
        assert_eq!(
            dev.lock().unwrap().0,
            vec![(0x81a0, 7u32.to_le_bytes().to_vec()), (0x81a4, vec![0; 4])]
        );
    }
}
