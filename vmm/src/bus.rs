//! An address-range bus that dispatches port I/O or MMIO exits to devices.
//!
//! A lookup clones the device's `Arc` and drops the bus lock before calling the device, so a
//! device may change the bus it sits on (the PCI config handlers map BARs that way).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// A device on a [`Bus`]. Offsets are relative to the base it was inserted at.
pub trait BusDevice: Send {
    /// Reads `data.len()` bytes at `offset`.
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// Writes `data` at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// A shared bus device.
pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

/// Errors changing a bus.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The range overlaps a device already there, or is empty or wraps.
    #[error("{bus} range {base:#x}+{len:#x} is empty or overlaps another device")]
    Overlap {
        /// Which bus.
        bus: &'static str,
        /// Base asked for.
        base: u64,
        /// Length asked for.
        len: u64,
    },
    /// No device starts at that base.
    #[error("no device at {bus} {base:#x}")]
    NotFound {
        /// Which bus.
        bus: &'static str,
        /// The base.
        base: u64,
    },
}

struct Entry {
    len: u64,
    device: SharedDevice,
}

/// A set of non-overlapping `[base, base + len)` ranges, each owned by one device.
pub struct Bus {
    name: &'static str,
    ranges: RwLock<BTreeMap<u64, Entry>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// An empty bus; `name` appears in errors and logs ("pio", "mmio").
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            ranges: RwLock::new(BTreeMap::new()),
        }
    }

    /// The bus's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Puts `device` at `[base, base + len)`.
    pub fn insert(&self, base: u64, len: u64, device: SharedDevice) -> Result<(), BusError> {
        let overlap = BusError::Overlap {
            bus: self.name,
            base,
            len,
        };
        let end = base
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(overlap.clone())?;
        let mut ranges = self.ranges.write().unwrap_or_else(|e| e.into_inner());
        if let Some((b, e)) = ranges.range(..end).next_back() {
            if b + e.len > base {
                return Err(overlap);
            }
        }
        ranges.insert(base, Entry { len, device });
        Ok(())
    }

    /// Removes the device whose range starts at `base`.
    pub fn remove(&self, base: u64) -> Result<(), BusError> {
        let mut ranges = self.ranges.write().unwrap_or_else(|e| e.into_inner());
        ranges.remove(&base).map(|_| ()).ok_or(BusError::NotFound {
            bus: self.name,
            base,
        })
    }

    fn resolve(&self, addr: u64, len: usize) -> Option<(SharedDevice, u64)> {
        let ranges = self.ranges.read().unwrap_or_else(|e| e.into_inner());
        let (base, entry) = ranges.range(..=addr).next_back()?;
        let offset = addr - base;
        (offset.checked_add(len as u64)? <= entry.len).then(|| (entry.device.clone(), offset))
    }

    /// Dispatches a read; `false` if no device covers the whole access.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.resolve(addr, data.len()) {
            Some((dev, offset)) => {
                dev.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .read(offset, data);
                true
            }
            None => false,
        }
    }

    /// Dispatches a write; `false` if no device covers the whole access.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.resolve(addr, data.len()) {
            Some((dev, offset)) => {
                dev.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .write(offset, data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Vec<(u64, Vec<u8>)>);

    impl BusDevice for Recorder {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.0.push((offset, data.to_vec()));
        }
    }

    #[test]
    fn dispatches_by_range_with_offsets() {
        let bus = Bus::new("pio");
        let dev = Arc::new(Mutex::new(Recorder::default()));
        bus.insert(0x3f8, 8, dev.clone()).unwrap();
        let mut b = [0u8; 1];
        assert!(bus.read(0x3fd, &mut b));
        assert_eq!(b, [5]);
        assert!(bus.write(0x3f8, &[0x41]));
        assert!(!bus.write(0x400, &[0]));
        assert!(!bus.read(0x3ff, &mut [0u8; 2]), "access crossing the end");
        assert_eq!(dev.lock().unwrap().0, vec![(0, vec![0x41])]);
    }

    #[test]
    fn rejects_overlaps_and_removes() {
        let bus = Bus::new("mmio");
        let d = || -> SharedDevice { Arc::new(Mutex::new(Recorder::default())) };
        bus.insert(0x1000, 0x1000, d()).unwrap();
        assert!(bus.insert(0x1fff, 1, d()).is_err());
        assert!(bus.insert(0x800, 0x801, d()).is_err());
        assert!(bus.insert(0x1000, 0, d()).is_err());
        assert!(bus.insert(u64::MAX, 2, d()).is_err());
        bus.insert(0x2000, 0x10, d()).unwrap();
        bus.insert(0x800, 0x800, d()).unwrap();
        bus.remove(0x1000).unwrap();
        assert_eq!(
            bus.remove(0x1000),
            Err(BusError::NotFound {
                bus: "mmio",
                base: 0x1000
            })
        );
        assert!(!bus.read(0x1000, &mut [0u8; 4]));
    }
}
