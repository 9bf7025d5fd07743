//! The filter of the DOE mediator threads (`doe-mediator-<offset>` drives one physical
//! mailbox, `doe-notify-<offset>` delivers its results to the virtual mailbox), applied by
//! each thread first thing (the mediator's `on_thread_start` hook). Requests come from the
//! guest, so nothing here opens files, creates sockets or spawns anything.

use libc::{
    SYS_clock_nanosleep, SYS_exit, SYS_nanosleep, SYS_pread64, SYS_pwrite64, SYS_rt_sigprocmask,
};
use seccompiler::BackendError;

use super::rules::{allow, when_equal, Syscall};

/// Index of `rt_sigprocmask`'s `how` argument.
const SIGPROCMASK_HOW_ARG: u8 = 0;

/// The system calls of a mediator thread beyond [`super::rules::runtime`]. `futex` (there)
/// carries the queues, the wake-ups and the result channel; `write` the log lines.
pub(super) fn rules() -> Result<Vec<Syscall>, BackendError> {
    Ok(vec![
        // The worker reads and writes the DOE registers through the VFIO device fd's
        // config region.
        allow(SYS_pread64),
        allow(SYS_pwrite64),
        // The worker polls Status between register accesses (std's thread::sleep:
        // clock_nanosleep in glibc, nanosleep in older ones).
        allow(SYS_clock_nanosleep),
        allow(SYS_nanosleep),
        // A mediator dropped because a later assignment step failed joins its threads:
        // glibc blocks every signal (SIG_BLOCK only) before the thread releases its
        // stack, then the thread exits.
        allow(SYS_exit),
        when_equal(
            SYS_rt_sigprocmask,
            SIGPROCMASK_HOW_ARG,
            libc::SIG_BLOCK.unsigned_abs().into(),
        )?,
    ])
}
