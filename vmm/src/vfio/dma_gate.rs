//! Guest RAM is mapped for DMA while the guest boots, and bus mastering waits for it.
//!
//! `VFIO_IOMMU_MAP_DMA` pins every page of guest RAM (faulting in and zeroing the ones the
//! guest has not touched): seconds for a few hundred MiB in the nested bench, most of what
//! `vmm` spent before the guest's first instruction. A function cannot reach memory before
//! its driver sets Bus Master Enable in the Command register (PCIe r6.0 §7.5.1.1.3: with it
//! clear the function issues no memory requests, MSI/MSI-X writes included), so the mapping
//! runs on its own thread while the vCPUs boot the guest, and a guest write that sets Bus
//! Master Enable on an assigned function is held by [`DmaGate::wait`] until the mapping
//! is complete. A failed mapping ends the VM with its error (the function would DMA into
//! nothing), and the held write is refused.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The Command register's offset in config space.
const COMMAND: u16 = 0x04;
/// Bus Master Enable, bit 2 of the Command register.
const COMMAND_BUS_MASTER: u8 = 1 << 2;

/// Where the DMA mapping of guest RAM stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmaState {
    /// The mapping thread is still pinning guest RAM.
    Mapping,
    /// Guest RAM is mapped; it took this long.
    Mapped(Duration),
    /// The mapping failed with this message.
    Failed(String),
}

/// Shared by the mapping thread (which finishes it) and the assigned functions' backends
/// (which wait on it before enabling bus mastering).
#[derive(Debug)]
pub struct DmaGate {
    state: Mutex<DmaState>,
    done: Condvar,
}

impl Default for DmaGate {
    fn default() -> Self {
        Self::new()
    }
}

impl DmaGate {
    /// A gate that holds bus mastering until [`DmaGate::finish`].
    pub fn new() -> Self {
        Self {
            state: Mutex::new(DmaState::Mapping),
            done: Condvar::new(),
        }
    }

    /// Records how the mapping ended and releases every waiter. The first result stays.
    pub fn finish(&self, result: Result<Duration, String>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state == DmaState::Mapping {
            *state = match result {
                Ok(took) => DmaState::Mapped(took),
                Err(error) => DmaState::Failed(error),
            };
        }
        self.done.notify_all();
    }

    /// Where the mapping stands now.
    pub fn state(&self) -> DmaState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Blocks until the mapping has ended; `Ok` with how long this call waited (zero when
    /// the mapping had ended already) when guest RAM is mapped, `Err` with the mapping's
    /// error otherwise.
    pub fn wait(&self) -> Result<Duration, String> {
        let start = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let held = *state == DmaState::Mapping;
        while *state == DmaState::Mapping {
            state = self
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &*state {
            DmaState::Failed(error) => Err(error.clone()),
            _ if held => Ok(start.elapsed()),
            _ => Ok(Duration::ZERO),
        }
    }
}

/// Whether a config write of `data` at `offset` sets Bus Master Enable.
pub fn sets_bus_master(offset: u16, data: &[u8]) -> bool {
    COMMAND
        .checked_sub(offset)
        .and_then(|at| data.get(usize::from(at)))
        .is_some_and(|byte| byte & COMMAND_BUS_MASTER != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn only_writes_that_set_bus_master_enable_are_held() {
        assert!(sets_bus_master(0x04, &[0x06, 0x00]));
        assert!(sets_bus_master(0x04, &[0x04]));
        // Command and Status written as one dword.
        assert!(sets_bus_master(0x04, &[0x07, 0x01, 0x10, 0x00]));
        // Memory/IO decode only, or Bus Master Enable clear.
        assert!(!sets_bus_master(0x04, &[0x03, 0x00]));
        assert!(!sets_bus_master(0x04, &[0x00, 0x04]));
        // Writes that do not cover the Command register's low byte.
        assert!(!sets_bus_master(0x05, &[0xff]));
        assert!(!sets_bus_master(0x06, &[0xff, 0xff]));
        assert!(!sets_bus_master(0x00, &[0xff, 0xff, 0xff, 0xff]));
        assert!(!sets_bus_master(0x190, &[0xff; 4]));
        assert!(!sets_bus_master(0x04, &[]));
    }

    #[test]
    fn a_waiter_is_released_when_the_mapping_completes() {
        let gate = Arc::new(DmaGate::new());
        assert_eq!(gate.state(), DmaState::Mapping);
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || gate.wait())
        };
        thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "the waiter returned before the mapping ended"
        );
        gate.finish(Ok(Duration::from_millis(7)));
        // How long it waited depends on when its thread ran (a loaded machine may start
        // it late), so only the outcome is checked, not the duration.
        assert!(waiter.join().unwrap().is_ok());
        assert_eq!(gate.state(), DmaState::Mapped(Duration::from_millis(7)));
        // Later writes pass at once.
        assert_eq!(gate.wait(), Ok(Duration::ZERO));
    }

    #[test]
    fn a_failed_mapping_refuses_every_waiter_and_stays_failed() {
        let gate = Arc::new(DmaGate::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                thread::spawn(move || gate.wait())
            })
            .collect();
        gate.finish(Err("VFIO DMA map failed: Cannot allocate memory".into()));
        gate.finish(Ok(Duration::ZERO));
        for waiter in waiters {
            assert_eq!(
                waiter.join().unwrap().unwrap_err(),
                "VFIO DMA map failed: Cannot allocate memory"
            );
        }
        assert!(matches!(gate.state(), DmaState::Failed(_)));
        assert!(gate.wait().is_err());
    }
}
