//! Building blocks of the per-thread filters: rule helpers, and the system calls every vmm
//! thread makes whatever its job (the allocator, locks, logging, the end of a thread or of the
//! process). Each thread's own file adds what its job needs.

use std::os::raw::c_ulong;

use libc::{
    SYS_brk, SYS_clock_gettime, SYS_exit_group, SYS_fcntl, SYS_futex, SYS_ioctl, SYS_madvise,
    SYS_mmap, SYS_mprotect, SYS_mremap, SYS_munmap, SYS_rt_sigreturn, SYS_sigaltstack, SYS_write,
};
use seccompiler::{BackendError, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};

/// One allowed system call and the argument rules it must match (none: any arguments).
pub(super) type Syscall = (i64, Vec<SeccompRule>);

/// Index of `ioctl`'s request argument.
const IOCTL_REQUEST_ARG: u8 = 1;
/// Index of the `prot` argument of `mmap` and `mprotect`.
const PROT_ARG: u8 = 2;
/// Index of `fcntl`'s command argument.
const FCNTL_CMD_ARG: u8 = 1;

/// Allows `nr` whatever its arguments.
pub(super) fn allow(nr: i64) -> Syscall {
    (nr, Vec::new())
}

/// Allows `ioctl` only with one of `requests`. The kernel reads the request as a 32-bit
/// `unsigned int`, so the low 32 bits are compared.
pub(super) fn ioctls(requests: &[c_ulong]) -> Result<Syscall, BackendError> {
    let rules = requests
        .iter()
        .map(|&request| {
            SeccompRule::new(vec![SeccompCondition::new(
                IOCTL_REQUEST_ARG,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                request,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((SYS_ioctl, rules))
}

/// Allows `nr` only when argument `arg` equals `value`.
pub(super) fn when_equal(nr: i64, arg: u8, value: u64) -> Result<Syscall, BackendError> {
    let rule = SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        value,
    )?])?;
    Ok((nr, vec![rule]))
}

/// Allows `nr` only when argument `arg` has none of the bits of `mask` set.
pub(super) fn without_bits(nr: i64, arg: u8, mask: u64) -> Result<Syscall, BackendError> {
    let rule = SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(mask),
        0,
    )?])?;
    Ok((nr, vec![rule]))
}

/// What every thread needs, measured on the boot, power-off and reset paths (see the README).
pub(super) fn runtime() -> Result<Vec<Syscall>, BackendError> {
    // PROT_EXEC as the 64-bit value the conditions compare.
    let exec = u64::from(libc::PROT_EXEC.unsigned_abs());
    Ok(vec![
        // std's Mutex/Condvar/Once and glibc's internal locks: device mutexes shared by the
        // vCPUs, the exit notifier, the stdout/stderr locks, thread join.
        allow(SYS_futex),
        // Log lines and the one-line error on stderr (also the SIGSYS handler's message);
        // each thread's own writes are listed in its file.
        allow(SYS_write),
        // The allocator (glibc malloc: per-thread arenas grow with mprotect, large blocks
        // are mmap/munmap/mremap'd, free returns pages with madvise, the main arena uses brk).
        // No new executable memory: PROT_EXEC is refused on mmap and mprotect.
        without_bits(SYS_mmap, PROT_ARG, exec)?,
        without_bits(SYS_mprotect, PROT_ARG, exec)?,
        allow(SYS_munmap),
        allow(SYS_mremap),
        allow(SYS_madvise),
        allow(SYS_brk),
        // Debug builds of std check that an fd is open before closing it (OwnedFd's drop):
        // F_GETFD only, which reads the close-on-exec flag.
        when_equal(
            SYS_fcntl,
            FCNTL_CMD_ARG,
            libc::F_GETFD.unsigned_abs().into(),
        )?,
        // Instant::now for the log rate limiter, when the vDSO cannot answer.
        allow(SYS_clock_gettime),
        // Rust's thread and process teardown removes the stack-overflow signal stack.
        allow(SYS_sigaltstack),
        // Return from Rust's SIGSEGV/SIGBUS handler, so a crash still ends as that signal
        // instead of as a seccomp violation that hides it.
        allow(SYS_rt_sigreturn),
        // The process ends: main returns, or the SIGSYS handler exits with status 1.
        allow(SYS_exit_group),
    ])
}
