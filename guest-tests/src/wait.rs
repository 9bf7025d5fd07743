//! Waiting for a file descriptor to become readable, with a timeout (the guest tools wait
//! for interrupts this way).

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Waits until `fd` is readable or `timeout` passes; `false` on timeout. `what` names the
/// file in errors (`poll on <what>: ...`). A signal does not end the wait early.
pub fn wait_readable(fd: &impl AsRawFd, timeout: Duration, what: &str) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up, so a wait never ends before `timeout` has passed.
        let ms = left.as_micros().div_ceil(1000);
        let ms = libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one valid pollfd that lives across the call (nfds = 1).
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            0 if Instant::now() >= deadline => return Ok(false),
            0 => {}
            n if n > 0 => {
                if pfd.revents & libc::POLLIN != 0 {
                    return Ok(true);
                }
                return Err(format!("poll on {what}: revents {:#x}", pfd.revents));
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(format!("poll on {what}: {e}"));
                }
            }
        }
    }
}
