//! The filter of the vCPU threads (`vcpu<N>`), applied as each thread starts, before its first
//! `KVM_RUN`. Everything here can be triggered by the guest, so nothing opens files, creates
//! sockets, spawns processes or changes signal handling.

use libc::{SYS_close, SYS_eventfd2, SYS_exit, SYS_pread64, SYS_pwrite64, SYS_rt_sigprocmask};
use seccompiler::BackendError;

use super::ioctls::{
    KVM_IRQFD, KVM_RUN, KVM_SET_GSI_ROUTING, KVM_SET_USER_MEMORY_REGION, VFIO_DEVICE_SET_IRQS,
};
use super::rules::{allow, ioctls, when_equal, Syscall};

/// Index of `rt_sigprocmask`'s `how` argument.
const SIGPROCMASK_HOW_ARG: u8 = 0;

/// The system calls of a vCPU thread beyond [`super::rules::runtime`]. `write` (there) also
/// carries the serial console's output (stdout or its file), the COM1 irqfd, the exit
/// notifier's eventfd and the audit queue's eventfd (a guest's denial is queued, and the
/// event loop writes its audit line: a vCPU never writes the audit log); `mmap`/`munmap`
/// (there, never executable) also map and unmap a VFIO BAR when the guest moves it.
pub(super) fn rules() -> Result<Vec<Syscall>, BackendError> {
    Ok(vec![
        ioctls(&[
            // 0xAE80: run the guest; every exit comes back here.
            KVM_RUN(),
            // 0x4008AE6A (VFIO): commit MSI/MSI-X routes when the guest programs a vector.
            KVM_SET_GSI_ROUTING(),
            // 0x4020AE76 (VFIO): bind/unbind the irqfd of a vector the guest enables/disables.
            KVM_IRQFD(),
            // 0x3B6E (VFIO): enable, disable, mask or unmask the device's MSI/MSI-X/INTx as
            // the guest writes the capability or the MSI-X table.
            VFIO_DEVICE_SET_IRQS(),
            // 0x4020AE46 (VFIO): move a BAR's memory slot when the guest relocates the BAR.
            KVM_SET_USER_MEMORY_REGION(),
        ])?,
        // VFIO: config-space and trapped BAR accesses at offsets of the device fd's regions.
        allow(SYS_pread64),
        allow(SYS_pwrite64),
        // VFIO: a new irqfd for each interrupt vector the guest enables.
        allow(SYS_eventfd2),
        // VFIO: irqfds of vectors the guest disables; at the end of the thread, the vCPU fd.
        allow(SYS_close),
        // The thread ends after it reports the end of the VM: glibc blocks every signal
        // (SIG_BLOCK only; nothing is ever unblocked) before it releases the thread's stack,
        // then the thread exits.
        allow(SYS_exit),
        when_equal(
            SYS_rt_sigprocmask,
            SIGPROCMASK_HOW_ARG,
            libc::SIG_BLOCK.unsigned_abs().into(),
        )?,
    ])
}
