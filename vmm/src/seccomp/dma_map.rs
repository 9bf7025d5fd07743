//! The filter of the `vfio-dma-map` thread, applied first thing: it maps guest RAM into
//! the VFIO container for DMA while the guest boots (`crate::vfio::dma_gate`), then ends.
//! It runs alongside the vCPUs, so it gets only the two container ioctls it needs.

use libc::{SYS_exit, SYS_rt_sigprocmask};
use seccompiler::BackendError;

use super::ioctls::{VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA};
use super::rules::{allow, ioctls, when_equal, Syscall};

/// Index of `rt_sigprocmask`'s `how` argument.
const SIGPROCMASK_HOW_ARG: u8 = 0;

/// The system calls of the mapping thread beyond [`super::rules::runtime`]. `futex` (there)
/// releases the vCPU waiting to enable bus mastering and wakes the main loop's exit
/// notifier on failure; `write` the log line and that notifier's eventfd.
pub(super) fn rules() -> Result<Vec<Syscall>, BackendError> {
    Ok(vec![
        ioctls(&[
            // 0x3B71: pin a range of guest RAM and map it at IOVA = guest address.
            VFIO_IOMMU_MAP_DMA(),
            // 0x3B72: a failed mapping unmaps the ranges mapped before it.
            VFIO_IOMMU_UNMAP_DMA(),
        ])?,
        // The thread ends: glibc blocks every signal (SIG_BLOCK only) before it releases
        // the thread's stack, then the thread exits.
        allow(SYS_exit),
        when_equal(
            SYS_rt_sigprocmask,
            SIGPROCMASK_HOW_ARG,
            libc::SIG_BLOCK.unsigned_abs().into(),
        )?,
    ])
}
