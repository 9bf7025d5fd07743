//! The mediator's shared state: per-client queues, the request on the device, and the
//! round-robin choice of the next one. Everything here runs under one lock and never
//! touches the device or calls a client's [`Completion`].

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use log::debug;

use super::completion::{Completion, ExchangeResult};
use super::config::MediatorConfig;
use super::error::ExchangeError;
use super::ids::{ClientId, SubmissionId};
use super::notice::{ClientSink, CountedNotice, Notice};
use super::recovery::{Outage, Retry};
use super::scheduler::{Admission, Candidate, Scheduler};
use crate::mailbox::Pending;
use crate::protocol::discovery::{self, DiscoveryRequest};
use crate::protocol::{DataObjectHeader, ProtocolId};

/// A request waiting for its turn, or running.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) client: ClientId,
    pub(super) submission: SubmissionId,
    pub(super) protocol: ProtocolId,
    pub(super) request: Vec<u32>,
}

impl Job {
    pub(super) fn candidate(&self) -> Candidate<'_> {
        Candidate {
            client: self.client,
            submission: self.submission,
            protocol: self.protocol,
            request: &self.request,
        }
    }
}

/// A request a client started on the device itself and left for the worker to finish.
pub(super) struct HandedOver {
    pub(super) job: Job,
    pub(super) leftover: Leftover,
}

/// What a client's own run of a request left for the worker.
pub(super) enum Leftover {
    /// The rest of the exchange, as the driver stopped it.
    Pending(Pending),
    /// The driver panicked (with this message): the worker aborts the mailbox and
    /// answers the request with an error.
    Panicked(String),
}

/// One registered client.
struct ClientSlot {
    name: String,
    sink: ClientSink,
    queue: VecDeque<Job>,
}

impl ClientSlot {
    /// Results this client waits for that count against its bound: requests queued
    /// (not the one on the device) and answers waiting in the notifier's channel.
    fn outstanding(&self) -> usize {
        self.queue.len() + self.sink.undelivered()
    }
}

/// The request on the device.
struct InFlight {
    client: ClientId,
    submission: SubmissionId,
    sink: ClientSink,
    /// Its client already got its one result (Cancelled); the device's is dropped.
    answered: bool,
}

/// Everything the clients and the worker share.
pub(super) struct State {
    config: MediatorConfig,
    /// The device's Discovery list; empty until a Discovery walk worked (a mailbox
    /// always lists Discovery itself).
    discovered: Arc<[ProtocolId]>,
    clients: BTreeMap<ClientId, ClientSlot>,
    next_client: u64,
    next_submission: u64,
    last_served: Option<ClientId>,
    in_flight: Option<InFlight>,
    handed_over: Option<HandedOver>,
    shutting_down: bool,
    /// Set while the mailbox is unusable (an abort did not complete, or it was never
    /// discovered); cleared by a successful retry.
    outage: Option<Outage>,
    notices: Option<Sender<CountedNotice>>,
    scheduler: Box<dyn Scheduler>,
}

impl State {
    /// The state of a mediator whose device listed `discovered`; an empty list is a
    /// mailbox not usable yet (its start-up abort or Discovery failed).
    pub(super) fn new(
        config: MediatorConfig,
        discovered: Arc<[ProtocolId]>,
        scheduler: Box<dyn Scheduler>,
        notices: Sender<CountedNotice>,
    ) -> Self {
        let outage = discovered
            .is_empty()
            .then(|| Outage::begin(config.recovery, Instant::now()));
        State {
            config,
            discovered,
            clients: BTreeMap::new(),
            next_client: 0,
            next_submission: 0,
            last_served: None,
            in_flight: None,
            handed_over: None,
            shutting_down: false,
            outage,
            notices: Some(notices),
            scheduler,
        }
    }

    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Whether the mailbox is unusable now (dead, or not discovered yet).
    pub(super) fn is_dead(&self) -> bool {
        self.outage.is_some()
    }

    pub(super) fn scheduler(&self) -> &dyn Scheduler {
        self.scheduler.as_ref()
    }

    /// The device's Discovery list, empty while it is unknown.
    pub(super) fn discovered(&self) -> Arc<[ProtocolId]> {
        self.discovered.clone()
    }

