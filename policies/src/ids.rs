//! Who asks and which function they ask about: the identities a policy matches on.
//!
//! The DOE protocol and PCI address types are defined in this crate ([`crate::protocol_id`],
//! [`crate::pci_address`]) and re-exported by `doe-proxy`, so every crate names a protocol
//! and a function the same way.

use std::fmt;

pub use crate::pci_address::Bdf;
pub use crate::protocol_id::ProtocolId;

/// A client of a DOE mailbox: a guest of a `vmm`, or a user of the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientIdentity {
    /// A guest, named by the `--name` given to its `vmm`.
    Guest(String),
    /// A host user, as the peer credentials of its socket connection tell.
    HostUser(HostUser),
}

/// The credentials of a host user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostUser {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Supplementary group IDs (may be empty when the transport does not tell them).
    pub groups: Vec<u32>,
}

impl ClientIdentity {
    /// A guest by its `vmm --name`.
    pub fn guest(name: impl Into<String>) -> Self {
        ClientIdentity::Guest(name.into())
    }

    /// A host user with no supplementary groups.
    pub fn host_user(uid: u32, gid: u32) -> Self {
        ClientIdentity::HostUser(HostUser {
            uid,
            gid,
            groups: Vec::new(),
        })
    }
}

impl HostUser {
    /// True if the user is in `gid`, as its primary or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Formats as the audit log names a client: `guest:NAME` or `host:uid=U,gid=G`.
impl fmt::Display for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdentity::Guest(name) => write!(f, "guest:{name}"),
            ClientIdentity::HostUser(user) => write!(f, "host:uid={},gid={}", user.uid, user.gid),
        }
    }
}

/// A PCI vendor and device ID pair, written `vvvv:dddd` as `lspci -n` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceIds {
    /// Vendor ID (config offset 0x00).
    pub vendor: u16,
    /// Device ID (config offset 0x02).
    pub device: u16,
}

/// Formats as `lspci -n` does: `8086:0d93`.
impl fmt::Display for DeviceIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}

/// The host function a client's exchange is for: its host address and its IDs.
///
/// For a VF served through its PF's mailbox this is the VF, the function the client sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionId {
    /// The function's address on the host (not the address the guest sees).
    pub bdf: Bdf,
    /// The function's vendor and device IDs.
    pub ids: DeviceIds,
}

impl FunctionId {
    /// A function from its host address and IDs.
    pub fn new(bdf: Bdf, vendor: u16, device: u16) -> Self {
        FunctionId {
            bdf,
            ids: DeviceIds { vendor, device },
        }
    }
}

/// Formats as `0000:0d:00.0 [8086:0d93]`.
impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.bdf, self.ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays() {
        assert_eq!(ClientIdentity::guest("vm-a").to_string(), "guest:vm-a");
        assert_eq!(
            ClientIdentity::host_user(1000, 100).to_string(),
            "host:uid=1000,gid=100"
        );
        let function = FunctionId::new("0d:00.0".parse().unwrap(), 0x8086, 0x0d93);
        assert_eq!(function.to_string(), "0000:0d:00.0 [8086:0d93]");
    }

    #[test]
    fn group_membership_counts_primary_and_supplementary() {
        let user = HostUser {
            uid: 1000,
            gid: 100,
            groups: vec![27],
        };
        assert!(user.in_group(100));
        assert!(user.in_group(27));
        assert!(!user.in_group(0));
    }
}
