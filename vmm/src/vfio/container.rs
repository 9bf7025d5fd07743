//! The VFIO container (one IOMMU domain for every assigned function), tied to the VM
//! through the KVM VFIO pseudo-device, and guest RAM mapped into it for DMA with
//! IOVA = guest physical address.
//!
//! DMA mappings are undone step by step: a failed map unmaps what was mapped before it,
//! and [`DmaMappings`] unmaps the rest when dropped. [`map_while_booting`] does the
//! mapping on its own thread (see [`super::dma_gate`]).

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use kvm_bindings::{kvm_create_device, kvm_device_type_KVM_DEV_TYPE_VFIO};
use kvm_ioctls::VmFd;
use vfio_ioctls::{VfioContainer, VfioDeviceFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};

use super::dma_gate::DmaGate;
use super::error::VfioError;
use crate::exit::{ExitNotifier, VmExit};
use crate::memory::GuestMemoryMmap;
use crate::seccomp::{self, ThreadKind};

/// Opens `/dev/vfio/vfio` with the VM's KVM VFIO device as its hypervisor handle (KVM is
/// told about each group added to the container: needed for coherent DMA and IRQ bypass).
pub fn open(vm: &VmFd) -> Result<Arc<VfioContainer>, VfioError> {
    let mut device = kvm_create_device {
        type_: kvm_device_type_KVM_DEV_TYPE_VFIO,
        fd: 0,
        flags: 0,
    };
    let kvm_vfio = vm
        .create_device(&mut device)
        .map_err(VfioError::KvmVfioDevice)?;
    let handle = Arc::new(VfioDeviceFd::new_from_kvm(kvm_vfio));
    VfioContainer::new(Some(handle))
        .map(Arc::new)
        .map_err(|e| VfioError::Container(e.to_string()))
}

/// Guest RAM ranges mapped for DMA; unmapped (newest first) on drop.
pub struct DmaMappings {
    container: Arc<VfioContainer>,
    mapped: Vec<(u64, u64)>,
}

impl std::fmt::Debug for DmaMappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaMappings")
            .field("mapped", &self.mapped)
            .finish_non_exhaustive()
    }
}

impl DmaMappings {
    /// Maps every region of `mem` at IOVA = its guest address. On failure, what was mapped
    /// is unmapped again before the error is returned.
    pub fn map(container: &Arc<VfioContainer>, mem: &GuestMemoryMmap) -> Result<Self, VfioError> {
        let mut mappings = DmaMappings {
            container: container.clone(),
            mapped: Vec::new(),
        };
        for region in mem.iter() {
            let iova = region.start_addr().0;
            let size = region.len();
            let len = usize::try_from(size).map_err(|_| VfioError::DmaMap {
                iova,
                size,
                error: "size does not fit in usize".into(),
            })?;
            // SAFETY: the region is a live anonymous mapping of `len` bytes owned by the
            // guest memory, which vmm keeps (in an Arc) for as long as the VM and the
            // container exist; vmm reaches guest memory only through vm-memory's volatile
            // accessors and system calls, never through Rust references, so device DMA into
            // it is sound. The mapping is removed by `Drop` (or on failure below).
            let result = unsafe { container.vfio_dma_map(iova, len, region.as_ptr()) };
            if let Err(e) = result {
                // `mappings` drops here and unmaps what was mapped so far.
                return Err(VfioError::DmaMap {
                    iova,
                    size,
                    error: e.to_string(),
                });
            }
            mappings.mapped.push((iova, size));
        }
        Ok(mappings)
    }
}

impl Drop for DmaMappings {
    fn drop(&mut self) {
        while let Some((iova, size)) = self.mapped.pop() {
            if let Err(e) = self.container.vfio_dma_unmap(iova, size as usize) {
                log::warn!("VFIO DMA unmap of {iova:#x}+{size:#x} failed: {e}");
            }
        }
    }
}

/// Maps guest RAM for DMA on the `vfio-dma-map` thread and reports the result to `gate`
/// (releasing a held Bus Master Enable). A failure also ends the VM with its message, as
/// it would have ended the start-up. The mappings then stay until the process exits, as
/// the rest of the assignment does (`super::Assigned::keep_until_exit`).
pub fn map_while_booting(
    container: Arc<VfioContainer>,
    mem: Arc<GuestMemoryMmap>,
    gate: Arc<DmaGate>,
    exit: Arc<ExitNotifier>,
) -> Result<(), VfioError> {
    let fail = move |gate: &DmaGate, message: String| {
        gate.finish(Err(message.clone()));
        exit.notify(VmExit::Error(message));
    };
    thread::Builder::new()
        .name("vfio-dma-map".into())
        .spawn(move || {
            if let Err(e) = seccomp::apply(ThreadKind::DmaMap) {
                return fail(&gate, e.to_string());
            }
            let start = Instant::now();
            match DmaMappings::map(&container, &mem) {
                Ok(mappings) => {
                    let took = start.elapsed();
                    log::info!(
                        "guest RAM mapped for DMA in {} ms ({} range(s))",
                        took.as_millis(),
                        mappings.mapped.len()
                    );
                    std::mem::forget(mappings);
                    gate.finish(Ok(took));
                }
                Err(e) => fail(&gate, e.to_string()),
            }
        })
        .map(drop)
        .map_err(VfioError::DmaThread)
}
