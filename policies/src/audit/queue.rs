//! Audit records handed from a thread that must not do I/O (a `vmm` vCPU deciding a guest's
//! request under its register lock) to one that writes them (an event loop).
//!
//! The deciding thread calls [`AuditQueue::push`]: it copies the event and its time into a
//! bounded queue, allocated once, and does no I/O; a full queue counts the record as
//! dropped instead. The writing thread calls [`AuditQueue::drain_into`] with the
//! [`AuditLog`], which applies its per-client budget as for a direct record and writes one
//! `"dropped"` line for the records lost. How the writer is woken is the owner's business:
//! [`Pushed::First`] says the queue was empty, so a wake-up is due (`vmm` writes an
//! eventfd).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::log::{AuditLog, AuditOutcome};
use super::record::AuditEvent;
use crate::clock::{Clock, SystemClock};
use crate::decision::{Decision, RequestInfo};
use crate::ids::{ClientIdentity, FunctionId};

/// Records a queue holds unless configured otherwise: a guest that is denied more than
/// this between two turns of the writer's loop loses the rest (counted).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// An [`AuditEvent`] that owns its facts, with the time it happened.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    client: ClientIdentity,
    function: FunctionId,
    mailbox_offset: u16,
    request: RequestInfo,
    decision: Decision,
    unix_time: Duration,
}

impl AuditRecord {
    /// A copy of `event`, which happened at `unix_time`.
    pub fn new(event: &AuditEvent<'_>, unix_time: Duration) -> Self {
        AuditRecord {
            client: event.client.clone(),
            function: *event.function,
            mailbox_offset: event.mailbox_offset,
            request: *event.request,
            decision: event.decision.clone(),
            unix_time,
        }
    }

    /// The event, borrowed from the record.
    pub fn event(&self) -> AuditEvent<'_> {
        AuditEvent {
            client: &self.client,
            function: &self.function,
            mailbox_offset: self.mailbox_offset,
            request: &self.request,
            decision: &self.decision,
        }
    }

    /// When it happened (Unix time).
    pub fn unix_time(&self) -> Duration {
        self.unix_time
    }
}

/// What [`AuditQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued into an empty queue: the writer should be woken.
    First,
    /// Queued behind others: a wake-up is already due.
    Queued,
    /// The queue is full: counted as dropped, reported by the next drain.
    Dropped,
    /// The event is not a denial: nothing to record.
    NotADenial,
}

/// What one [`AuditQueue::drain_into`] did.
#[derive(Debug, Default)]
pub struct Drained {
    /// Records taken from the queue.
    pub records: usize,
    /// Of those, lines written (the others were over their client's budget, counted by
    /// the log, or failed).
    pub written: usize,
    /// Records dropped since the last drain (a `"dropped"` line says so when non-zero).
    pub dropped: u64,
    /// Writes that failed.
    pub failed: usize,
    /// The last write error, if any.
    pub error: Option<io::Error>,
}

/// A bounded queue of audit records between threads (see the module documentation).
#[derive(Debug)]
pub struct AuditQueue<C: Clock = SystemClock> {
    /// Records waiting, oldest first.
    pending: Mutex<VecDeque<AuditRecord>>,
    /// The writer's batch: swapped with `pending` so that pushing never waits for I/O and
    /// neither buffer is ever reallocated.
    batch: Mutex<VecDeque<AuditRecord>>,
    capacity: usize,
    dropped: AtomicU64,
    clock: C,
}

impl<C: Clock> AuditQueue<C> {
    /// A queue of at most `capacity` records (at least one), timed by `clock`.
    pub fn new(capacity: usize, clock: C) -> Self {
        let capacity = capacity.max(1);
        AuditQueue {
            pending: Mutex::new(VecDeque::with_capacity(capacity)),
            batch: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            dropped: AtomicU64::new(0),
            clock,
        }
    }

    /// Queues a copy of `event` if it is a denial, stamped with the clock's time; no I/O.
    pub fn push(&self, event: &AuditEvent<'_>) -> Pushed {
        if event.decision.is_allowed() {
            return Pushed::NotADenial;
        }
        let mut pending = lock(&self.pending);
        if pending.len() >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Pushed::Dropped;
        }
        let first = pending.is_empty();
        pending.push_back(AuditRecord::new(event, self.clock.unix_time()));
        if first {
            Pushed::First
        } else {
            Pushed::Queued
        }
    }

    /// Writes every queued record to `log` (its per-client budget applies), then one
    /// `"dropped"` line if records were lost since the last drain. A failed write does not
    /// stop the others; the count and the last error are returned.
    pub fn drain_into<W: Write, L: Clock>(&self, log: &mut AuditLog<W, L>) -> Drained {
        let mut batch = lock(&self.batch);
        std::mem::swap(&mut *lock(&self.pending), &mut *batch);
        let mut drained = Drained {
            dropped: self.dropped.swap(0, Ordering::Relaxed),
            ..Drained::default()
        };
        for record in batch.drain(..) {
            drained.records += 1;
            match log.record_at(&record.event(), record.unix_time) {
                Ok(AuditOutcome::Written) => drained.written += 1,
                Ok(_) => {}
                Err(e) => {
                    drained.failed += 1;
                    drained.error = Some(e);
                }
            }
        }
        if drained.dropped > 0 {
            if let Err(e) = log.record_dropped(drained.dropped) {
                drained.failed += 1;
                drained.error = Some(e);
            }
        }
        drained
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        lock(&self.pending).len()
    }

    /// True if no record waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most records it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Every update completes under the lock, so a poisoned lock is consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
