//! The root bus (segment 0, bus 0): routes config accesses to the functions on it and tells
//! the caller which BAR windows moved.

use std::collections::BTreeMap;

use devices::pci::{BarRange, PciDevice};

use super::address::{access_ok, ConfigAddress};

/// Errors adding functions.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PciBusError {
    /// The slot is taken.
    #[error("PCI device {device:02x}.{function} is already in use")]
    Occupied {
        /// Device number.
        device: u8,
        /// Function number.
        function: u8,
    },
    /// All 32 device numbers are taken.
    #[error("the PCI root bus is full")]
    Full,
}

/// A BAR window that appeared or disappeared after a config write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarChange {
    /// The window stopped decoding: remove its trap.
    Unmap {
        /// Function (`device << 3 | function`).
        devfn: u8,
        /// The window as it was.
        bar: BarRange,
    },
    /// The window started decoding: add a trap.
    Map {
        /// Function.
        devfn: u8,
        /// The window as it is now.
        bar: BarRange,
    },
}

struct Function {
    device: Box<dyn PciDevice>,
    bars: Vec<BarRange>,
}

/// The functions on bus 0, by `devfn`.
#[derive(Default)]
pub struct PciBus {
    functions: BTreeMap<u8, Function>,
}

impl std::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PciBus")
            .field("devfns", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The changes that turn the windows `old` into `new` (removals first).
pub fn diff_bars(devfn: u8, old: &[BarRange], new: &[BarRange]) -> Vec<BarChange> {
    let unmaps = old
        .iter()
        .filter(|b| !new.contains(b))
        .map(|bar| BarChange::Unmap { devfn, bar: *bar });
    let maps = new
        .iter()
        .filter(|b| !old.contains(b))
        .map(|bar| BarChange::Map { devfn, bar: *bar });
    unmaps.chain(maps).collect()
}

impl PciBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `device` at `devfn`.
    pub fn add(&mut self, devfn: u8, device: Box<dyn PciDevice>) -> Result<(), PciBusError> {
        if self.functions.contains_key(&devfn) {
            return Err(PciBusError::Occupied {
                device: devfn >> 3,
                function: devfn & 7,
            });
        }
        let bars = device.bar_ranges();
        self.functions.insert(devfn, Function { device, bars });
        Ok(())
    }

    /// The lowest device number with no function 0.
    pub fn free_device(&self) -> Result<u8, PciBusError> {
        (0u8..32)
            .find(|d| !self.functions.contains_key(&(d << 3)))
            .ok_or(PciBusError::Full)
    }

    /// The BARs that currently decode, by function (what is mapped after boot).
    pub fn bar_ranges(&self) -> Vec<(u8, BarRange)> {
        self.functions
            .iter()
            .flat_map(|(devfn, f)| f.bars.iter().map(move |b| (*devfn, *b)))
            .collect()
    }

    fn function(&mut self, addr: &ConfigAddress, len: usize) -> Option<&mut Function> {
        if addr.bus != 0 || !access_ok(addr.register, len) {
            return None;
        }
        self.functions.get_mut(&addr.devfn())
    }

    /// A config read; absent functions and malformed accesses read as all ones.
    pub fn read_config(&mut self, addr: ConfigAddress, data: &mut [u8]) {
        match self.function(&addr, data.len()) {
            Some(f) => f.device.read_config(addr.register, data),
            None => data.fill(0xff),
        }
    }

    /// A config write; returns how the function's BAR windows changed.
    pub fn write_config(&mut self, addr: ConfigAddress, data: &[u8]) -> Vec<BarChange> {
        let Some(f) = self.function(&addr, data.len()) else {
            return Vec::new();
        };
        f.device.write_config(addr.register, data);
        let new = f.device.bar_ranges();
        if new == f.bars {
            return Vec::new();
        }
        let changes = diff_bars(addr.devfn(), &f.bars, &new);
        f.bars = new;
        changes
    }

    /// A trapped BAR read.
    pub fn read_bar(&mut self, devfn: u8, index: u8, offset: u64, data: &mut [u8]) {
        match self.functions.get_mut(&devfn) {
            Some(f) => f.device.read_bar(index, offset, data),
            None => data.fill(0xff),
        }
    }

    /// A trapped BAR write.
    pub fn write_bar(&mut self, devfn: u8, index: u8, offset: u64, data: &[u8]) {
        if let Some(f) = self.functions.get_mut(&devfn) {
            f.device.write_bar(index, offset, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::mock::MockFunction;
    use devices::pci::BarKind;

    fn at(device: u8, register: u16) -> ConfigAddress {
        ConfigAddress {
            bus: 0,
            device,
            function: 0,
            register,
        }
    }

    #[test]
    fn routes_by_devfn_and_reads_all_ones_elsewhere() {
        let mut bus = PciBus::new();
        bus.add(3 << 3, Box::new(MockFunction::new(0x1234, 0x5678)))
            .unwrap();
        let mut d = [0u8; 4];
        bus.read_config(at(3, 0), &mut d);
        assert_eq!(u32::from_le_bytes(d), 0x5678_1234);
        bus.read_config(at(4, 0), &mut d);
        assert_eq!(d, [0xff; 4]);
        bus.read_config(ConfigAddress { bus: 1, ..at(3, 0) }, &mut d);
        assert_eq!(d, [0xff; 4], "other buses are empty");
        bus.read_config(at(3, 2), &mut d);
        assert_eq!(d, [0xff; 4], "misaligned");
        let mut w = [0u8; 2];
        bus.read_config(at(3, 2), &mut w);
        assert_eq!(u16::from_le_bytes(w), 0x5678);
    }

    #[test]
    fn reports_bar_moves() {
        let mut bus = PciBus::new();
        bus.add(1 << 3, Box::new(MockFunction::new(1, 2))).unwrap();
        // The mock decodes BAR0 (4 KiB) once the BAR and Command are written.
        assert!(bus
            .write_config(at(1, 0x10), &0xc000_0000u32.to_le_bytes())
            .is_empty());
        let ch = bus.write_config(at(1, 4), &2u16.to_le_bytes());
        let bar0 = BarRange {
            index: 0,
            kind: BarKind::Mmio32,
            base: 0xc000_0000,
            size: 0x1000,
            prefetchable: false,
        };
        assert_eq!(
            ch,
            vec![BarChange::Map {
                devfn: 8,
                bar: bar0
            }]
        );
        let ch = bus.write_config(at(1, 0x10), &0xc000_1000u32.to_le_bytes());
        let moved = BarRange {
            base: 0xc000_1000,
            ..bar0
        };
        assert_eq!(
            ch,
            vec![
                BarChange::Unmap {
                    devfn: 8,
                    bar: bar0
                },
                BarChange::Map {
                    devfn: 8,
                    bar: moved
                }
            ]
        );
        assert_eq!(bus.bar_ranges(), vec![(8, moved)]);
        let ch = bus.write_config(at(1, 4), &0u16.to_le_bytes());
        assert_eq!(
            ch,
            vec![BarChange::Unmap {
                devfn: 8,
                bar: moved
            }]
        );
    }

    #[test]
    fn slots() {
        let mut bus = PciBus::new();
        assert_eq!(bus.free_device(), Ok(0));
        bus.add(0, Box::new(MockFunction::new(1, 2))).unwrap();
        assert_eq!(bus.free_device(), Ok(1));
        assert_eq!(
            bus.add(0, Box::new(MockFunction::new(1, 2))),
            Err(PciBusError::Occupied {
                device: 0,
                function: 0
            })
        );
    }
}
