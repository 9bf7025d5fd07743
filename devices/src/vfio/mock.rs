//! An in-memory [`PassthroughBackend`]: config space and BARs in byte arrays, and a log
//! of every access and interrupt call, so tests can check what reached the "device".

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::backend::{BackendError, IrqKind, PassthroughBackend, RegionInfo};
use crate::pci::config::PciConfig;
use crate::pci::header::BAR_COUNT;

/// Most bytes of a BAR the mock keeps; accesses beyond read zero and are dropped (so a
/// large BAR costs no memory).
const MOCK_BAR_BACKING: u64 = 1 << 20;

/// One thing the mock device was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockEvent {
    /// A config read.
    ConfigRead {
        /// Offset.
        offset: u16,
        /// Bytes.
        len: usize,
    },
    /// A config write.
    ConfigWrite {
        /// Offset.
        offset: u16,
        /// Bytes written.
        data: Vec<u8>,
    },
    /// A BAR read.
    BarRead {
        /// BAR index.
        index: u8,
        /// Offset in the BAR.
        offset: u64,
        /// Bytes.
        len: usize,
    },
    /// A BAR write.
    BarWrite {
        /// BAR index.
        index: u8,
        /// Offset in the BAR.
        offset: u64,
        /// Bytes written.
        data: Vec<u8>,
    },
    /// `enable_irq`.
    EnableIrq {
        /// Mechanism.
        kind: IrqKind,
        /// Vectors.
        vectors: u32,
    },
    /// `disable_irq`.
    DisableIrq {
        /// Mechanism.
        kind: IrqKind,
    },
}

#[derive(Debug)]
struct MockBar {
    info: RegionInfo,
    data: Vec<u8>,
}

#[derive(Debug)]
struct MockState {
    config: PciConfig,
    bars: [Option<MockBar>; BAR_COUNT],
    irqs: [u32; 3],
    events: Vec<MockEvent>,
    failing: bool,
}

/// A device in memory. Its config space is a [`PciConfig`], so the writable and RW1C
/// masks the test sets model the hardware's read-only bits.
#[derive(Debug)]
pub struct MockBackend {
    state: Mutex<MockState>,
}

fn irq_slot(kind: IrqKind) -> usize {
    match kind {
        IrqKind::Intx => 0,
        IrqKind::Msi => 1,
        IrqKind::Msix => 2,
    }
}

fn failure() -> io::Error {
    io::Error::other("mock device set to fail")
}

impl MockBackend {
    /// A device with this config space, no BARs and no interrupts.
    pub fn new(config: PciConfig) -> Self {
        MockBackend {
            state: Mutex::new(MockState {
                config,
                bars: Default::default(),
                irqs: [0; 3],
                events: Vec::new(),
                failing: false,
            }),
        }
    }

    /// Gives the device BAR `index` with this region info (contents zero).
    pub fn with_bar(self, index: u8, info: RegionInfo) -> Self {
        let backing = info.size.min(MOCK_BAR_BACKING) as usize;
        if let Some(slot) = self.lock().bars.get_mut(usize::from(index)) {
            *slot = Some(MockBar {
                info,
                data: vec![0; backing],
            });
        }
        self
    }

    /// Gives the device `count` vectors of `kind`.
    pub fn with_irqs(self, kind: IrqKind, count: u32) -> Self {
        self.lock().irqs[irq_slot(kind)] = count;
        self
    }

    /// Everything asked of the device so far, oldest first.
    pub fn events(&self) -> Vec<MockEvent> {
        self.lock().events.clone()
    }

    /// Forgets the events so far.
    pub fn clear_events(&self) {
        self.lock().events.clear();
    }

    /// The device's config space now.
    pub fn config(&self) -> PciConfig {
        self.lock().config.clone()
    }

    /// Changes the device's config space directly (as the hardware would).
    pub fn modify_config(&self, change: impl FnOnce(&mut PciConfig)) {
        change(&mut self.lock().config);
    }