    /// When the worker should retry the unusable mailbox: `None` if it is usable, if
    /// recovery is off, during shutdown, or while a request is on the device.
    pub(super) fn retry_due(&self) -> Option<Instant> {
        self.config.recovery?;
        if self.shutting_down || self.in_flight.is_some() || self.handed_over.is_some() {
            return None;
        }
        self.outage.as_ref().map(Outage::retry_at)
    }

    /// The outage the worker is retrying, as it is before the retry's outcome.
    pub(super) fn outage(&self) -> Option<Outage> {
        self.outage
    }

    /// Whether a retry must also walk Discovery (the mediator never had the list).
    pub(super) fn needs_discovery(&self) -> bool {
        self.discovered.is_empty()
    }

    /// Applies the outcome of the worker's retry: a recovered mailbox is used again
    /// (with its Discovery list, if the retry walked it); a failed retry waits longer.
    pub(super) fn retried(&mut self, retry: &Retry, now: Instant) {
        let (Some(outage), Some(recovery)) = (&mut self.outage, self.config.recovery) else {
            return;
        };
        match retry {
            Retry::Recovered(discovered) => {
                if let Some(list) = discovered {
                    self.discovered = list.as_slice().into();
                }
                if !self.discovered.is_empty() {
                    self.outage = None;
                } else {
                    outage.retry_failed(recovery, now);
                }
            }
            Retry::Failed(_) => outage.retry_failed(recovery, now),
        }
    }

    /// Adds a client.
    pub(super) fn register(
        &mut self,
        name: String,
        sink: Arc<dyn Completion>,
    ) -> Result<ClientId, ExchangeError> {
        if self.shutting_down {
            return Err(ExchangeError::ShuttingDown);
        }
        let id = ClientId(self.next_client);
        self.next_client += 1;
        debug!("DOE mediator: {id} ({name}) registered");
        self.clients.insert(
            id,
            ClientSlot {
                name,
                sink: ClientSink::new(sink),
                queue: VecDeque::new(),
            },
        );
        Ok(id)
    }

    /// Queues `request` for `client`, or answers a Discovery request from the cache
    /// (through the notifier). Either way refused with [`ExchangeError::QueueFull`] if
    /// the client has as many results outstanding as the queue depth allows.
    pub(super) fn submit(
        &mut self,
        client: ClientId,
        request: Vec<u32>,
    ) -> Result<SubmissionId, ExchangeError> {
        if self.shutting_down {
            return Err(ExchangeError::ShuttingDown);
        }
        if self.outage.is_some() {
            return Err(ExchangeError::MailboxDead);
        }
        let protocol = validate(&request, self.config.max_request_dwords)?;
        let depth = self.config.queue_depth;
        let slot = self
            .clients
            .get_mut(&client)
            .ok_or(ExchangeError::ShuttingDown)?;
        let discovery = if protocol == ProtocolId::DISCOVERY {
            Some(
                DiscoveryRequest::decode(&request)
                    .map_err(|e| ExchangeError::Malformed(e.to_string()))?,
            )
        } else {
            None
        };
        if slot.outstanding() >= depth {
            return Err(ExchangeError::QueueFull(depth));
        }
        if let Some(asked) = discovery {
            let response = discovery::respond(&self.discovered, &asked).encode();
            let sink = slot.sink.clone();
            let submission = self.next_submission_id();
            self.notify(&sink, submission, Ok(response));
            return Ok(submission);
        }
        let submission = SubmissionId(self.next_submission);
        self.next_submission += 1;
        slot.queue.push_back(Job {
            client,
            submission,
            protocol,
            request,
        });
        Ok(submission)
    }

    /// Cancels `submission` of `client` if it has no result yet: a queued one leaves its
    /// queue, a running one finishes on the device and its result is dropped. Either way
    /// the client gets [`ExchangeError::Cancelled`] now.
    pub(super) fn cancel(&mut self, client: ClientId, submission: SubmissionId) -> bool {
        if let Some(slot) = self.clients.get_mut(&client) {
            if let Some(index) = slot.queue.iter().position(|j| j.submission == submission) {
                slot.queue.remove(index);
                let sink = slot.sink.clone();
                self.notify(&sink, submission, Err(ExchangeError::Cancelled));
                return true;
            }
        }
        match &mut self.in_flight {
            Some(flight)
                if flight.client == client
                    && flight.submission == submission
                    && !flight.answered =>
            {
                flight.answered = true;
                let sink = flight.sink.clone();
                self.notify(&sink, submission, Err(ExchangeError::Cancelled));
                true
            }
            _ => false,
        }
    }

