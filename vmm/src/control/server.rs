//! The event-loop subscribers of admin control: the control socket, SIGHUP (a signalfd)
//! and a one-second timer for the audit log's summary of suppressed denials.
//!
//! Everything is created on the main thread before its seccomp filter is applied (socket
//! bound and listening, SIGHUP blocked in every thread, signalfd, timerfd); the loop only
//! accepts, reads, writes, closes and re-reads the policy file — and, at the end, removes
//! the socket file it created.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vmm_sys_util::timerfd::TimerFd;

use super::protocol::{answer, error_line, MAX_LINE};
use super::{Control, Reload};
use crate::doe::DoeAdmin;

/// How often suppressed audit denials are summed up.
const AUDIT_FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// The control socket's file: removed when dropped (vmm ends, or start-up fails after the
/// bind) if it is still the one vmm created — a later vmm may have replaced it.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device, inode and change time (s, ns) of the file vmm created: an inode number
    /// alone may be reused at once by a file created after this one was removed.
    identity: (u64, u64, i64, i64),
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64, i64, i64) {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| identity(&m) == self.identity);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                log::warn!(
                    "cannot remove the control socket {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

/// Binds the control socket at `path`. A socket file nobody listens on (left by a vmm
/// that was killed) is replaced; one a live process listens on is refused
/// ([`io::ErrorKind::AddrInUse`]), so two VMs never share a control socket.
pub fn bind(path: &Path) -> io::Result<(UnixListener, SocketFile)> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process (a running vmm?) is listening on it",
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path)?;
            }
            // Gone in the meantime, or not ours to judge: bind says what is wrong.
            Err(_) => {}
        }
    }
    let listener = UnixListener::bind(path)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_owned(),
        identity: identity(&meta),
    };
    Ok((listener, file))
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
    target: Arc<dyn Control + Send + Sync>,
}

impl ControlServer {
    /// A server on `listener` acting on `target`.
    pub fn new(listener: UnixListener, target: Arc<dyn Control + Send + Sync>) -> Self {
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
    doe_proxy::signals::blocked_signalfd(&[libc::SIGHUP])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vmm-control-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("api.sock")
    }

    #[test]
    fn a_socket_in_use_is_refused_and_left_alone() {
        let path = scratch("in-use");
        let (_listener, _file) = bind(&path).unwrap();
        let e = bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        assert!(e.to_string().contains("listening"), "{e}");
        // The first vmm's socket still answers.
        assert!(UnixStream::connect(&path).is_ok());
    }

    #[test]
    fn a_stale_socket_is_replaced_and_removed_at_the_end() {
        let path = scratch("stale");
        // A vmm that was killed: its listener is gone, its file stays.
        let (listener, file) = bind(&path).unwrap();
        drop(listener);
        std::mem::forget(file);
        assert!(path.exists());
        let (listener, file) = bind(&path).unwrap();
        assert!(UnixStream::connect(&path).is_ok());
        drop(listener);
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn a_socket_replaced_by_someone_else_is_not_removed() {
        let path = scratch("replaced");
        let (listener, file) = bind(&path).unwrap();
        drop(listener);
        // Another vmm puts its socket in place (created while ours exists, so it is a
        // different inode; renamed over ours).
        let elsewhere = path.with_file_name("other.sock");
        let _other = UnixListener::bind(&elsewhere).unwrap();
        std::fs::rename(&elsewhere, &path).unwrap();
        drop(file);
        assert!(path.exists(), "another process's socket was removed");
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_never_removed() {
        let path = scratch("regular");
        std::fs::write(&path, "not a socket").unwrap();
        let e = bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    }
}