    /// Makes every later access and interrupt call fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// `len` bytes of BAR `index` at `offset` (zeros where nothing is kept).
    pub fn bar_bytes(&self, index: u8, offset: u64, len: usize) -> Vec<u8> {
        let state = self.lock();
        let Some(Some(bar)) = state.bars.get(usize::from(index)) else {
            return vec![0; len];
        };
        (0..len as u64)
            .map(|i| {
                usize::try_from(offset + i)
                    .ok()
                    .and_then(|at| bar.data.get(at))
                    .copied()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MockState {
    fn bar(&mut self, index: u8, offset: u64, len: usize) -> Result<&mut MockBar, io::Error> {
        if self.failing {
            return Err(failure());
        }
        let bar = self
            .bars
            .get_mut(usize::from(index))
            .and_then(Option::as_mut)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such BAR"))?;
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|end| end > bar.info.size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "past the end of the BAR",
            ));
        }
        Ok(bar)
    }
}

impl PassthroughBackend for MockBackend {
    fn read_config(&self, offset: u16, data: &mut [u8]) -> Result<(), BackendError> {
        let mut state = self.lock();
        state.events.push(MockEvent::ConfigRead {
            offset,
            len: data.len(),
        });
        let err = |source| BackendError::Config {
            offset,
            len: data.len(),
            source,
        };
        if state.failing {
            return Err(err(failure()));
        }
        let len = data.len();
        state
            .config
            .read(offset, data)
            .map_err(|e| BackendError::Config {
                offset,
                len,
                source: io::Error::new(io::ErrorKind::InvalidInput, e),
            })
    }

    fn write_config(&self, offset: u16, data: &[u8]) -> Result<(), BackendError> {
        let mut state = self.lock();
        state.events.push(MockEvent::ConfigWrite {
            offset,
            data: data.to_vec(),
        });
        let err = |source| BackendError::Config {
            offset,
            len: data.len(),
            source,
        };
        if state.failing {
            return Err(err(failure()));
        }
        state
            .config
            .write(offset, data)
            .map_err(|e| err(io::Error::new(io::ErrorKind::InvalidInput, e)))
    }

    fn bar_info(&self, index: u8) -> Result<RegionInfo, BackendError> {
        let state = self.lock();
        if state.failing {
            return Err(BackendError::BarInfo {
                index,
                source: failure(),
            });
        }
        Ok(state
            .bars
            .get(usize::from(index))
            .and_then(Option::as_ref)
            .map_or(RegionInfo::default(), |bar| bar.info))
    }

    fn read_bar(&self, index: u8, offset: u64, data: &mut [u8]) -> Result<(), BackendError> {
        let mut state = self.lock();
        state.events.push(MockEvent::BarRead {
            index,
            offset,
            len: data.len(),
        });
        let len = data.len();
        let bar = state
            .bar(index, offset, len)
            .map_err(|source| BackendError::Bar {
                index,
                offset,
                len,
                source,
            })?;
        for (i, byte) in data.iter_mut().enumerate() {
            let at = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .saturating_add(i);
            *byte = bar.data.get(at).copied().unwrap_or(0);
        }
        Ok(())
    }

    fn write_bar(&self, index: u8, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut state = self.lock();
        state.events.push(MockEvent::BarWrite {
            index,
            offset,
            data: data.to_vec(),
        });
        let bar = state
            .bar(index, offset, data.len())
            .map_err(|source| BackendError::Bar {
                index,
                offset,
                len: data.len(),
                source,
            })?;
        for (i, &byte) in data.iter().enumerate() {
            let at = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .saturating_add(i);
            if let Some(slot) = bar.data.get_mut(at) {
                *slot = byte;
            }
        }
        Ok(())
    }

    fn irq_count(&self, kind: IrqKind) -> Result<u32, BackendError> {
        let state = self.lock();
        if state.failing {
            return Err(BackendError::Irq {
                kind,
                source: failure(),
            });
        }
        Ok(state.irqs[irq_slot(kind)])
    }

    fn enable_irq(&self, kind: IrqKind, vectors: u32) -> Result<(), BackendError> {
        let mut state = self.lock();
        state.events.push(MockEvent::EnableIrq { kind, vectors });
        if state.failing || vectors > state.irqs[irq_slot(kind)] {
            return Err(BackendError::Irq {
                kind,
                source: failure(),
            });
        }
        Ok(())
    }

    fn disable_irq(&self, kind: IrqKind) -> Result<(), BackendError> {
        let mut state = self.lock();
        state.events.push(MockEvent::DisableIrq { kind });
        if state.failing {
            return Err(BackendError::Irq {
                kind,
                source: failure(),
            });
        }
        Ok(())
    }
}
