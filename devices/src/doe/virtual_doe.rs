//! The virtual DOE capability as the passthrough function sees it: a
//! [`CapabilityHandler`] over the register state machine, plus the completion sink the
//! mediator delivers results to.

use std::fmt;
use std::sync::{Arc, Weak};

use doe_proxy::mailbox::regs::{DoeStatus, DOE_STATUS};
use doe_proxy::mediator::{Completion, ExchangeResult, SubmissionId};

use super::bytes::pieces;
use super::completion_wait::{self, RegisterCell, WaitCause};
use super::config::VirtualDoeConfig;
use super::exchanger::Exchanger;
use super::filter::DoeFilter;
use super::registers::{Context, DoeRegisters};
use crate::pci::capability::CapabilityHandler;

/// A guest-facing DOE mailbox backed by an [`Exchanger`] (the mediator of the physical
/// mailbox). See the [module documentation](super) for the contract.
pub struct VirtualDoe {
    cell: Arc<RegisterCell>,
    exchanger: Arc<dyn Exchanger>,
    filter: Arc<dyn DoeFilter>,
    config: VirtualDoeConfig,
}

impl fmt::Debug for VirtualDoe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualDoe")
            .field("registers", &*self.cell.lock())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl VirtualDoe {
    /// A virtual mailbox whose results arrive through the sink handed to `connect`,
    /// which returns the exchanger to submit to — typically
    /// `|sink| mediator.register(name, sink)`. The sink holds the registers weakly, so
    /// a result arriving after the virtual mailbox is gone is dropped.
    pub fn connect<E, X>(
        config: VirtualDoeConfig,
        filter: Arc<dyn DoeFilter>,
        connect: impl FnOnce(Arc<dyn Completion>) -> Result<E, X>,
    ) -> Result<Self, X>
    where
        E: Exchanger + 'static,
    {
        let cell = Arc::new(RegisterCell::new(DoeRegisters::new(config, Vec::new())));
        let sink = Arc::new(Sink {
            cell: Arc::downgrade(&cell),
        });
        let exchanger = connect(sink)?;
        *cell.lock() = DoeRegisters::new(config, exchanger.discovered());
        Ok(VirtualDoe {
            cell,
            exchanger: Arc::new(exchanger),
            filter,
            config,
        })
    }

    /// The Status register as the guest would read it.
    pub fn status(&self) -> DoeStatus {
        self.cell.lock().status()
    }

    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.cell.lock().buffered()
    }
}

impl CapabilityHandler for VirtualDoe {
    fn read(&mut self, offset: u16, data: &mut [u8]) {
        let registers = self.cell.lock();
        let mut status_read = false;
        for piece in pieces(offset, data.len()) {
            piece.fill(registers.read(piece.reg), data);
            status_read |= piece.reg == u32::from(DOE_STATUS);
        }
        // The guest polls its own exchange: the vCPU may wait for it after this access.
        if let (true, Some(submission)) = (status_read, registers.awaiting()) {
            if !self.config.completion_wait.is_zero() {
                completion_wait::note(
                    &self.cell,
                    &self.exchanger,
                    submission,
                    self.config.completion_wait,
                    WaitCause::StatusRead,
                );
            }
        }
    }

    fn write(&mut self, offset: u16, data: &[u8]) {
        let waits = !self.config.completion_wait.is_zero();
        let ctx = Context {
            exchanger: self.exchanger.as_ref(),
            filter: self.filter.as_ref(),
            quiet_submit: waits,
        };
        let mut registers = self.cell.lock();
        let before = registers.awaiting();
        for piece in pieces(offset, data.len()) {
            let value = piece.value(data);
            if piece.is_whole() {
                registers.write(piece.reg, value, &ctx);
            } else {
                registers.write_partial(piece.reg, value, piece.mask(), &ctx);
            }
        }
        let after = registers.awaiting();
        drop(registers);
        if after == before {
            return;
        }
        // Go submitted an exchange, or Abort cancelled one: waiters on other vCPUs
        // re-check what they wait for.
        self.cell.notify();
        // Go submitted quietly: the vCPU drives it in its wait, or the noted wait kicks
        // the mediator if it is dropped unrun.
        if let (true, Some(submission)) = (waits, after) {
            completion_wait::note(
                &self.cell,
                &self.exchanger,
                submission,
                self.config.completion_wait,
                WaitCause::Go,
            );
        }
    }
}

/// Where the mediator delivers this mailbox's results: straight into the registers, then
/// a wake-up for a vCPU waiting for it.
///
/// Writes the guest queued in KVM's coalesced MMIO ring (pops, request dwords) are not
/// drained first: the guest can only observe the mailbox by reading it, every read exits,
/// and every exit is handled after the ring is drained — so a result that lands before
/// queued writes are dispatched is, to the guest, a device that answered at that moment.
struct Sink {
    cell: Weak<RegisterCell>,
}

impl Completion for Sink {
    fn complete(&self, submission: SubmissionId, result: ExchangeResult) {
        if let Some(cell) = self.cell.upgrade() {
            cell.lock().complete(submission, result);
            cell.notify();
        }
    }
}
