//! A client's handle on the mediator.

use std::fmt;
use std::sync::Arc;

use super::error::ExchangeError;
use super::ids::{ClientId, SubmissionId};
use super::worker::Shared;
use crate::protocol::ProtocolId;

/// One client of a [`Mediator`](super::Mediator): submits whole request objects and
/// cancels them. Results go to the [`Completion`](super::Completion) given at
/// registration. Dropping the handle unregisters the client: whatever it still waits
/// for is answered [`ExchangeError::Cancelled`].
pub struct MediatorClient {
    pub(super) id: ClientId,
    pub(super) name: String,
    pub(super) discovered: Arc<[ProtocolId]>,
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

    /// The protocols the physical mailbox listed in Discovery at start, in index order
    /// (Discovery first). Never touches the device.
    pub fn discovered(&self) -> &[ProtocolId] {
        &self.discovered
    }

    /// Submits `request`, one whole data object (header included).
    ///
    /// `Err` is the submission's one result (nothing follows): a malformed or over-long
    /// object, a full queue, a dead mailbox or a mediator shutting down. `Ok` names the
    /// submission; its result reaches the client's completion sink exactly once, later
    /// and on another thread. A Discovery request is answered from the cached Discovery
    /// result without touching the device.
    pub fn submit(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        let submission = self.shared.lock().submit(self.id, request)?;
        self.shared.wake_worker();
        Ok(submission)
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
