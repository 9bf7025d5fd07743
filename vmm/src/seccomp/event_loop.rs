//! The filter of the main thread, applied once the VM is built and its vCPU threads are
//! running, just before the event loop starts. The control and DOE sockets are bound and
//! listening, SIGHUP's signalfd, the audit writer's timer and the audit queue's eventfd
//! exist by then; the one file the loop opens is the policy file on reload — read-only
//! (`openat` without any write or create flag): the path comes from vmm's own command
//! line, never from the guest, and re-opening it is what lets an admin edit the file in
//! place (an fd kept open would read the old inode after an editor's rename). At the end it
//! removes the sockets it created, and reads and removes its owner registrations
//! (`doe_proxy::ownership`).

use libc::{
    SYS_accept4, SYS_close, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_wait, SYS_fstat,
    SYS_getsockopt, SYS_lseek, SYS_newfstatat, SYS_openat, SYS_read, SYS_readlink, SYS_recvfrom,
    SYS_sendto, SYS_statx, SYS_unlink,
};
use seccompiler::BackendError;

use super::ioctls::{
    KVM_SET_DEVICE_ATTR, KVM_SET_USER_MEMORY_REGION, VFIO_DEVICE_SET_IRQS,
    VFIO_GROUP_UNSET_CONTAINER, VFIO_IOMMU_UNMAP_DMA,
};
use super::rules::{allow, ioctls, without_bits, Syscall};

/// Index of `openat`'s `flags` argument.
const OPENAT_FLAGS_ARG: u8 = 2;

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
        // Drain the exit eventfd, SIGHUP's signalfd, the audit writer's timer and the audit
        // queue's eventfd; stdin bytes for the serial console; the policy file on reload.
        allow(SYS_read),
        // Control socket and DOE socket: a client connects (std's accept uses accept4 with
        // SOCK_CLOEXEC); its requests are read with recvfrom and answered with sendto
        // (std's UnixStream read and write; sendto carries MSG_NOSIGNAL, so a client gone
        // is EPIPE, not SIGPIPE).
        allow(SYS_accept4),
        allow(SYS_recvfrom),
        allow(SYS_sendto),
        // A peer's uid/gid (SO_PEERCRED), read when it connects: the control socket admits
        // root and vmm's own user only; the DOE socket (`--doe-socket`) judges a host user
        // by the policy (its supplementary groups come from /proc/<pid>/status: the
        // read-only openat below).
        allow(SYS_getsockopt),
        // Policy reload (SIGHUP or `policy reload`): open the policy file read-only —
        // no O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND.
        without_bits(
            SYS_openat,
            OPENAT_FLAGS_ARG,
            u64::from(
                (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND)
                    .unsigned_abs(),
            ),
        )?,
        // std's fs::read_to_string sizes its buffer from the file's metadata (statx, or
        // fstat/newfstatat where statx is missing) and its position (lseek).
        allow(SYS_statx),
        allow(SYS_fstat),
        allow(SYS_newfstatat),
        allow(SYS_lseek),
        // When the loop ends, the VM's fds (epoll, eventfds, VM, KVM, VFIO) are closed;
        // a socket client that hung up, was refused or was dropped; the policy file after
        // a reload.
        allow(SYS_close),
        // ioctl: the sockets' connections are made non-blocking; when the loop ends the
        // assigned functions are released, in drop order (VFIO):
        ioctls(&[
            // 0x5421: the control socket and the DOE socket make each accepted connection
            // non-blocking (std's set_nonblocking, in `BoundSocket::accept`).
            libc::FIONBIO as libc::c_ulong,
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
        // At the end, the sockets' files are removed (`--api-socket`, `--doe-socket`: paths
        // from vmm's own command line, and only while each is still the socket vmm bound;
        // statx/newfstatat above tell), and each owner registration that still names vmm
        // (read first, read-only openat).
        allow(SYS_unlink),
    ])
}
