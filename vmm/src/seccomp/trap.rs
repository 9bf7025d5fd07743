//! `--seccomp trap`: a SIGSYS handler that names the forbidden system call and the thread type
//! in one line on stderr, then ends vmm with status 1. The forbidden call itself never runs.
//! The handler makes only `write` and `exit_group`, which every filter allows.

use std::cell::Cell;
use std::os::raw::{c_int, c_uint, c_void};
use std::sync::OnceLock;

use super::names::syscall_name;
use super::ThreadKind;

/// vmm's exit status for any failure.
const EXIT_FAILURE: c_int = 1;
/// stderr.
const STDERR: c_int = 2;

thread_local! {
    /// The filter this thread runs under; a const-initialised `Copy` value, so reading it is a
    /// plain thread-local load, safe in a signal handler.
    static CURRENT: Cell<Option<ThreadKind>> = const { Cell::new(None) };
}

/// Records the thread type the calling thread's filter belongs to (for the message).
pub(super) fn set_current(kind: ThreadKind) {
    CURRENT.with(|c| c.set(Some(kind)));
}

/// The start of the kernel's `siginfo_t` for SIGSYS (include/uapi/asm-generic/siginfo.h,
/// `_sigsys`): the three ints, padding to the union, then `_call_addr`, `_syscall`, `_arch`.
#[repr(C)]
struct SigsysInfo {
    signo: c_int,
    errno: c_int,
    code: c_int,
    _pad: c_int,
    call_addr: *mut c_void,
    syscall: c_int,
    arch: c_uint,
}

/// A fixed buffer to format the message without allocating (the handler must not).
struct Line {
    buf: [u8; 192],
    len: usize,
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_decimal(&mut self, value: c_int) {
        let mut digits = [0u8; 12];
        let mut i = digits.len();
        let negative = value < 0;
        let mut v = value.unsigned_abs();
        loop {
            i -= 1;
            // `v % 10` is a single digit.
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if negative {
            self.push(b"-");
        }
        self.push(&digits[i..]);
    }
}

/// Formats the one line printed for forbidden system call `nr` on a `kind` thread.
pub(super) fn message(kind: Option<ThreadKind>, nr: c_int) -> ([u8; 192], usize) {
    let mut line = Line {
        buf: [0; 192],
        len: 0,
    };
    line.push(b"vmm: seccomp: the ");
    line.push(kind.map_or("unfiltered", ThreadKind::name).as_bytes());
    line.push(b" thread made the forbidden system call ");
    line.push_decimal(nr);
    if let Some(name) = syscall_name(i64::from(nr)) {
        line.push(b" (");
        line.push(name.as_bytes());
        line.push(b")");
    }
    line.push(b"\n");
    (line.buf, line.len)
}

extern "C" fn on_sigsys(_signal: c_int, info: *mut libc::siginfo_t, _context: *mut c_void) {
    // SAFETY: the kernel hands an SA_SIGINFO handler a valid siginfo_t (128 bytes); for a
    // seccomp SIGSYS its first bytes have the `SigsysInfo` layout.
    let nr = unsafe { (*(info as *const SigsysInfo)).syscall };
    let kind = CURRENT.try_with(Cell::get).ok().flatten();
    let (buf, len) = message(kind, nr);
    // SAFETY: `buf[..len]` is initialised memory; write and _exit are async-signal-safe.
    unsafe {
        libc::write(STDERR, buf.as_ptr().cast(), len);
        libc::_exit(EXIT_FAILURE);
    }
}

/// Installs the SIGSYS handler once per process, before any filter (`rt_sigaction` is not
/// allowed afterwards).
pub(super) fn install() -> std::io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        // SAFETY: an all-zero sigaction is valid (no flags, empty mask, SIG_DFL).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = on_sigsys;
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_SIGINFO;
        // SAFETY: `action` outlives the call; the old action is not asked for.
        let rc = unsafe { libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    });
    result.map_err(std::io::Error::from_raw_os_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(kind: Option<ThreadKind>, nr: c_int) -> String {
        let (buf, len) = message(kind, nr);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn message_names_thread_and_call() {
        assert_eq!(
            text(Some(ThreadKind::Vcpu), 257),
            "vmm: seccomp: the vcpu thread made the forbidden system call 257 (openat)\n"
        );
        assert_eq!(
            text(Some(ThreadKind::EventLoop), 999),
            "vmm: seccomp: the event-loop thread made the forbidden system call 999\n"
        );
        assert!(text(None, -1).contains("call -1\n"));
    }
}