    /// Removes `client`; everything it still waits for is answered Cancelled.
    pub(super) fn unregister(&mut self, client: ClientId) {
        let Some(slot) = self.clients.remove(&client) else {
            return;
        };
        debug!("DOE mediator: {client} ({}) gone", slot.name);
        for job in slot.queue {
            self.notify(&slot.sink, job.submission, Err(ExchangeError::Cancelled));
        }
        if let Some(flight) = &mut self.in_flight {
            if flight.client == client && !flight.answered {
                flight.answered = true;
                let (sink, submission) = (flight.sink.clone(), flight.submission);
                self.notify(&sink, submission, Err(ExchangeError::Cancelled));
            }
        }
        self.scheduler.client_gone(client);
    }

    /// Whether a request is on the device (run by the worker or by a client).
    pub(super) fn device_in_use(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether the worker has something to do: a request queued or handed over, a retry of
    /// an unusable mailbox to schedule, or the shutdown to finish.
    pub(super) fn worker_needed(&self) -> bool {
        self.shutting_down
            || self.handed_over.is_some()
            || (self.outage.is_some() && self.config.recovery.is_some())
            || self.clients.values().any(|slot| !slot.queue.is_empty())
    }

    /// Lets `client` run `submission` on the device itself, now, if nothing stands in
    /// its way: the device is free, the request is at the head of its queue, no other
    /// client has one waiting (so round-robin would pick it anyway), the scheduler lets
    /// it run, and the mediator is neither dead nor shutting down. Marks it as on the
    /// device, as [`State::start_next`] does.
    pub(super) fn claim(&mut self, client: ClientId, submission: SubmissionId) -> Option<Job> {
        if self.shutting_down
            || self.outage.is_some()
            || self.in_flight.is_some()
            || self.handed_over.is_some()
        {
            return None;
        }
        let others_waiting = self
            .clients
            .iter()
            .any(|(&id, slot)| id != client && !slot.queue.is_empty());
        let slot = self.clients.get(&client)?;
        if others_waiting || slot.queue.front()?.submission != submission {
            return None;
        }
        if self.scheduler.admit(&slot.queue.front()?.candidate()) != Admission::Run {
            // The worker applies a denial or a deferral.
            return None;
        }
        let slot = self.clients.get_mut(&client)?;
        let job = slot.queue.pop_front()?;
        self.last_served = Some(client);
        self.in_flight = Some(InFlight {
            client,
            submission,
            sink: slot.sink.clone(),
            answered: false,
        });
        Some(job)
    }

    /// A client's own run of `job` stopped short (`leftover`): the worker finishes it. It
    /// stays on the device meanwhile.
    pub(super) fn hand_over(&mut self, job: Job, leftover: Leftover) {
        self.handed_over = Some(HandedOver { job, leftover });
    }

    /// The request a client handed over, for the worker.
    pub(super) fn take_handed_over(&mut self) -> Option<HandedOver> {
        self.handed_over.take()
    }

    /// The next request to run, round-robin from the client after the last one served;
    /// marks it as on the device. Requests the scheduler denies or answers itself are
    /// answered here.
    /// Nothing while a request is on the device.
    pub(super) fn start_next(&mut self) -> Option<Job> {
        if self.in_flight.is_some() {
            return None;
        }
        let order: Vec<ClientId> = match self.last_served {
            Some(last) => self
                .clients
                .range((Bound::Excluded(last), Bound::Unbounded))
                .chain(self.clients.range(..=last))
                .map(|(&id, _)| id)
                .collect(),
            None => self.clients.keys().copied().collect(),
        };
        for client in order {
            while let Some(admission) = self.admit_head(client) {
                let slot = self.clients.get_mut(&client)?;
                let job = slot.queue.pop_front()?;
                match admission {
                    Admission::Run => {
                        self.last_served = Some(client);
                        self.in_flight = Some(InFlight {
                            client,
                            submission: job.submission,
                            sink: slot.sink.clone(),
                            answered: false,
                        });
                        return Some(job);
                    }
                    Admission::Deny => {
                        let sink = slot.sink.clone();
                        debug!("DOE mediator: {client} {} denied", job.protocol);
                        self.notify(&sink, job.submission, Err(ExchangeError::Denied));
                    }
                    Admission::Answer(response) => {
                        let sink = slot.sink.clone();
                        debug!(
                            "DOE mediator: {client} {} answered by the scheduler",
                            job.protocol
                        );
                        self.notify(&sink, job.submission, Ok(response));
                    }
                    Admission::Defer => unreachable!("admit_head never yields Defer"),
                }
            }
        }
        None
    }

    /// The scheduler's decision on `client`'s head request: `None` if the queue is
    /// empty or the head is deferred.
    fn admit_head(&mut self, client: ClientId) -> Option<Admission> {
        let job = self.clients.get(&client)?.queue.front()?;
        match self.scheduler.admit(&job.candidate()) {
            Admission::Defer => None,
            admission => Some(admission),
        }
    }

    /// The running `job` finished on the device with `outcome`: the scheduler learns
    /// of it, and a mailbox that died answers everything queued (and is retried, if
    /// recovery is on). Returns the result for its
    /// client, unless the client was answered already (cancelled meanwhile): the worker
    /// delivers it itself, once the lock is released.
    pub(super) fn finish(&mut self, job: &Job, outcome: ExchangeResult) -> Option<Notice> {
        self.scheduler.completed(&job.candidate(), &outcome);
        let mailbox_died = outcome == Err(ExchangeError::MailboxDead);
        let result = self.in_flight.take().and_then(|flight| {
            (!flight.answered).then(|| flight.sink.notice(flight.submission, outcome))
        });
        if mailbox_died && self.outage.is_none() {
            self.outage = Some(Outage::begin(self.config.recovery, Instant::now()));
            self.answer_all_queued(ExchangeError::MailboxDead);
        }
        result
    }

    /// Stops accepting work; the worker answers what is queued.
    pub(super) fn begin_shutdown(&mut self) {
        self.shutting_down = true;
    }

    /// Answers every queued submission of every client with `error`.
    pub(super) fn answer_all_queued(&mut self, error: ExchangeError) {
        let mut answered = Vec::new();
        for slot in self.clients.values_mut() {
            for job in slot.queue.drain(..) {
                answered.push((slot.sink.clone(), job.submission));
            }
        }
        for (sink, submission) in answered {
            self.notify(&sink, submission, Err(error.clone()));
        }
    }

    /// Closes the notification channel once nothing can produce a result any more.
    pub(super) fn close_notices(&mut self) {
        self.notices = None;
    }

    fn next_submission_id(&mut self) -> SubmissionId {
        let id = SubmissionId(self.next_submission);
        self.next_submission += 1;
        id
    }

    /// Sends a result to the notifier; it counts for its client until the notifier
    /// takes it.
    fn notify(&self, sink: &ClientSink, submission: SubmissionId, result: ExchangeResult) {
        if let Some(notices) = &self.notices {
            // The receiver lives until the channel is closed at the very end.
            let _ = notices.send(sink.counted_notice(submission, result));
        }
    }
}

/// Checks that `request` is one whole data object of at most `max_dwords` dwords and
/// returns its protocol.
fn validate(request: &[u32], max_dwords: usize) -> Result<ProtocolId, ExchangeError> {
    if request.len() > max_dwords {
        return Err(ExchangeError::Malformed(format!(
            "{} dwords exceed the limit of {max_dwords}",
            request.len()
        )));
    }
    let header =
        DataObjectHeader::decode(request).map_err(|e| ExchangeError::Malformed(e.to_string()))?;
    if header.length_dwords != request.len() {
        return Err(ExchangeError::Malformed(format!(
            "header announces {} dwords, request has {}",
            header.length_dwords,
            request.len()
        )));
    }
    Ok(header.protocol)
}
