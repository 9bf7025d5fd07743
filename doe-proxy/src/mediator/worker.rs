//! The two threads of a mediator: the worker, the only code that touches the physical
//! mailbox, which also hands each exchange's result to its client's completion sink and
//! retries an unusable mailbox, and
//! the notifier, which delivers the answers that need no device (Discovery from the cache,
//! cancellations, refusals at shutdown or of a dead mailbox).

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use log::{debug, warn};

use super::completion::ExchangeResult;
use super::device::Device;
use super::driver_panic::{answer_panic, catch_panic, log_panic};
use super::error::ExchangeError;
use super::notice::CountedNotice;
use super::recovery::{log_retry, retry};
use super::state::{HandedOver, Job, Leftover, State};

/// The state, the condition the worker sleeps on, and the physical mailbox.
pub(super) struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    device: Mutex<Box<dyn Device>>,
}

impl Shared {
    pub(super) fn new(state: State, device: Box<dyn Device>) -> Self {
        Shared {
            state: Mutex::new(state),
            wake: Condvar::new(),
            device: Mutex::new(device),
        }
    }

    /// Locks the state. Nothing under the lock can panic half-way through a change that
    /// matters (no client code runs there), so a poisoned lock is still consistent.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the physical mailbox. Only whoever has the request on the device (marked
    /// in the state) takes it, so it is never contended. A panic in the driver is caught
    /// under this lock and followed by an abort ([`answer_panic`]), so the lock is not
    /// poisoned by one; were it poisoned all the same, the driver's state is still that of
    /// a failed exchange, and the next one starts by checking Status.
    pub(super) fn device(&self) -> MutexGuard<'_, Box<dyn Device>> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the worker: there may be work, or it should stop.
    pub(super) fn wake_worker(&self) {
        self.wake.notify_all();
    }
}

/// What the worker runs next.
enum Work {
    /// A queued request, from the start.
    Fresh(Job),
    /// The rest of a request a client started itself.
    Resume(HandedOver),
    /// A retry of the unusable mailbox, with a Discovery walk if asked.
    Retry {
        /// Walk Discovery too (the mediator never had the list).
        discover: bool,
    },
}

/// Runs requests on the device one at a time until shutdown, then answers what is queued.
pub(super) fn run_worker(shared: Arc<Shared>) {
    let cap_offset = shared.device().cap_offset();
    while let Some(work) = next_work(&shared) {
        let work = match work {
            Work::Retry { discover } => {
                let outcome = retry(&mut **shared.device(), discover);
                let failed_before = shared.lock().outage().map_or(0, |o| o.failed());
                log_retry(cap_offset, &outcome, failed_before);
                shared.lock().retried(&outcome, Instant::now());
                continue;
            }
            work => work,
        };
        let started = Instant::now();
        let (job, outcome) = run_work(&mut **shared.device(), cap_offset, work);
        log_outcome(cap_offset, &job, started, &outcome, "worker");
        // The result goes to its client from here, at once: handing it to the notifier
        // would cost a thread wake-up on the path a waiting vCPU is on. The state lock is
        // released first (its own statement: an `if let` scrutinee's guard would live
        // through the body): a sink takes its client's locks, and a client holding those
        // (a vCPU writing Go holds its mailbox's registers) submits under the state lock.
        let notice = shared.lock().finish(&job, outcome);
        if let Some(notice) = notice {
            notice.deliver();
        }
    }
    debug!("DOE mediator [{cap_offset:#x}]: worker stopped");
}

/// Runs `work` on `device`. A panic in the driver does not end the worker: the exchange
/// is answered with an error once the mailbox has been aborted (see [`answer_panic`]).
fn run_work(device: &mut dyn Device, cap_offset: u16, work: Work) -> (Job, ExchangeResult) {
    let (job, run) = match work {
        Work::Fresh(job) => {
            let run = catch_panic(|| device.exchange(&job.request));
            (job, run)
        }
        Work::Resume(HandedOver {
            job,
            leftover: Leftover::Pending(pending),
        }) => {
            let run = catch_panic(|| device.resume(&job.request, pending));
            (job, run)
        }
        Work::Resume(HandedOver {
            job,
            leftover: Leftover::Panicked(message),
        }) => {
            // The client that ran it logged the panic.
            let error = answer_panic(device, message);
            return (job, Err(error));
        }
        Work::Retry { .. } => unreachable!("run_worker runs retries itself"),
    };
    let outcome = match run {
        Ok(result) => result.map_err(|e| ExchangeError::from_mailbox(&e)),
        Err(message) => {
            log_panic(cap_offset, &job, "worker", &message);
            Err(answer_panic(device, message))
        }
    };
    (job, outcome)
}

/// One debug line per exchange; a warning when the mailbox died.
pub(super) fn log_outcome(
    cap_offset: u16,
    job: &Job,
    started: Instant,
    outcome: &ExchangeResult,
    runner: &str,
) {
    debug!(
        "DOE mediator [{cap_offset:#x}]: {} {} {} in {:?} ({runner}): {}",
        job.client,
        job.submission,
        job.protocol,
        started.elapsed(),
        match outcome {
            Ok(response) => format!("{} dword(s)", response.len()),
            Err(e) => e.to_string(),
        }
    );
    if outcome == &Err(ExchangeError::MailboxDead) {
        warn!(
            "DOE mediator [{cap_offset:#x}]: the mailbox is unusable (an abort did not complete); \
             every client is answered \"{}\" until a retry works",
            ExchangeError::MailboxDead
        );
    }
}

/// Waits for the next thing to run; `None` once shutdown began and the device is free
/// (after answering everything queued with [`ExchangeError::ShuttingDown`]).
fn next_work(shared: &Shared) -> Option<Work> {
    let mut state = shared.lock();
    loop {
        if let Some(handed_over) = state.take_handed_over() {
            return Some(Work::Resume(handed_over));
        }
        if state.is_shutting_down() {
            if !state.device_in_use() {
                state.answer_all_queued(ExchangeError::ShuttingDown);
                return None;
            }
        } else if let Some(due) = state.retry_due() {
            if due <= Instant::now() {
                return Some(Work::Retry {
                    discover: state.needs_discovery(),
                });
            }
        } else if let Some(job) = state.start_next() {
            return Some(Work::Fresh(job));
        }
        let wakeup = match (state.scheduler().next_wakeup(), state.retry_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        state = match wakeup {
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
pub(super) fn run_notifier(notices: Receiver<CountedNotice>) {
    for notice in notices {
        notice.deliver();
    }
}
