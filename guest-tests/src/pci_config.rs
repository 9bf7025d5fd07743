//! A function's config space through its sysfs `config` file, with accesses of the
//! register's own width: the kernel turns a positioned read or write of 1, 2 or 4 bytes
//! into one config access of that size, so a 16-bit register (Command, MSI Message
//! Control) is written without touching its neighbour (e.g. Status, whose bits are
//! write-one-to-clear). Reading past the first 64 bytes and any write need root.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The Command register (16 bits).
pub const PCI_COMMAND: u16 = 0x04;
/// Command: Memory Space Enable.
pub const PCI_COMMAND_MEMORY: u16 = 1 << 1;
/// Command: Bus Master Enable (needed for a function's MSI writes).
pub const PCI_COMMAND_MASTER: u16 = 1 << 2;
/// Command: INTx Emulation Disable.
pub const PCI_COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// The Status register (16 bits).
pub const PCI_STATUS: u16 = 0x06;
/// Status: the function has a capability list.
pub const PCI_STATUS_CAP_LIST: u16 = 1 << 4;
/// The Capabilities Pointer (8 bits).
pub const PCI_CAPABILITY_LIST: u16 = 0x34;

/// The sysfs `config` file of one function.
#[derive(Debug)]
pub struct ConfigFile {
    file: File,
    path: PathBuf,
}

