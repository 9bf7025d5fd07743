//! A client's handle on the mediator.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::driver_panic::{catch_panic, log_panic};
use super::error::ExchangeError;
use super::ids::{ClientId, SubmissionId};
use super::state::{Job, Leftover};
use super::worker::{log_outcome, Shared};
use crate::mailbox::Attempt;
use crate::protocol::ProtocolId;

/// One client of a [`Mediator`](super::Mediator): submits whole request objects and
/// cancels them. Results go to the [`Completion`](super::Completion) given at
/// registration. Dropping the handle unregisters the client: whatever it still waits
/// for is answered [`ExchangeError::Cancelled`].
pub struct MediatorClient {
    pub(super) id: ClientId,
    pub(super) name: String,
    pub(super) shared: Arc<Shared>,
}

impl fmt::Debug for MediatorClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediatorClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MediatorClient {
    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The name it registered with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The protocols the physical mailbox listed in Discovery, in index order
    /// (Discovery first); empty while the mediator has no list yet (see
    /// [`Mediator::start`](super::Mediator::start)). Never touches the device.
    pub fn discovered(&self) -> Arc<[ProtocolId]> {
        self.shared.lock().discovered()
    }

    /// Submits `request`, one whole data object (header included).
    ///
    /// `Err` is the submission's one result (nothing follows): a malformed or over-long
    /// object, a full queue (as many results outstanding as
    /// [`queue_depth`](super::MediatorConfig::queue_depth) allows), a dead mailbox or a
    /// mediator shutting down. `Ok` names the submission; its result reaches the
    /// client's completion sink exactly once, later and on another thread. A Discovery
    /// request is answered from the cached Discovery result without touching the device;
    /// until the notifier hands that answer over it counts against the same bound.
    pub fn submit(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        let submission = self.submit_quiet(request)?;
        self.shared.wake_worker();
        Ok(submission)
    }

    /// [`MediatorClient::submit`] without waking the worker: for a caller that will next
    /// [`drive`](MediatorClient::drive) the submission or [`kick`](MediatorClient::kick)
    /// the worker — it must do one of them, or the request may wait for another client's
    /// submission to wake the worker.
    pub fn submit_quiet(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        self.shared.lock().submit(self.id, request)
    }

    /// Wakes the worker (after [`MediatorClient::submit_quiet`]).
    pub fn kick(&self) {
        self.shared.wake_worker();
    }

    /// Runs `submission` on the device from the calling thread, if the mediator lets it
    /// run now: the device is free, it is the next of this client's requests and no other
    /// client has one waiting (fairness is unchanged: round-robin would pick it), and the
    /// scheduler admits it. The thread then sends it and polls and reads without sleeping
    /// until `until`; what is left then (the device still busy with it, a response not
    /// yet read, an abort to do) is handed to the worker, which finishes it with the
    /// driver's timeouts. The result, when the run ends here, is delivered to the sink
    /// from this thread before `drive` returns — so call it with no lock the sink takes.
    ///
    /// Returns `true` if this thread ran the request (to its end or until it handed it
    /// over); `false` if it could not (it was on the device already, or others come
    /// first: then the worker has been woken). Nothing of the
    /// exactly-one-result rule changes: a cancellation meanwhile still wins. A panic in
    /// the driver is caught here and handed over too: the worker aborts the mailbox and
    /// answers the request [`ExchangeError::Internal`].
    ///
    /// This is what makes an uncontended exchange cost what the bare driver costs: no
    /// thread wake-up at all when the device answers within `until`.
    pub fn drive(&self, submission: SubmissionId, until: Instant) -> bool {
        let (claimed, device_in_use) = {
            let mut state = self.shared.lock();
            (state.claim(self.id, submission), state.device_in_use())
        };
        let Some(job) = claimed else {
            // Queued behind others (or refused by the scheduler): the worker runs it.
            // On the device already: whoever runs it delivers it.
            if !device_in_use {
                self.shared.wake_worker();
            }
            return false;
        };
        let started = Instant::now();
        let (cap_offset, attempt) = {
            let mut device = self.shared.device();
            let cap_offset = device.cap_offset();
            (
                cap_offset,
                catch_panic(|| device.attempt(&job.request, until)),
            )
        };
        match attempt {
            Ok(Attempt::Done(result)) => {
                let outcome = result.map_err(|e| ExchangeError::from_mailbox(&e));
                log_outcome(cap_offset, &job, started, &outcome, "client");
                let (notice, worker_needed) = {
                    let mut state = self.shared.lock();
                    let notice = state.finish(&job, outcome);
                    (notice, state.worker_needed())
                };
                if worker_needed {
                    self.shared.wake_worker();
                }
                if let Some(notice) = notice {
                    notice.deliver();
                }
            }
            Ok(Attempt::Pending(pending)) => self.hand_over(job, Leftover::Pending(pending)),
            Err(message) => {
                // The abort that follows may wait for the driver's abort timeout: the
                // worker does it.
                log_panic(cap_offset, &job, "client", &message);
                self.hand_over(job, Leftover::Panicked(message));
            }
        }
        true
    }

    /// Leaves the rest of `job`, which this thread ran on the device, to the worker.
    fn hand_over(&self, job: Job, leftover: Leftover) {
        self.shared.lock().hand_over(job, leftover);
        self.shared.wake_worker();
    }

    /// Cancels `submission` if it has no result yet, and returns whether it did. The
    /// result is then [`ExchangeError::Cancelled`]; a request already on the device
    /// finishes there (the physical mailbox is never aborted under other clients) and
    /// its response is dropped.
    pub fn cancel(&self, submission: SubmissionId) -> bool {
        self.shared.lock().cancel(self.id, submission)
    }
}

impl Drop for MediatorClient {
    fn drop(&mut self) {
        self.shared.lock().unregister(self.id);
        self.shared.wake_worker();
    }
}
