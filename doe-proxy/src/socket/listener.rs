//! A server's Unix socket file: bound the one way every server here binds one (`vmm`'s
//! control socket, the DOE socket of `vmm` and `doe-proxyd`), and removed when it ends.
//!
//! [`BoundSocket::bind`]:
//! - refuses a path a live process listens on ([`BindError::InUse`]) and a path that is
//!   not a socket ([`BindError::NotASocket`], left alone), and replaces a stale socket (one
//!   nobody listens on, left by a process that was killed);
//! - sets the file's mode *before* it listens, so no peer can connect through a mode
//!   wider than asked (connecting to a socket that does not listen yet is refused);
//! - listens non-blocking.
//!
//! Dropping it removes the file if it is still the one it created (same device, inode and
//! change time): a later server may have replaced it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Connections the kernel queues before they are accepted.
const BACKLOG: libc::c_int = 128;

/// Parses a socket file mode as users write it: octal permission bits, e.g. `0660`.
pub fn parse_socket_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("`{text}` is not a file mode (octal, e.g. 0660)")),
    }
}

/// Why a socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A live process listens on the path.
    #[error("another process is listening on it")]
    InUse,
    /// The path exists and is not a socket; it is left alone.
    #[error("it exists and is not a socket (left alone)")]
    NotASocket,
    /// The path does not fit in a Unix socket address.
    #[error("the path is empty, contains a NUL byte or is longer than {max} bytes")]
    BadPath {
        /// The longest path a Unix socket address holds.
        max: usize,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl BindError {
    fn io(what: &'static str) -> impl FnOnce(io::Error) -> BindError {
        move |source| BindError::Io { what, source }
    }
}

/// Device, inode and change time (s, ns) of a file: an inode number alone may be reused at
/// once by a file created after this one was removed.
type FileIdentity = (u64, u64, i64, i64);

fn identity(meta: &std::fs::Metadata) -> FileIdentity {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

/// A listening Unix socket and its file (see the module documentation).
#[derive(Debug)]
pub struct BoundSocket {
    listener: UnixListener,
    path: PathBuf,
    identity: FileIdentity,
}

impl BoundSocket {
    /// Binds `path` with file mode `mode` (permission bits) and listens, non-blocking.
    pub fn bind(path: &Path, mode: u32) -> Result<Self, BindError> {
        remove_if_stale(path)?;
        let fd = bound_socket(path)?;
        // The file is ours from here: removed again if a later step fails.
        let remove = |e: BindError| {
            let _ = std::fs::remove_file(path);
            e
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(BindError::io("cannot set its mode"))
            .map_err(remove)?;
        // Taken after the mode is set, which changes the file's change time.
        let meta = std::fs::symlink_metadata(path)
            .map_err(BindError::io("cannot read it back"))
            .map_err(remove)?;
        // SAFETY: listen takes no pointer; `fd` is a bound socket owned here.
        if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } != 0 {
            return Err(remove(BindError::io("cannot listen")(
                io::Error::last_os_error(),
            )));
        }
        let listener = UnixListener::from(fd);
        listener
            .set_nonblocking(true)
            .map_err(BindError::io("cannot make it non-blocking"))
            .map_err(remove)?;
        Ok(BoundSocket {
            listener,
            path: path.to_owned(),
            identity: identity(&meta),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one waiting connection, made non-blocking; `None` when none waits.
    pub fn accept(&self) -> io::Result<Option<UnixStream>> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    return Ok(Some(stream));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsRawFd for BoundSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| identity(&m) == self.identity);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                log::warn!("cannot remove the socket {}: {e}", self.path.display());
            }
        }
    }
}

/// Refuses a path a live process listens on or that is not a socket; removes a stale
/// socket (connecting to it is refused: nobody listens).
fn remove_if_stale(path: &Path) -> Result<(), BindError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        // Missing (bind creates it), or not ours to judge: bind says what is wrong.
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket);
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(BindError::InUse),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(BindError::io("cannot remove the stale socket"))
        }
        // Gone in the meantime, or not ours to judge: bind says what is wrong.
        Err(_) => Ok(()),
    }
}

/// A Unix stream socket bound to `path`, not listening yet.
fn bound_socket(path: &Path) -> Result<OwnedFd, BindError> {
    let bytes = path.as_os_str().as_bytes();
    let mut address = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    // One byte is left for the terminating NUL.
    let max = address.sun_path.len() - 1;
    if bytes.is_empty() || bytes.len() > max || bytes.contains(&0) {
        return Err(BindError::BadPath { max });
    }
    for (to, from) in address.sun_path.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    let length = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    // SAFETY: socket takes no pointer; its result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(BindError::io("cannot create a socket")(
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a new socket that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `address` is a valid sockaddr_un that outlives the call and `length` is at
    // most its size (the family, the path and its NUL).
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(address).cast(),
            length as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::AddrInUse {
            BindError::InUse
        } else {
            BindError::io("cannot bind")(e)
        });
    }
    Ok(fd)
}
