//! Traps for BAR windows: when a function's BAR starts or stops decoding, its range is added
//! to or removed from the port or MMIO bus, inside the windows the DSDT gives the guest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

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

/// Told when a function's BAR starts or stops decoding, after the bus trap is in place
/// (or before it goes): how an assigned function maps its BARs straight into the guest.
pub trait BarListener: Send + Sync {
    /// `bar` now decodes (and is trapped on its bus).
    fn bar_mapped(&self, bar: &BarRange);
    /// `bar` no longer decodes.
    fn bar_unmapped(&self, bar: &BarRange);
}

/// The listeners, by `devfn`.
#[derive(Clone, Default)]
struct Listeners(Arc<RwLock<BTreeMap<u8, Arc<dyn BarListener>>>>);

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_list().entries(map.keys()).finish()
    }
}

impl Listeners {
    fn get(&self, devfn: u8) -> Option<Arc<dyn BarListener>> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&devfn).cloned()
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
    listeners: Listeners,
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
            listeners: Listeners::default(),
        }
    }

    /// Tells `listener` about every BAR of `devfn` that starts or stops decoding (shared by
    /// every clone of this mapper).
    pub fn listen(&self, devfn: u8, listener: Arc<dyn BarListener>) {
        let mut map = self
            .listeners
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.insert(devfn, listener);
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
            let listener = self.listeners.get(devfn);
            match change {
                BarChange::Unmap { .. } => {
                    if let Some(l) = &listener {
                        l.bar_unmapped(&bar);
                    }
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
                    match bus.insert(bar.base, bar.size, trap) {
                        Ok(()) => {
                            if let Some(l) = &listener {
                                l.bar_mapped(&bar);
                            }
                        }
                        Err(e) => crate::warn_ratelimited!(
                            "pci {:02x}.{}: BAR{}: {e}; not mapped",
                            devfn >> 3,
                            devfn & 7,
                            bar.index
                        ),
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

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(bool, u64)>>);

    impl BarListener for Recorder {
        fn bar_mapped(&self, bar: &BarRange) {
            self.0.lock().unwrap().push((true, bar.base));
        }
        fn bar_unmapped(&self, bar: &BarRange) {
            self.0.lock().unwrap().push((false, bar.base));
        }
    }

    #[test]
    fn listeners_hear_of_their_function_only_and_of_accepted_maps_only() {
        let pci = Arc::new(Mutex::new(PciBus::new()));
        let (mmio, pio) = (Arc::new(Bus::new("mmio")), Arc::new(Bus::new("pio")));
        let w = BarWindows {
            mmio: vec![(0xc000_0000, 0x2000_0000)],
            io: vec![],
        };
        let m = BarMapper::new(&pci, &mmio, &pio, w);
        let heard = Arc::new(Recorder::default());
        m.clone().listen(8, heard.clone());
        let b = bar(BarKind::Mmio32, 0xc000_0000, 0x1000);
        let outside = bar(BarKind::Mmio32, 0x1000, 0x1000);
        m.apply(&[
            BarChange::Map { devfn: 8, bar: b },
            BarChange::Map {
                devfn: 16,
                bar: bar(BarKind::Mmio32, 0xc001_0000, 0x1000),
            },
            BarChange::Map {
                devfn: 8,
                bar: outside,
            },
            BarChange::Unmap { devfn: 8, bar: b },
        ]);
        assert_eq!(
            *heard.0.lock().unwrap(),
            vec![(true, 0xc000_0000), (false, 0xc000_0000)]
        );
    }
}
