//! Access to a PCI function's configuration space, the only thing the DOE requester needs.
//!
//! Every transport (a sysfs `config` file, a VFIO device's config region, an emulated
//! function in memory) implements [`ConfigSpace`]; the mailbox driver and the capability
//! walk are written once against it. Accesses are whole, naturally aligned dwords because
//! the DOE mailbox registers only act on dword accesses (PCIe r6.0 §7.9.24).
//!
//! Transports here: [`SysfsConfig`] (a function's sysfs `config` file, or any file laid out
//! like one) and [`MemoryConfig`] (a plain 4 KiB space in memory, for tests). The emulated
//! DOE function in [`crate::emulated`] is a third.

mod memory;
mod sysfs;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

pub use memory::MemoryConfig;
pub use sysfs::{Access, SysfsConfig, SYSFS_PCI_DEVICES};

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
    /// Opening the config file failed for another reason than the two below.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The config file.
        path: PathBuf,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// The function does not exist (no such sysfs path, or the device was removed).
    #[error("no such PCI device: {}", path.display())]
    NoSuchDevice {
        /// The config file that was opened or accessed.
        path: PathBuf,
    },
    /// The caller may not open or access the config file (writes need root).
    #[error("permission denied on {} (DOE registers need root)", path.display())]
    PermissionDenied {
        /// The config file that was opened or accessed.
        path: PathBuf,
    },
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

/// A shared reference reaches the same config space.
impl<T: ConfigSpace + ?Sized> ConfigSpace for &T {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        (**self).read_u32(offset)
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        (**self).write_u32(offset, value)
    }
}

/// Several owners (e.g. one mailbox driver per DOE instance of a function) can share one
/// config space.
impl<T: ConfigSpace + ?Sized> ConfigSpace for Arc<T> {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        (**self).read_u32(offset)
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        (**self).write_u32(offset, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_must_be_aligned_dwords_inside_config_space() {
        assert!(check_offset(0).is_ok());
        assert!(check_offset(0xffc).is_ok());
        assert!(matches!(
            check_offset(0x102),
            Err(ConfigError::BadOffset(0x102))
        ));
        assert!(matches!(
            check_offset(0x1000),
            Err(ConfigError::BadOffset(0x1000))
        ));
        assert!(matches!(
            check_offset(0xfffe),
            Err(ConfigError::BadOffset(0xfffe))
        ));
    }
}
