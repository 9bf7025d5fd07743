//! Config space through a sysfs `config` file (`/sys/bus/pci/devices/<BDF>/config`).
//!
//! The kernel turns each positioned read or write of that file into config accesses of
//! the same width, so a 4-byte `pread`/`pwrite` at a dword-aligned offset is one dword
//! access, which is what the DOE registers need. Unprivileged readers only see the first
//! 64 bytes (reads past them return nothing: [`ConfigError::Short`]), and writes need root.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{check_offset, ConfigError, ConfigSpace};
use crate::pci_address::Bdf;

/// Where Linux lists PCI functions, one directory per [`Bdf`].
pub const SYSFS_PCI_DEVICES: &str = "/sys/bus/pci/devices";
/// The config-space file inside a function's sysfs directory.
const CONFIG_FILE: &str = "config";
/// Bytes in one config access.
const DWORD_BYTES: usize = 4;
/// Linux `ENODEV` (`include/uapi/asm-generic/errno-base.h`): what accesses to the config
/// file of a function that was hot-removed fail with. `std` files it as `Uncategorized`.
const ENODEV: i32 = 19;

/// How a config file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: enough to walk capabilities, and allowed to any user for the first
    /// 64 bytes.
    ReadOnly,
    /// Reads and writes: needed to drive a DOE mailbox; root only.
    ReadWrite,
}

/// A function's config space reached through a file laid out like sysfs `config`.
#[derive(Debug)]
pub struct SysfsConfig {
    file: File,
    path: PathBuf,
}

impl SysfsConfig {
    /// Opens the sysfs `config` file of the function at `bdf`.
    pub fn open(bdf: &Bdf, access: Access) -> Result<Self, ConfigError> {
        let path = Path::new(SYSFS_PCI_DEVICES)
            .join(bdf.to_string())
            .join(CONFIG_FILE);
        Self::open_path(path, access)
    }

    /// Opens any file laid out like a config space (tests use a temporary file).
    pub fn open_path(path: impl Into<PathBuf>, access: Access) -> Result<Self, ConfigError> {
        let path = path.into();
        let file = OpenOptions::new()
            .read(true)
            .write(access == Access::ReadWrite)
            .open(&path)
            .map_err(|source| classify(&path, None, source))?;
        Ok(SysfsConfig { file, path })
    }

    /// The file this config space is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Sorts an I/O error into the [`ConfigError`] a caller can act on. `offset` is `None`
/// while opening.
fn classify(path: &Path, offset: Option<u16>, source: io::Error) -> ConfigError {
    match source.kind() {
        io::ErrorKind::NotFound => ConfigError::NoSuchDevice {
            path: path.to_owned(),
        },
        io::ErrorKind::PermissionDenied => ConfigError::PermissionDenied {
            path: path.to_owned(),
        },
        _ if source.raw_os_error() == Some(ENODEV) => ConfigError::NoSuchDevice {
            path: path.to_owned(),
        },
        _ => match offset {
            Some(offset) => ConfigError::Io { offset, source },
            None => ConfigError::Open {
                path: path.to_owned(),
                source,
            },
        },
    }
}

impl ConfigSpace for SysfsConfig {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        check_offset(offset)?;
        let mut bytes = [0u8; DWORD_BYTES];
        let n = self
            .file
            .read_at(&mut bytes, u64::from(offset))
            .map_err(|e| classify(&self.path, Some(offset), e))?;
        if n != DWORD_BYTES {
            return Err(ConfigError::Short(offset));
        }
        Ok(u32::from_le_bytes(bytes))
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        check_offset(offset)?;
        let n = self
            .file
            .write_at(&value.to_le_bytes(), u64::from(offset))
            .map_err(|e| classify(&self.path, Some(offset), e))?;
        if n != DWORD_BYTES {
            return Err(ConfigError::Short(offset));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_space::CONFIG_SPACE_SIZE;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary file removed on drop (no extra crate for one helper).
    struct TempFile(PathBuf);

    impl TempFile {
        fn with_len(len: usize) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "doe-proxy-sysfs-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, vec![0u8; len]).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn writes_and_reads_little_endian_dwords() {
        let tmp = TempFile::with_len(usize::from(CONFIG_SPACE_SIZE));
        let cfg = SysfsConfig::open_path(&tmp.0, Access::ReadWrite).unwrap();
        cfg.write_u32(0x190, 0x1234_5678).unwrap();
        assert_eq!(cfg.read_u32(0x190).unwrap(), 0x1234_5678);
        let bytes = std::fs::read(&tmp.0).unwrap();
        assert_eq!(&bytes[0x190..0x194], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(cfg.read_u32(0x194).unwrap(), 0);
        assert_eq!(cfg.path(), tmp.0.as_path());
    }

    #[test]
    fn a_file_shorter_than_config_space_gives_short_reads() {
        // What an unprivileged reader of sysfs `config` sees past byte 64.
        let tmp = TempFile::with_len(64);
        let cfg = SysfsConfig::open_path(&tmp.0, Access::ReadOnly).unwrap();
        assert_eq!(cfg.read_u32(0x3c).unwrap(), 0);
        assert!(matches!(
            cfg.read_u32(0x100),
            Err(ConfigError::Short(0x100))
        ));
    }

    #[test]
    fn bad_offsets_are_refused_before_any_io() {
        let tmp = TempFile::with_len(usize::from(CONFIG_SPACE_SIZE));
        let cfg = SysfsConfig::open_path(&tmp.0, Access::ReadWrite).unwrap();
        assert!(matches!(
            cfg.read_u32(0x101),
            Err(ConfigError::BadOffset(0x101))
        ));
        assert!(matches!(
            cfg.write_u32(0x1000, 0),
            Err(ConfigError::BadOffset(0x1000))
        ));
    }

    #[test]
    fn a_missing_function_is_no_such_device() {
        let path = std::env::temp_dir().join("doe-proxy-no-such-function/config");
        match SysfsConfig::open_path(&path, Access::ReadOnly) {
            Err(ConfigError::NoSuchDevice { path: p }) => assert_eq!(p, path),
            other => panic!("expected NoSuchDevice, got {other:?}"),
        }
    }

    #[test]
    fn io_errors_are_classified() {
        let path = Path::new("/x/config");
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(matches!(
            classify(path, Some(8), denied),
            ConfigError::PermissionDenied { .. }
        ));
        let removed = io::Error::from_raw_os_error(ENODEV);
        assert!(matches!(
            classify(path, Some(8), removed),
            ConfigError::NoSuchDevice { .. }
        ));
        let other = io::Error::from(io::ErrorKind::Interrupted);
        assert!(matches!(
            classify(path, Some(8), other),
            ConfigError::Io { offset: 8, .. }
        ));
        let other = io::Error::from(io::ErrorKind::Interrupted);
        assert!(matches!(
            classify(path, None, other),
            ConfigError::Open { .. }
        ));
    }

    #[test]
    fn writing_through_a_read_only_handle_fails() {
        let tmp = TempFile::with_len(usize::from(CONFIG_SPACE_SIZE));
        let cfg = SysfsConfig::open_path(&tmp.0, Access::ReadOnly).unwrap();
        assert!(matches!(
            cfg.write_u32(0x100, 1),
            Err(ConfigError::Io { offset: 0x100, .. })
        ));
    }
}
