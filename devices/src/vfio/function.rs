//! A PCI function assigned through VFIO, as the guest sees it: the [`PciDevice`] the
//! VMM's bus drives, built by [`super::PassthroughBuilder`].
//!
//! Each config access is split byte by byte by the trap map (see [`super::trap_setup`]):
//! device bytes are fetched from the backend in naturally aligned pieces, local bytes
//! come from the function's register model, handler bytes from their capability
//! handler. A write goes to the local model (within its writable bits), to the device
//! for forwarded bytes only, and to handlers; then BAR sizing and the MSI/MSI-X state
//! are brought up to date. Malformed accesses read all ones and write nothing; device
//! errors read all ones and are logged (rate-limited: the guest can provoke them).

use super::backend::{IrqKind, PassthroughBackend};
use super::bar_map::BarMapping;
use super::interrupt::InterruptSink;
use super::irq_state::InterruptState;
use super::msi::MsiCap;
use super::msix::{MsixCap, MsixTable};
use super::trap_map::{runs, ByteTrap, TrapMap, ALL_LOCAL};
use super::VirtualCap;
use crate::log_limit::warn_limited;
use crate::pci::access::{aligned_pieces, check_config_access, DWORD};
use crate::pci::bar::{BarError, Bars};
use crate::pci::capability::{CapabilityHandler, CapabilityLayout};
use crate::pci::config::PciConfig;
use crate::pci::device::{BarRange, PciDevice};
use crate::pci::header::{BAR0, BAR_END};

/// What a failed or refused read returns (as from an absent function).
const ABSENT: u8 = u8::MAX;
/// Widest BAR access the guest can make (a qword MOV).
const MAX_BAR_ACCESS: usize = 8;

/// Where a BAR access goes.
enum BarTarget {
    /// The emulated MSI-X table, at this offset in it.
    MsixTable(u64),
    /// The emulated PBA.
    MsixPba,
    /// The device's region.
    Device,
    /// Nowhere: the access is malformed (the reason is logged).
    Refused(&'static str),
}

/// An assigned PCI function behind a [`PassthroughBackend`].
pub struct PassthroughFunction<B> {
    pub(super) backend: B,
    pub(super) sink: Box<dyn InterruptSink>,
    /// The VMM's copy of every emulated register.
    pub(super) local: PciConfig,
    pub(super) traps: TrapMap,
    pub(super) bars: Bars,
    pub(super) layout: CapabilityLayout<VirtualCap>,
    pub(super) msi: Option<MsiCap>,
    pub(super) msix: Option<(MsixCap, MsixTable)>,
    pub(super) irq: InterruptState,
    pub(super) handlers: Vec<Box<dyn CapabilityHandler>>,
    pub(super) mappings: Vec<BarMapping>,
}

impl<B> std::fmt::Debug for PassthroughFunction<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassthroughFunction")
            .field("local", &self.local)
            .field("bars", &self.bars)
            .field("msi", &self.msi)
            .field("handlers", &self.handlers.len())
            .finish_non_exhaustive()
    }
}

impl<B: PassthroughBackend> PassthroughFunction<B> {
    /// The guest's view of the function's capabilities (what is passed, hidden,
    /// virtualised, synthesised).
    pub fn layout(&self) -> &CapabilityLayout<VirtualCap> {
        &self.layout
    }

    /// The device.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// How to back each implemented BAR: what to mmap, what to trap.
    pub fn bar_mappings(&self) -> &[BarMapping] {
        &self.mappings
    }

    /// Programs BAR `index` to `base` as firmware would (the guest may move it later).
    pub fn set_bar_base(&mut self, index: u8, base: u64) -> Result<(), BarError> {
        self.bars.set_base(&mut self.local, index, base)
    }

    /// Brings the backend and the sink in line with the guest's MSI/MSI-X registers.
    pub(super) fn sync_interrupts(&mut self) {
        let want_msi = self.msi.as_ref().and_then(|msi| msi.wanted(&self.local));
        let want_msix = self
            .msix
            .as_ref()
            .and_then(|(cap, table)| cap.wanted(&self.local, table));
        self.irq
            .sync(want_msi, want_msix, &self.backend, self.sink.as_mut());
    }

    /// Reads the device bytes of a config access (the rest stay all ones).
    fn read_device(&self, offset: u16, len: usize) -> [u8; DWORD] {
        let mut device = [ABSENT; DWORD];
        let needed = runs(len, |i| match self.traps.get(offset + i as u16) {
            ByteTrap::Split { local, .. } if local != ALL_LOCAL => Some(()),
            _ => None,
        });
        for (range, ()) in needed {
            for (at, width) in aligned_pieces(offset + range.start as u16, range.len()) {
                let i = usize::from(at - offset);
                if let Err(e) = self.backend.read_config(at, &mut device[i..i + width]) {
                    warn_limited!("passthrough: {e}");
                    device[i..i + width].fill(ABSENT);
                }
            }
        }
        device
    }

    /// Runs of handler-owned bytes: (bytes of the access, handler, offset in its cap).
    fn handler_runs(&self, offset: u16, len: usize) -> Vec<(std::ops::Range<usize>, usize, u16)> {
        let trap = |i: usize| self.traps.get(offset + i as u16);
        // Bytes of one handler at consecutive capability offsets share a key.
        runs(len, |i| match trap(i) {
            ByteTrap::Handler { index, offset } => Some((index, offset.wrapping_sub(i as u16))),
            ByteTrap::Split { .. } => None,
        })
        .into_iter()
        .map(|(range, (index, base))| {
            let in_cap = base.wrapping_add(range.start as u16);
            (range, index, in_cap)
        })
        .collect()
    }

