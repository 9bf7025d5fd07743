//! The bounded completion wait (`vmm --doe-completion-wait`): a vCPU whose guest wrote Go,
//! or read Status while its exchange is in flight, waits a short, bounded time for the
//! mediator's result before the guest runs again — so the guest's first Status read after
//! Go finds Data Object Ready, as it does on a device that answers at once, and Linux's
//! `pci_doe` never sleeps its poll interval (one jiffy) on the virtual mailbox.
//!
//! The wait never happens under a lock of the bus. A register access is handled with the
//! bus, the function and the mailbox's registers locked; the access only *notes* the wait
//! in a thread-local slot (`note`). The vCPU takes it ([`take_pending`]) once the access
//! has returned and every lock is released, and waits on the mailbox's condition variable
//! ([`PendingWait::wait`]), which releases the register lock while it sleeps. So the
//! result's delivery (which takes the register lock), other vCPUs' accesses (to this
//! mailbox or anything else) and other clients of the mediator are never held up by a
//! waiting vCPU.
//!
//! The waiting vCPU first offers to run the exchange itself ([`Exchanger::drive`]): with
//! the mediator, if the physical mailbox is free and no other client waits for it, the
//! vCPU sends the request, polls Status without sleeping and reads the response, until the
//! bound; the result lands in the registers before the wait ends, with no thread wake-up
//! at all (as QEMU's synchronous DOE answers). Whatever is left at the bound (a device
//! still busy, an abort to do) goes to the mediator's worker, and a request queued behind
//! other clients' is the worker's from the start: fairness is the mediator's, unchanged.
//! Go submits quietly (it wakes nobody, since its vCPU is about to drive it); a noted Go
//! wait that is dropped unrun kicks the worker instead. A Go the guest queued in KVM's
//! coalesced ring is dispatched by whichever vCPU drains it next: that vCPU runs the wait
//! only if its own exit is the Status read of the same exchange (Linux's read right after
//! Go: [`PendingWait::same_exchange`], [`PendingWait::forget`]), and otherwise drops it,
//! handing the exchange to the worker.
//!
//! The wait ends at the first of: the awaited submission no longer awaited (its result
//! arrived, or the guest aborted from another vCPU, or vmm is shutting down and the
//! mediator answered everything), or the bound. A read that waited is handled again (a
//! Status read has no side effect), so it returns the register as it is after the wait.
//! The bound is kept between register accesses: a physical access that itself takes long
//! (QEMU's emulated DOE answers inside the Go write) adds its own duration, as it would to
//! the guest under raw passthrough.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use doe_proxy::mediator::SubmissionId;

use super::exchanger::Exchanger;
use super::registers::DoeRegisters;

/// A mailbox's registers and the condition its completion waiters sleep on.
#[derive(Debug)]
pub(super) struct RegisterCell {
    registers: Mutex<DoeRegisters>,
    changed: Condvar,
    /// vCPUs sleeping on `changed` (changed under the register lock): a wake-up costs a
    /// system call, so it is only made when someone sleeps.
    sleepers: AtomicUsize,
}

impl RegisterCell {
    pub(super) fn new(registers: DoeRegisters) -> Self {
        RegisterCell {
            registers: Mutex::new(registers),
            changed: Condvar::new(),
            sleepers: AtomicUsize::new(0),
        }
    }

    /// Every register change completes under the lock, so a poisoned lock is consistent.
    pub(super) fn lock(&self) -> MutexGuard<'_, DoeRegisters> {
        self.registers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every waiter: the awaited submission may have changed. Call it after the
    /// change, with the register lock released or held: a sleeper counts itself under the
    /// lock before it checks what it waits for, so it either sees the change or is counted.
    pub(super) fn notify(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.changed.notify_all();
        }
    }
}

/// Why an access asked for a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// A write of Go submitted an exchange.
    Go,
    /// A Status read found the mailbox's exchange in flight; the read is to be handled
    /// again after the wait.
    StatusRead,
}

