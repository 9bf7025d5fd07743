//! The ioctl request numbers the filters allow, built from the kvm-bindings and vfio-bindings
//! constants (`KVMIO`, `VFIO_TYPE`, `VFIO_BASE`) and argument structs, as the kernel's `_IO*`
//! macros build them. The expected value of each is in its comment and checked by a test.

use kvm_bindings::{
    kvm_device_attr, kvm_irq_routing, kvm_irqfd, kvm_userspace_memory_region, KVMIO,
};
use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};
use vmm_sys_util::{ioctl_io_nr, ioctl_iow_nr};

// KVM vCPU ioctls (Documentation/virt/kvm/api.rst, §4).

// 0xAE80: enter the guest until the next exit.
ioctl_io_nr!(KVM_RUN, KVMIO, 0x80);

// KVM VM ioctls.

// 0x4020AE46: add, move or delete a guest memory slot.
ioctl_iow_nr!(
    KVM_SET_USER_MEMORY_REGION,
    KVMIO,
    0x46,
    kvm_userspace_memory_region
);
// 0x4008AE6A: replace the GSI routing table (legacy pins and MSI routes).
ioctl_iow_nr!(KVM_SET_GSI_ROUTING, KVMIO, 0x6a, kvm_irq_routing);
// 0x4020AE76: bind (or, with KVM_IRQFD_FLAG_DEASSIGN, unbind) an eventfd to a GSI.
ioctl_iow_nr!(KVM_IRQFD, KVMIO, 0x76, kvm_irqfd);

// KVM device ioctls.

// 0x4018AEE1: set an attribute of a KVM device (the KVM-VFIO device's group add/delete).
ioctl_iow_nr!(KVM_SET_DEVICE_ATTR, KVMIO, 0xe1, kvm_device_attr);

// VFIO ioctls (include/uapi/linux/vfio.h); VFIO_TYPE is ';' (0x3B), VFIO_BASE 100.

// 0x3B69: detach a group from its container.
ioctl_io_nr!(
    VFIO_GROUP_UNSET_CONTAINER,
    u32::from(VFIO_TYPE),
    VFIO_BASE + 5
);
// 0x3B71: map a range of user memory (guest RAM) into the container's IOMMU domain.
ioctl_io_nr!(VFIO_IOMMU_MAP_DMA, u32::from(VFIO_TYPE), VFIO_BASE + 13);
// 0x3B72: remove a DMA mapping (guest RAM) from the container's IOMMU domain.
ioctl_io_nr!(VFIO_IOMMU_UNMAP_DMA, u32::from(VFIO_TYPE), VFIO_BASE + 14);
// 0x3B6E: enable, disable, trigger, mask or unmask a device's interrupts (INTx, MSI, MSI-X).
ioctl_io_nr!(VFIO_DEVICE_SET_IRQS, u32::from(VFIO_TYPE), VFIO_BASE + 10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_kernel_headers() {
        assert_eq!(KVM_RUN(), 0xAE80);
        assert_eq!(KVM_SET_USER_MEMORY_REGION(), 0x4020_AE46);
        assert_eq!(KVM_SET_GSI_ROUTING(), 0x4008_AE6A);
        assert_eq!(KVM_IRQFD(), 0x4020_AE76);
        assert_eq!(KVM_SET_DEVICE_ATTR(), 0x4018_AEE1);
        assert_eq!(VFIO_GROUP_UNSET_CONTAINER(), 0x3B69);
        assert_eq!(VFIO_DEVICE_SET_IRQS(), 0x3B6E);
        assert_eq!(VFIO_IOMMU_MAP_DMA(), 0x3B71);
        assert_eq!(VFIO_IOMMU_UNMAP_DMA(), 0x3B72);
    }
}
