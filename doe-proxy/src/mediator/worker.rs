//! The two threads of a mediator: the worker, the only code that touches the physical
//! mailbox, which also hands each exchange's result to its client's completion sink, and
//! the notifier, which delivers the answers that need no device (Discovery from the cache,
//! cancellations, refusals at shutdown or of a dead mailbox).

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use log::{debug, warn};

use super::error::ExchangeError;
use super::state::{Job, Notice, State};
use crate::config_space::ConfigSpace;
use crate::mailbox::Mailbox;

/// The state and the condition the worker sleeps on.
pub(super) struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    pub(super) fn new(state: State) -> Self {
        Shared {
            state: Mutex::new(state),
            wake: Condvar::new(),
        }
    }

    /// Locks the state. Nothing under the lock can panic half-way through a change that
    /// matters (no client code runs there), so a poisoned lock is still consistent.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the worker: there may be work, or it should stop.
    pub(super) fn wake_worker(&self) {
        self.wake.notify_all();
    }
}

/// Runs requests on `mailbox` one at a time until shutdown, then answers what is queued.
pub(super) fn run_worker<C: ConfigSpace>(shared: Arc<Shared>, mut mailbox: Mailbox<C>) {
    while let Some(job) = next_job(&shared) {
        let started = Instant::now();
        let outcome = mailbox
            .exchange(&job.request)
            .map_err(|e| ExchangeError::from_mailbox(&e));
        debug!(
            "DOE mediator [{:#x}]: {} {} {} in {:?}: {}",
            mailbox.cap_offset(),
            job.client,
            job.submission,
            job.protocol,
            started.elapsed(),
            match &outcome {
                Ok(response) => format!("{} dword(s)", response.len()),
                Err(e) => e.to_string(),
            }
        );
        if outcome == Err(ExchangeError::MailboxDead) {
            warn!(
                "DOE mediator [{:#x}]: the mailbox is dead; every client is answered \"{}\"",
                mailbox.cap_offset(),
                ExchangeError::MailboxDead
            );
        }
        // The result goes to its client from here, at once: handing it to the notifier
        // would cost a thread wake-up on the path a waiting vCPU is on.
        if let Some(notice) = shared.lock().finish(&job, outcome) {
            deliver(notice);
        }
    }
    debug!("DOE mediator [{:#x}]: worker stopped", mailbox.cap_offset());
}

/// Waits for the next request to run; `None` once shutdown began (after answering
/// everything queued with [`ExchangeError::ShuttingDown`]).
fn next_job(shared: &Shared) -> Option<Job> {
    let mut state = shared.lock();
    loop {
        if state.is_shutting_down() {
            state.answer_all_queued(ExchangeError::ShuttingDown);
            return None;
        }
        if let Some(job) = state.start_next() {
            return Some(job);
        }
        state = match state.scheduler().next_wakeup() {
            Some(at) => {
                let timeout = at.saturating_duration_since(Instant::now());
                shared
                    .wake
                    .wait_timeout(state, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Delivers results until the channel closes.
pub(super) fn run_notifier(notices: Receiver<Notice>) {
    for notice in notices {
        deliver(notice);
    }
}

/// Hands one result to its client's sink. A sink that panics is logged and the others
/// keep being served.
fn deliver(notice: Notice) {
    let Notice {
        sink,
        submission,
        result,
    } = notice;
    if panic::catch_unwind(AssertUnwindSafe(|| sink.complete(submission, result))).is_err() {
        warn!("DOE mediator: a completion sink panicked on {submission}");
    }
}