impl ConfigFile {
    /// Opens `path` (a function's sysfs `config`, or any file laid out like one) for
    /// reading and writing.
    pub fn open(path: &Path) -> Result<ConfigFile, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(ConfigFile {
            file,
            path: path.to_owned(),
        })
    }

    fn read<const N: usize>(&self, offset: u16) -> Result<[u8; N], String> {
        let mut bytes = [0u8; N];
        self.file
            .read_exact_at(&mut bytes, u64::from(offset))
            .map_err(|e| {
                format!(
                    "cannot read {N} bytes at {offset:#x} of {}: {e}",
                    self.path.display()
                )
            })?;
        Ok(bytes)
    }

    fn write(&self, offset: u16, bytes: &[u8]) -> Result<(), String> {
        self.file
            .write_all_at(bytes, u64::from(offset))
            .map_err(|e| {
                format!(
                    "cannot write {} bytes at {offset:#x} of {}: {e}",
                    bytes.len(),
                    self.path.display()
                )
            })
    }

    /// Reads the byte at `offset`.
    pub fn read_u8(&self, offset: u16) -> Result<u8, String> {
        Ok(self.read::<1>(offset)?[0])
    }

    /// Reads the 16-bit register at `offset` (one 2-byte access).
    pub fn read_u16(&self, offset: u16) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.read(offset)?))
    }

    /// Reads the 32-bit register at `offset` (one 4-byte access).
    pub fn read_u32(&self, offset: u16) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.read(offset)?))
    }

    /// Writes the 16-bit register at `offset` (one 2-byte access).
    pub fn write_u16(&self, offset: u16, value: u16) -> Result<(), String> {
        self.write(offset, &value.to_le_bytes())
    }

    /// Writes the 32-bit register at `offset` (one 4-byte access).
    pub fn write_u32(&self, offset: u16, value: u32) -> Result<(), String> {
        self.write(offset, &value.to_le_bytes())
    }

    /// The offset of the first capability with ID `id` in the standard capability list,
    /// or `None` if the function has none (or no list). A list that loops or points into
    /// the header is an error.
    pub fn find_capability(&self, id: u8) -> Result<Option<u16>, String> {
        /// Capabilities live in the 192 bytes after the header; each takes at least 4.
        const MAX_CAPABILITIES: usize = 48;
        /// The header's end: no capability starts below it.
        const HEADER_END: u16 = 0x40;
        if self.read_u16(PCI_STATUS)? & PCI_STATUS_CAP_LIST == 0 {
            return Ok(None);
        }
        let mut at = u16::from(self.read_u8(PCI_CAPABILITY_LIST)? & !0b11);
        for _ in 0..MAX_CAPABILITIES {
            if at == 0 {
                return Ok(None);
            }
            if at < HEADER_END {
                return Err(format!(
                    "{}: capability pointer {at:#x} points into the header",
                    self.path.display()
                ));
            }
            if self.read_u8(at)? == id {
                return Ok(Some(at));
            }
            at = u16::from(self.read_u8(at + 1)? & !0b11);
        }
        Err(format!(
            "{}: the capability list does not end after {MAX_CAPABILITIES} entries",
            self.path.display()
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A 256-byte config space in a temporary file, removed on drop.
    pub(crate) struct FakeConfig(pub(crate) PathBuf);

    impl FakeConfig {
        /// A file holding `bytes` (padded with zeroes to 256).
        pub(crate) fn new(bytes: &[(u16, &[u8])]) -> FakeConfig {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "guest-tests-config-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let mut space = vec![0u8; 256];
            for (at, b) in bytes {
                let at = usize::from(*at);
                space[at..at + b.len()].copy_from_slice(b);
            }
            std::fs::write(&path, space).unwrap();
            FakeConfig(path)
        }
    }

    impl Drop for FakeConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Status with a capability list, a vendor capability at 0x40 and MSI (ID 5) at 0x50.
    fn two_capabilities() -> FakeConfig {
        FakeConfig::new(&[
            (PCI_STATUS, &[0x10, 0]),
            (PCI_CAPABILITY_LIST, &[0x40]),
            (0x40, &[0x09, 0x50]),
            (0x50, &[0x05, 0x00, 0x80, 0x00]),
        ])
    }

    #[test]
    fn registers_are_read_and_written_with_their_width() {
        let fake = two_capabilities();
        let cfg = ConfigFile::open(&fake.0).unwrap();
        assert_eq!(cfg.read_u16(0x52).unwrap(), 0x0080);
        cfg.write_u16(0x52, 0x0081).unwrap();
        cfg.write_u32(0x54, 0xfee0_0000).unwrap();
        assert_eq!(cfg.read_u32(0x50).unwrap(), 0x0081_0005);
        assert_eq!(cfg.read_u32(0x54).unwrap(), 0xfee0_0000);
        assert_eq!(cfg.read_u8(0x57).unwrap(), 0xfe);
        assert!(cfg
            .read_u32(0x1000)
            .unwrap_err()
            .contains("cannot read 4 bytes at 0x1000"));
    }

    #[test]
    fn capabilities_are_found_in_the_list() {
        let fake = two_capabilities();
        let cfg = ConfigFile::open(&fake.0).unwrap();
        assert_eq!(cfg.find_capability(0x05).unwrap(), Some(0x50));
        assert_eq!(cfg.find_capability(0x09).unwrap(), Some(0x40));
        assert_eq!(cfg.find_capability(0x11).unwrap(), None);
    }

    #[test]
    fn a_missing_or_broken_list_is_handled() {
        let none = FakeConfig::new(&[(PCI_CAPABILITY_LIST, &[0x40]), (0x40, &[0x05, 0])]);
        let cfg = ConfigFile::open(&none.0).unwrap();
        assert_eq!(cfg.find_capability(0x05).unwrap(), None);

        let looped = FakeConfig::new(&[
            (PCI_STATUS, &[0x10, 0]),
            (PCI_CAPABILITY_LIST, &[0x40]),
            (0x40, &[0x09, 0x40]),
        ]);
        let cfg = ConfigFile::open(&looped.0).unwrap();
        assert!(cfg
            .find_capability(0x05)
            .unwrap_err()
            .contains("does not end"));

        let header = FakeConfig::new(&[(PCI_STATUS, &[0x10, 0]), (PCI_CAPABILITY_LIST, &[0x10])]);
        let cfg = ConfigFile::open(&header.0).unwrap();
        assert!(cfg
            .find_capability(0x05)
            .unwrap_err()
            .contains("into the header"));
    }

    #[test]
    fn a_missing_file_is_one_error() {
        let e = ConfigFile::open(Path::new("/nonexistent/config")).unwrap_err();
        assert!(e.starts_with("cannot open /nonexistent/config"), "{e}");
    }
}