/// A completion wait noted by a register access, to run once the access has returned.
/// Dropped without running, a wait noted by Go kicks the exchanger (which Go did not
/// wake: the wait was to drive the exchange).
pub struct PendingWait {
    cell: Arc<RegisterCell>,
    exchanger: Arc<dyn Exchanger>,
    submission: SubmissionId,
    bound: Duration,
    cause: WaitCause,
    ran: bool,
}

impl std::fmt::Debug for PendingWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingWait")
            .field("submission", &self.submission)
            .field("bound", &self.bound)
            .field("cause", &self.cause)
            .finish_non_exhaustive()
    }
}

impl Drop for PendingWait {
    fn drop(&mut self) {
        if !self.ran && self.cause == WaitCause::Go {
            self.exchanger.kick();
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOutcome {
    /// What asked for it.
    pub cause: WaitCause,
    /// The submission stopped being awaited (result, abort or shutdown) within the bound.
    pub completed: bool,
    /// How long the vCPU waited.
    pub waited: Duration,
}

thread_local! {
    /// The wait the last access on this thread asked for.
    static PENDING: RefCell<Option<PendingWait>> = const { RefCell::new(None) };
}

/// Notes a wait for the access being handled on this thread (replacing an earlier one).
pub(super) fn note(
    cell: &Arc<RegisterCell>,
    exchanger: &Arc<dyn Exchanger>,
    submission: SubmissionId,
    bound: Duration,
    cause: WaitCause,
) {
    let wait = PendingWait {
        cell: cell.clone(),
        exchanger: exchanger.clone(),
        submission,
        bound,
        cause,
        ran: false,
    };
    PENDING.with(|slot| *slot.borrow_mut() = Some(wait));
}

/// The wait the accesses handled on this thread since the last call asked for, if any.
/// The vCPU calls it after each access, with no lock held, and runs the wait.
pub fn take_pending() -> Option<PendingWait> {
    PENDING.with(|slot| slot.borrow_mut().take())
}

/// Drops a noted wait (a Go's kicks the exchanger): after handling an access again, whose
/// second wait is not to run.
pub fn discard_pending() {
    drop(take_pending());
}

impl PendingWait {
    /// What asked for the wait.
    pub fn cause(&self) -> WaitCause {
        self.cause
    }

    /// Whether both waits are for the same exchange of the same mailbox.
    pub fn same_exchange(&self, other: &PendingWait) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell) && self.submission == other.submission
    }

    /// Drops the wait without kicking the exchanger: another wait for the same exchange
    /// ([`PendingWait::same_exchange`]) will run and drive it.
    pub fn forget(mut self) {
        self.ran = true;
    }

    /// Waits until the submission is no longer awaited or the bound passes, never
    /// longer, holding no lock of the mailbox while it waits. First it offers to run the
    /// exchange on this thread ([`Exchanger::drive`]: with the mediator, when the device
    /// is free and nobody else waits for it, the vCPU sends the request, polls and reads
    /// the response itself, until the bound — no thread wake-up at all); otherwise, or
    /// for what is left, it sleeps on the mailbox's condition until the result arrives.
    pub fn wait(mut self) -> WaitOutcome {
        self.ran = true;
        let started = Instant::now();
        let deadline = started + self.bound;
        self.exchanger.drive(self.submission, deadline);
        let mut registers = self.cell.lock();
        let completed = loop {
            if registers.awaiting() != Some(self.submission) {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            self.cell.sleepers.fetch_add(1, Ordering::SeqCst);
            registers = self
                .cell
                .changed
                .wait_timeout(registers, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            self.cell.sleepers.fetch_sub(1, Ordering::SeqCst);
        };
        drop(registers);
        WaitOutcome {
            cause: self.cause,
            completed,
            waited: started.elapsed(),
        }
    }
}
