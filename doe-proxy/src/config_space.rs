//! Access to a PCI function's configuration space, the only thing the DOE requester needs.
//!
//! Every transport (a sysfs `config` file, a VFIO device's config region, an emulated
//! function in memory) implements [`ConfigSpace`]; the mailbox driver and the capability
//! walk are written once against it. Accesses are whole, naturally aligned dwords because
//! the DOE mailbox registers only act on dword accesses (PCIe r6.0 §7.9.24).

use std::io;

/// Size of PCIe configuration space, extended space included.
pub const CONFIG_SPACE_SIZE: u16 = 4096;

/// A failed configuration-space access.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The offset is not dword-aligned or lies outside the 4 KiB config space.
    #[error("config space offset {0:#x} is unaligned or out of range")]
    BadOffset(u16),
    /// Reading or writing the underlying file failed.
    #[error("config space access at {offset:#x} failed: {source}")]
    Io {
        /// The offset accessed.
        offset: u16,
        /// The error from the transport.
        #[source]
        source: io::Error,
    },
    /// Fewer bytes than a dword were transferred (e.g. an unprivileged reader of sysfs
    /// `config` only sees the first 64 bytes).
    #[error(
        "short config space access at {0:#x} (is extended config space readable? try as root)"
    )]
    Short(u16),
}

/// Dword access to one function's configuration space.
pub trait ConfigSpace {
    /// Reads the dword at `offset` (dword-aligned, below [`CONFIG_SPACE_SIZE`]).
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError>;
    /// Writes the dword at `offset` (dword-aligned, below [`CONFIG_SPACE_SIZE`]).
    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError>;
}

/// Checks that `offset` names a whole dword inside config space.
pub fn check_offset(offset: u16) -> Result<(), ConfigError> {
    if offset % 4 != 0 || offset > CONFIG_SPACE_SIZE - 4 {
        return Err(ConfigError::BadOffset(offset));
    }
    Ok(())
}