    /// Side effects of a config write that reached the local model.
    fn after_config_write(&mut self, offset: u16, data: &[u8]) {
        let end = usize::from(offset) + data.len();
        if usize::from(offset) < usize::from(BAR_END) && end > usize::from(BAR0) {
            self.bars.observe_write(offset, data);
        }
        let mut interrupts = false;
        if let Some(msi) = &self.msi {
            if msi.overlaps(offset, data.len()) {
                msi.clamp(&mut self.local);
                interrupts = true;
            }
        }
        if let Some((cap, _)) = &self.msix {
            interrupts |= cap.touches_control(offset, data.len());
        }
        if interrupts {
            self.sync_interrupts();
        }
    }

    fn bar_target(&self, index: u8, offset: u64, len: usize) -> BarTarget {
        let Some(def) = self.bars.def(index) else {
            return BarTarget::Refused("no such BAR");
        };
        if len == 0 || len > MAX_BAR_ACCESS {
            return BarTarget::Refused("bad width");
        }
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > def.size)
        {
            return BarTarget::Refused("past the end of the BAR");
        }
        if let Some((cap, _)) = &self.msix {
            match cap.table.locate(index, offset, len as u64) {
                Some(Ok(in_table)) => return BarTarget::MsixTable(in_table),
                Some(Err(())) => return BarTarget::Refused("straddles the MSI-X table"),
                None => {}
            }
            match cap.pba.locate(index, offset, len as u64) {
                Some(Ok(_)) => return BarTarget::MsixPba,
                Some(Err(())) => return BarTarget::Refused("straddles the MSI-X PBA"),
                None => {}
            }
        }
        BarTarget::Device
    }
}

impl<B: PassthroughBackend> PciDevice for PassthroughFunction<B> {
    fn read_config(&mut self, offset: u16, data: &mut [u8]) {
        if let Err(e) = check_config_access(offset, data.len()) {
            warn_limited!("passthrough: refused config read: {e}");
            data.fill(ABSENT);
            return;
        }
        let device = self.read_device(offset, data.len());
        for (i, byte) in data.iter_mut().enumerate() {
            let at = offset + i as u16;
            if let ByteTrap::Split { local, .. } = self.traps.get(at) {
                *byte = (device[i] & !local) | (self.local.u8_at(at) & local);
            }
        }
        for (range, index, in_cap) in self.handler_runs(offset, data.len()) {
            match self.handlers.get_mut(index) {
                Some(handler) => handler.read(in_cap, &mut data[range]),
                None => data[range].fill(ABSENT),
            }
        }
    }

    fn write_config(&mut self, offset: u16, data: &[u8]) {
        if let Err(e) = check_config_access(offset, data.len()) {
            warn_limited!("passthrough: refused config write: {e}");
            return;
        }
        // The local model's writable masks confine this to the emulated bits.
        if let Err(e) = self.local.write(offset, data) {
            warn_limited!("passthrough: {e}");
        }
        let forwarded = runs(data.len(), |i| match self.traps.get(offset + i as u16) {
            ByteTrap::Split { forward: true, .. } => Some(()),
            _ => None,
        });
        for (range, ()) in forwarded {
            for (at, width) in aligned_pieces(offset + range.start as u16, range.len()) {
                let i = usize::from(at - offset);
                if let Err(e) = self.backend.write_config(at, &data[i..i + width]) {
                    warn_limited!("passthrough: {e}");
                }
            }
        }
        for (range, index, in_cap) in self.handler_runs(offset, data.len()) {
            if let Some(handler) = self.handlers.get_mut(index) {
                handler.write(in_cap, &data[range]);
            }
        }
        self.after_config_write(offset, data);
    }

    fn bar_ranges(&self) -> Vec<BarRange> {
        self.bars.ranges(&self.local)
    }

    fn read_bar(&mut self, index: u8, offset: u64, data: &mut [u8]) {
        match self.bar_target(index, offset, data.len()) {
            BarTarget::MsixTable(in_table) => {
                if let Some((_, table)) = &self.msix {
                    table.read(in_table, data);
                }
            }
            BarTarget::MsixPba => data.fill(0),
            BarTarget::Device => {
                if let Err(e) = self.backend.read_bar(index, offset, data) {
                    warn_limited!("passthrough: {e}");
                    data.fill(ABSENT);
                }
            }
            BarTarget::Refused(why) => {
                warn_limited!("passthrough: refused read of BAR {index} at {offset:#x}: {why}");
                data.fill(ABSENT);
            }
        }
    }

    fn write_bar(&mut self, index: u8, offset: u64, data: &[u8]) {
        match self.bar_target(index, offset, data.len()) {
            BarTarget::MsixTable(in_table) => {
                let Some((cap, table)) = &mut self.msix else {
                    return;
                };
                let touched = table.write(in_table, data);
                let (_, function_masked) = cap.control(&self.local);
                for vector in touched {
                    let route = table.route(vector, function_masked);
                    self.irq
                        .sync_vector(IrqKind::Msix, vector as u32, route, self.sink.as_mut());
                }
            }
            // The PBA is read-only.
            BarTarget::MsixPba => {}
            BarTarget::Device => {
                if let Err(e) = self.backend.write_bar(index, offset, data) {
                    warn_limited!("passthrough: {e}");
                }
            }
            BarTarget::Refused(why) => {
                warn_limited!("passthrough: refused write to BAR {index} at {offset:#x}: {why}");
            }
        }
    }
}
