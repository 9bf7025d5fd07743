//! Signals as file descriptors, for event loops (`vmm`'s SIGHUP, `doe-proxyd`'s SIGHUP,
//! SIGTERM and SIGINT).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Blocks `signals` in the calling thread (and so in every thread it creates later) and
/// returns a non-blocking signalfd that reads them. Call it on the main thread before any
/// thread starts.
pub fn blocked_signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t owned by this frame.
    unsafe {
        libc::sigemptyset(&mut set);
    }
    for &signal in signals {
        // SAFETY: `set` is initialised; an invalid signal number is reported, not UB.
        if unsafe { libc::sigaddset(&mut set, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: `set` is initialised; the old mask is not asked for (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: -1 asks for a new signalfd; `set` is initialised; the flags are valid.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by signalfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The signal numbers waiting on a signalfd from [`blocked_signalfd`] (held as a `File`;
/// drains it).
pub fn read_signals(mut fd: &std::fs::File) -> Vec<u32> {
    use std::io::Read;
    let mut signals = Vec::new();
    let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    while matches!(fd.read(&mut info), Ok(n) if n == info.len()) {
        // ssi_signo is the first field (u32).
        signals.push(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]));
    }
    signals
}
