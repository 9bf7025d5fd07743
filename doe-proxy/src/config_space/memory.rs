//! A plain 4 KiB config space in memory, for tests and as the backing store of emulated
//! functions. Every dword reads back what was last written; nothing is read-only.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{check_offset, ConfigError, ConfigSpace, CONFIG_SPACE_SIZE};
use crate::ext_cap::{self, ExtCapError};

/// Dwords in config space.
const DWORDS: usize = CONFIG_SPACE_SIZE as usize / 4;
/// Vendor ID (bits 15:0) and Device ID (bits 31:16) register (PCIe r6.0 §7.5.1.1.1–2).
const ID_REGISTER: u16 = 0x00;
/// Device ID bits within the ID register.
const DEVICE_ID_SHIFT: u32 = 16;

/// A 4 KiB config space held in memory (interior mutability, as [`ConfigSpace`] takes
/// `&self`).
#[derive(Debug)]
pub struct MemoryConfig {
    dwords: Mutex<Vec<u32>>,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryConfig {
    /// An all-zero config space (no extended capabilities).
    pub fn new() -> Self {
        MemoryConfig {
            dwords: Mutex::new(vec![0; DWORDS]),
        }
    }

    /// An all-zero config space with the given Vendor and Device IDs.
    pub fn with_ids(vendor: u16, device: u16) -> Self {
        let cfg = Self::new();
        cfg.set_ids(vendor, device);
        cfg
    }

    /// Sets the Vendor and Device IDs.
    pub fn set_ids(&self, vendor: u16, device: u16) {
        self.set_u32(
            ID_REGISTER,
            u32::from(vendor) | (u32::from(device) << DEVICE_ID_SHIFT),
        );
    }

    /// Links a capability header at `offset` to the end of the extended capability list
    /// (see [`ext_cap::append`]); the body is left as it is.
    pub fn add_ext_capability(&self, id: u16, version: u8, offset: u16) -> Result<(), ExtCapError> {
        ext_cap::append(self, id, version, offset)
    }

    /// Sets a dword directly. Panics on an unaligned or out-of-range offset (a bug in the
    /// test that calls it).
    pub fn set_u32(&self, offset: u16, value: u32) {
        self.lock()[Self::index(offset)] = value;
    }

    /// Gets a dword directly. Panics on an unaligned or out-of-range offset.
    pub fn get_u32(&self, offset: u16) -> u32 {
        self.lock()[Self::index(offset)]
    }

    fn index(offset: u16) -> usize {
        check_offset(offset).expect("test helper given a bad config offset");
        usize::from(offset / 4)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u32>> {
        // A panic while holding the lock cannot leave a dword half-written.
        self.dwords.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ConfigSpace for MemoryConfig {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        check_offset(offset)?;
        Ok(self.lock()[usize::from(offset / 4)])
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        check_offset(offset)?;
        self.lock()[usize::from(offset / 4)] = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_cap::{find_doe_mailboxes, EXT_CAP_ID_DOE};

    #[test]
    fn ids_and_round_trip() {
        let cfg = MemoryConfig::with_ids(0x8086, 0x0d93);
        assert_eq!(cfg.read_u32(0).unwrap(), 0x0d93_8086);
        cfg.write_u32(0xffc, 0xdead_beef).unwrap();
        assert_eq!(cfg.get_u32(0xffc), 0xdead_beef);
        assert!(matches!(
            cfg.read_u32(0x1000),
            Err(ConfigError::BadOffset(0x1000))
        ));
        assert!(matches!(
            cfg.write_u32(2, 0),
            Err(ConfigError::BadOffset(2))
        ));
    }

    #[test]
    fn capability_chain_helper() {
        let cfg = MemoryConfig::new();
        cfg.add_ext_capability(EXT_CAP_ID_DOE, 1, 0x100).unwrap();
        cfg.add_ext_capability(EXT_CAP_ID_DOE, 1, 0x200).unwrap();
        assert_eq!(find_doe_mailboxes(&cfg).unwrap(), vec![0x100, 0x200]);
    }
}
