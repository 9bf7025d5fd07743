//! The filter of the main thread, applied once the VM is built and its vCPU threads are
//! running (no more files to open), just before the event loop starts.

use libc::{SYS_close, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_wait, SYS_read, SYS_readlink};
use seccompiler::BackendError;

use super::ioctls::{
    KVM_SET_DEVICE_ATTR, KVM_SET_USER_MEMORY_REGION, VFIO_DEVICE_SET_IRQS,
    VFIO_GROUP_UNSET_CONTAINER, VFIO_IOMMU_UNMAP_DMA,
};
use super::rules::{allow, ioctls, Syscall};

/// The system calls of the event-loop thread beyond [`super::rules::runtime`]. `write`
/// (there) also carries the serial console's last flush.
pub(super) fn rules() -> Result<Vec<Syscall>, BackendError> {
    Ok(vec![
        // The event manager's epoll instance, created when the loop starts.
        allow(SYS_epoll_create1),
        // Watch the exit eventfd and stdin; stop watching stdin at its end.
        allow(SYS_epoll_ctl),
        // The loop's wait.
        allow(SYS_epoll_wait),
        // Drain the exit eventfd; stdin bytes for the serial console.
        allow(SYS_read),
        // When the loop ends, the VM's fds (epoll, eventfds, VM, KVM, VFIO) are closed.
        allow(SYS_close),
        // When the loop ends the assigned functions are released, in drop order (VFIO):
        ioctls(&[
            // 0x4020AE46: the memory slots of mmap'ed BARs are deleted (the BAR mappings
            // themselves go with munmap).
            KVM_SET_USER_MEMORY_REGION(),
            // 0x3B72: guest RAM is unmapped from the IOMMU.
            VFIO_IOMMU_UNMAP_DMA(),
            // 0x3B6E: the device's interrupts are disabled.
            VFIO_DEVICE_SET_IRQS(),
            // 0x4018AEE1: vfio-ioctls' VfioDevice drop removes the group from the KVM-VFIO
            // device (KVM_DEV_VFIO_GROUP_DEL).
            KVM_SET_DEVICE_ATTR(),
            // 0x3B69: the same drop detaches the group from its container.
            VFIO_GROUP_UNSET_CONTAINER(),
        ])?,
        // The same drop finds the group number from the device's sysfs iommu_group link.
        allow(SYS_readlink),
    ])
}
