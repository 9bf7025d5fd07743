//! The event-loop subscribers of admin control: the control socket, SIGHUP (a signalfd)
//! and a one-second timer for the audit log's summary of suppressed denials.
//!
//! Everything is created on the main thread before its seccomp filter is applied (socket
//! bound and listening, SIGHUP blocked in every thread, signalfd, timerfd); the loop only
//! accepts, reads, writes, closes and re-reads the policy file.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vmm_sys_util::timerfd::TimerFd;

use super::protocol::{answer, error_line, MAX_LINE};
use super::Reload;
use crate::doe::DoeAdmin;

/// How often suppressed audit denials are summed up.
const AUDIT_FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// Binds the control socket at `path` (a stale socket file there is replaced).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path)
}

/// One client connection and its partial line.
struct Connection {
    stream: UnixStream,
    pending: Vec<u8>,
}

/// Serves the control socket: accepts clients, answers each line.
pub struct ControlServer {
    listener: UnixListener,
    connections: HashMap<RawFd, Connection>,
    target: Arc<dyn Reload + Send + Sync>,
}

impl ControlServer {
    /// A server on `listener` acting on `target`.
    pub fn new(listener: UnixListener, target: Arc<dyn Reload + Send + Sync>) -> Self {
        ControlServer {
            listener,
            connections: HashMap::new(),
            target,
        }
    }

    fn accept(&mut self, ops: &mut EventOps) {
        match self.listener.accept() {
            Ok((stream, _)) => {
                let fd = stream.as_raw_fd();
                if let Err(e) = ops.add(Events::new(&stream, EventSet::IN)) {
                    log::warn!("control socket: cannot watch a client: {e}");
                    return;
                }
                let pending = Vec::new();
                self.connections.insert(fd, Connection { stream, pending });
            }
            Err(e) => log::warn!("control socket: accept failed: {e}"),
        }
    }

    /// Reads what the client sent and answers every complete line; false once the
    /// connection is to be closed.
    fn serve(&mut self, fd: RawFd) -> bool {
        let Some(conn) = self.connections.get_mut(&fd) else {
            return false;
        };
        let mut buf = [0u8; 512];
        let n = match conn.stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        conn.pending.extend_from_slice(&buf[..n]);
        while let Some(end) = conn.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = conn.pending.drain(..=end).collect();
            let reply = match std::str::from_utf8(&line[..end]) {
                Ok(text) => answer(text, self.target.as_ref()),
                Err(_) => error_line("the command is not UTF-8"),
            };
            if writeln!(conn.stream, "{reply}").is_err() {
                return false;
            }
        }
        if conn.pending.len() > MAX_LINE {
            let reply = error_line(&format!("command longer than {MAX_LINE} bytes"));
            let _ = writeln!(conn.stream, "{reply}");
            return false;
        }
        true
    }
}

impl MutEventSubscriber for ControlServer {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.listener, EventSet::IN)) {
            log::error!("cannot watch the control socket: {e}");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.listener.as_raw_fd() {
            self.accept(ops);
            return;
        }
        let hangup = events
            .event_set()
            .intersects(EventSet::ERROR | EventSet::HANG_UP);
        if !self.serve(fd) || (hangup && !events.event_set().contains(EventSet::IN)) {
            let _ = ops.remove(Events::empty_raw(fd));
            self.connections.remove(&fd);
        }
    }
}

/// Blocks SIGHUP in the calling thread (and so in every thread it creates later) and
/// returns a signalfd that reads it. Call it on the main thread before any thread starts.
pub fn sighup_fd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t owned by this frame.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGHUP);
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

/// Reloads the policy on SIGHUP.
pub struct SighupReload {
    fd: std::fs::File,
    target: Arc<dyn Reload + Send + Sync>,
}

impl SighupReload {
    /// Watches `fd` (from [`sighup_fd`]) and reloads `target`.
    pub fn new(fd: OwnedFd, target: Arc<dyn Reload + Send + Sync>) -> Self {
        SighupReload {
            fd: std::fs::File::from(fd),
            target,
        }
    }
}

impl MutEventSubscriber for SighupReload {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.fd, EventSet::IN)) {
            log::error!("cannot watch SIGHUP: {e}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        // Drain every queued SIGHUP (nonblocking); one reload answers them all.
        while matches!((&self.fd).read(&mut info), Ok(n) if n > 0) {}
        match self.target.reload() {
            Ok(origin) => eprintln!("vmm: policy reloaded from {origin} (SIGHUP)"),
            Err(e) => {
                eprintln!("vmm: policy reload refused (SIGHUP), the policy in force stays: {e}")
            }
        }
    }
}

/// Writes the audit log's summary of suppressed denials once a second.
pub struct AuditTimer {
    timer: TimerFd,
    admin: Arc<DoeAdmin>,
}

impl AuditTimer {
    /// A periodic timer (armed now, before the loop's seccomp filter) for `admin`.
    pub fn new(admin: Arc<DoeAdmin>) -> io::Result<Self> {
        let mut timer = TimerFd::new().map_err(io::Error::from)?;
        timer
            .reset(AUDIT_FLUSH_PERIOD, Some(AUDIT_FLUSH_PERIOD))
            .map_err(io::Error::from)?;
        Ok(AuditTimer { timer, admin })
    }
}

impl MutEventSubscriber for AuditTimer {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.timer, EventSet::IN)) {
            log::error!("cannot watch the audit timer: {e}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.timer.wait();
        self.admin.flush_suppressed();
    }
}
