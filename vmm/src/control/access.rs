//! Who may use the control socket: root and the user vmm runs as (its effective uid).
//!
//! The socket's file mode (`--api-socket-mode`, default `0600`) is the first gate; this is
//! the second, on the peer's credentials (SO_PEERCRED), so a mode widened by mistake, or a
//! socket reached through a bind mount, still admits no one else. Reloading the policy and
//! reading the VM's counters are the admin's acts, whoever else the file mode lets connect.

/// The uids allowed on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlAccess {
    allowed: [u32; 2],
}

/// Root's uid.
const ROOT: u32 = 0;

impl ControlAccess {
    /// Root and this process's effective uid.
    pub fn for_this_process() -> Self {
        // SAFETY: geteuid cannot fail and touches no memory.
        Self::root_and(unsafe { libc::geteuid() })
    }

    /// Root and `uid` (vmm's effective uid).
    pub fn root_and(uid: u32) -> Self {
        ControlAccess {
            allowed: [ROOT, uid],
        }
    }

    /// Only `uid`, not even root: lets tests (which may run as root) see a refusal.
    #[cfg(test)]
    pub fn only(uid: u32) -> Self {
        ControlAccess {
            allowed: [uid, uid],
        }
    }

    /// Whether a peer with effective `uid` and `gid` may use the socket: `Err` says why
    /// not, in words for the peer and the audit line. The gid is not a way in: a group
    /// the file mode admits is still refused.
    pub fn check(&self, uid: u32, gid: u32) -> Result<(), String> {
        if self.allowed.contains(&uid) {
            return Ok(());
        }
        let allowed = if self.allowed[0] == self.allowed[1] {
            format!("uid {}", self.allowed[0])
        } else {
            format!("uid {} and uid {}", self.allowed[0], self.allowed[1])
        };
        Err(format!(
            "permission denied: uid {uid} (gid {gid}) may not use vmm's control socket (only {allowed})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_vmms_own_user_are_allowed_and_no_one_else() {
        let access = ControlAccess::root_and(1000);
        assert_eq!(access.check(0, 0), Ok(()));
        assert_eq!(access.check(1000, 1000), Ok(()));
        // Any gid: it is the uid that counts.
        assert_eq!(access.check(1000, 0), Ok(()));
        let e = access.check(1001, 1000).unwrap_err();
        assert!(e.contains("uid 1001 (gid 1000)"), "{e}");
        assert!(e.contains("only uid 0 and uid 1000"), "{e}");
        // Root's group is not root.
        assert!(access.check(65534, 0).is_err());
    }

    #[test]
    fn a_vmm_run_by_root_admits_only_root() {
        let access = ControlAccess::root_and(0);
        assert_eq!(access.check(0, 1000), Ok(()));
        let e = access.check(1000, 1000).unwrap_err();
        assert!(e.contains("only uid 0"), "{e}");
    }

    #[test]
    fn this_process_is_allowed() {
        // SAFETY: geteuid and getegid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!(ControlAccess::for_this_process().check(uid, gid), Ok(()));
    }
}
