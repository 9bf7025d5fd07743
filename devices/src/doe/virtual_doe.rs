//! The virtual DOE capability as the passthrough function sees it: a
//! [`CapabilityHandler`] over the register state machine, plus the completion sink the
//! mediator delivers results to.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use doe_proxy::mailbox::regs::DoeStatus;
use doe_proxy::mediator::{Completion, ExchangeResult, SubmissionId};

use super::bytes::pieces;
use super::config::VirtualDoeConfig;
use super::exchanger::Exchanger;
use super::filter::DoeFilter;
use super::registers::{Context, DoeRegisters};
use crate::pci::capability::CapabilityHandler;

/// A guest-facing DOE mailbox backed by an [`Exchanger`] (the mediator of the physical
/// mailbox). See the [module documentation](super) for the contract.
pub struct VirtualDoe {
    registers: Arc<Mutex<DoeRegisters>>,
    exchanger: Box<dyn Exchanger>,
    filter: Arc<dyn DoeFilter>,
}

impl fmt::Debug for VirtualDoe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualDoe")
            .field("registers", &*lock(&self.registers))
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
        let registers = Arc::new(Mutex::new(DoeRegisters::new(config, Vec::new())));
        let sink = Arc::new(Sink {
            registers: Arc::downgrade(&registers),
        });
        let exchanger = connect(sink)?;
        *lock(&registers) = DoeRegisters::new(config, exchanger.discovered());
        Ok(VirtualDoe {
            registers,
            exchanger: Box::new(exchanger),
            filter,
        })
    }

    /// The Status register as the guest would read it.
    pub fn status(&self) -> DoeStatus {
        lock(&self.registers).status()
    }

    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        lock(&self.registers).buffered()
    }
}

impl CapabilityHandler for VirtualDoe {
    fn read(&mut self, offset: u16, data: &mut [u8]) {
        let registers = lock(&self.registers);
        for piece in pieces(offset, data.len()) {
            piece.fill(registers.read(piece.reg), data);
        }
    }

    fn write(&mut self, offset: u16, data: &[u8]) {
        let ctx = Context {
            exchanger: self.exchanger.as_ref(),
            filter: self.filter.as_ref(),
        };
        let mut registers = lock(&self.registers);
        for piece in pieces(offset, data.len()) {
            let value = piece.value(data);
            if piece.is_whole() {
                registers.write(piece.reg, value, &ctx);
            } else {
                registers.write_partial(piece.reg, value, piece.mask(), &ctx);
            }
        }
    }
}

/// Where the mediator delivers this mailbox's results.
struct Sink {
    registers: Weak<Mutex<DoeRegisters>>,
}

impl Completion for Sink {
    fn complete(&self, submission: SubmissionId, result: ExchangeResult) {
        if let Some(registers) = self.registers.upgrade() {
            lock(&registers).complete(submission, result);
        }
    }
}

/// Every register change completes under the lock, so a poisoned lock is consistent.
fn lock(registers: &Mutex<DoeRegisters>) -> MutexGuard<'_, DoeRegisters> {
    registers.lock().unwrap_or_else(PoisonError::into_inner)
}
