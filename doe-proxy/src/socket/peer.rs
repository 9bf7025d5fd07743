//! Who is at the other end of a Unix socket: SO_PEERCRED's uid, gid and pid, and the
//! supplementary groups of that process (from `/proc/<pid>/status`), as the policy's
//! [`ClientIdentity::HostUser`].

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use policies::{ClientIdentity, HostUser};

/// The peer's credentials as the kernel recorded them at `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Process ID (0 if the peer is in another PID namespace).
    pub pid: i32,
    /// Effective user ID.
    pub uid: u32,
    /// Effective group ID.
    pub gid: u32,
}

/// SO_PEERCRED of `stream`.
pub fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid, writable ucred and `len` holds its size, as SO_PEERCRED
    // requires; the fd is a live socket owned by `stream` for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCredentials {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The supplementary groups in a `/proc/<pid>/status` text (its `Groups:` line).
pub fn groups_from_status(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The policy identity of the peer: its uid and gid, with its process's supplementary
/// groups when `/proc` tells them (a peer that already exited has none).
pub fn peer_identity(credentials: PeerCredentials) -> ClientIdentity {
    let groups = if credentials.pid > 0 {
        std::fs::read_to_string(format!("/proc/{}/status", credentials.pid))
            .map(|status| groups_from_status(&status))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    ClientIdentity::HostUser(HostUser {
        uid: credentials.uid,
        gid: credentials.gid,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_pair_sees_this_process() {
        let (a, _b) = UnixStream::pair().unwrap();
        let cred = peer_credentials(&a).unwrap();
        assert_eq!(cred.pid, std::process::id() as i32);
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!((cred.uid, cred.gid), (uid, gid));
        match peer_identity(cred) {
            ClientIdentity::HostUser(user) => assert_eq!((user.uid, user.gid), (uid, gid)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn groups_are_read_from_the_status_text() {
        let status = "Name:\tdoectl\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 1000 \nNgid:\t0\n";
        assert_eq!(groups_from_status(status), [4, 24, 1000]);
        assert_eq!(groups_from_status("Groups:\n"), Vec::<u32>::new());
        assert_eq!(groups_from_status("nothing"), Vec::<u32>::new());
    }
}
