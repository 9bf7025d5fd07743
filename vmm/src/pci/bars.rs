//! Traps for BAR windows: when a function's BAR starts or stops decoding, its range is added
//! to or removed from the port or MMIO bus, inside the windows the DSDT gives the guest.

use std::sync::{Arc, Mutex, Weak};

use devices::pci::{BarKind, BarRange};

use super::bus::{BarChange, PciBus};
use crate::bus::{Bus, BusDevice};

/// One BAR window on a bus, forwarding to its function.
struct BarTrap {
    pci: Arc<Mutex<PciBus>>,
    devfn: u8,
    index: u8,
}

impl BusDevice for BarTrap {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        self.pci
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read_bar(self.devfn, self.index, offset, data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.pci
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_bar(self.devfn, self.index, offset, data);
    }
}

/// The address windows BARs may decode in: `(base, size)` each.
#[derive(Debug, Clone, Default)]
pub struct BarWindows {
    /// Memory windows (32-bit and 64-bit).
    pub mmio: Vec<(u64, u64)>,
    /// I/O port windows.
    pub io: Vec<(u64, u64)>,
}

impl BarWindows {
    /// Whether `bar` lies entirely inside one window of its kind.
    pub fn contains(&self, bar: &BarRange) -> bool {
        let windows = match bar.kind {
            BarKind::Io => &self.io,
            BarKind::Mmio32 | BarKind::Mmio64 => &self.mmio,
        };
        let Some(end) = bar.base.checked_add(bar.size) else {
            return false;
        };
        windows.iter().any(|(b, s)| bar.base >= *b && end <= b + s)
    }
}

/// Applies [`BarChange`]s to the buses. Holds the buses weakly: the buses hold the config
/// handlers that hold this.
#[derive(Debug, Clone)]
pub struct BarMapper {
    pci: Weak<Mutex<PciBus>>,
    mmio: Weak<Bus>,
    pio: Weak<Bus>,
    windows: BarWindows,
}

impl BarMapper {
    /// A mapper for the functions of `pci`, trapping on `mmio` and `pio`.
    pub fn new(
        pci: &Arc<Mutex<PciBus>>,
        mmio: &Arc<Bus>,
        pio: &Arc<Bus>,
        windows: BarWindows,
    ) -> Self {
        Self {
            pci: Arc::downgrade(pci),
            mmio: Arc::downgrade(mmio),
            pio: Arc::downgrade(pio),
            windows,
        }
    }

    /// Applies `changes` in order. Guest-programmed BARs outside the windows or over other
    /// devices are left unmapped, with a rate-limited warning.
    pub fn apply(&self, changes: &[BarChange]) {
        let (Some(pci), Some(mmio), Some(pio)) =
            (self.pci.upgrade(), self.mmio.upgrade(), self.pio.upgrade())
        else {
            return;
        };
        for change in changes {
            let (devfn, bar) = match change {
                BarChange::Unmap { devfn, bar } | BarChange::Map { devfn, bar } => (*devfn, *bar),
            };
            let bus = if bar.kind == BarKind::Io { &pio } else { &mmio };
            match change {
                BarChange::Unmap { .. } => {
                    // Not mapped if it was refused when it appeared; nothing to undo then.
                    let _ = bus.remove(bar.base);
                }
                BarChange::Map { .. } => {
                    if !self.windows.contains(&bar) {
                        crate::warn_ratelimited!(
                            "pci {:02x}.{}: BAR{} at {:#x}+{:#x} is outside the host bridge windows; not mapped",
                            devfn >> 3, devfn & 7, bar.index, bar.base, bar.size
                        );
                        continue;
                    }
                    let trap = Arc::new(Mutex::new(BarTrap {
                        pci: pci.clone(),
                        devfn,
                        index: bar.index,
                    }));
                    if let Err(e) = bus.insert(bar.base, bar.size, trap) {
                        crate::warn_ratelimited!(
                            "pci {:02x}.{}: BAR{}: {e}; not mapped",
                            devfn >> 3,
                            devfn & 7,
                            bar.index
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::mock::MockFunction;

    fn bar(kind: BarKind, base: u64, size: u64) -> BarRange {
        BarRange {
            index: 0,
            kind,
            base,
            size,
            prefetchable: false,
        }
    }

    #[test]
    fn windows_bound_bars() {
        let w = BarWindows {
            mmio: vec![(0xc000_0000, 0x2000_0000)],
            io: vec![(0x1000, 0xf000)],
        };
        assert!(w.contains(&bar(BarKind::Mmio32, 0xc000_0000, 0x1000)));
        assert!(!w.contains(&bar(BarKind::Mmio64, 0xdfff_f000, 0x2000)));
        assert!(w.contains(&bar(BarKind::Io, 0x1000, 0x100)));
        assert!(!w.contains(&bar(BarKind::Io, 0xc000_0000, 0x100)));
        assert!(!w.contains(&bar(BarKind::Mmio64, u64::MAX - 1, 0x1000)));
    }

    #[test]
    fn maps_moves_and_unmaps_traps() {
        let pci = Arc::new(Mutex::new(PciBus::new()));
        pci.lock()
            .unwrap()
            .add(8, Box::new(MockFunction::new(1, 2)))
            .unwrap();
        let (mmio, pio) = (Arc::new(Bus::new("mmio")), Arc::new(Bus::new("pio")));
        let w = BarWindows {
            mmio: vec![(0xc000_0000, 0x2000_0000)],
            io: vec![],
        };
        let m = BarMapper::new(&pci, &mmio, &pio, w);
        let b = bar(BarKind::Mmio32, 0xc000_0000, 0x1000);
        m.apply(&[BarChange::Map { devfn: 8, bar: b }]);
        let mut d = [0u8; 1];
        assert!(mmio.read(0xc000_0010, &mut d));
        assert_eq!(d, [0x10], "mock answers index + offset");
        m.apply(&[BarChange::Unmap { devfn: 8, bar: b }]);
        assert!(!mmio.read(0xc000_0010, &mut d));
        m.apply(&[BarChange::Map {
            devfn: 8,
            bar: bar(BarKind::Mmio32, 0x1000, 0x1000),
        }]);
        assert!(!mmio.read(0x1000, &mut d), "outside the windows");
    }
}
