//! The rig of the SPDM lease tests through the mediator: a mediator over the scripted
//! SPDM responder and a CDAT responder, a scheduler wrapper that reports each decision,
//! and a requester that submits one request at a time and waits for its result.
//!
//! The interleavings that matter are forced, not hoped for: the [`Watched`] scheduler
//! records each decision, so a test waits until the mediator *decided* on a request (ran
//! it or deferred it) before another requester goes on.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::scripted_spdm::{self, DeviceLog};
use super::spdm::SpdmHeader;
use super::*;
use crate::emulated::{CdatResponder, DoeSpec, EmulatedFunction};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::protocol::ProtocolId;

const DOE: u16 = 0x190;
/// How long a test waits for anything before failing.
const PATIENCE: Duration = Duration::from_secs(10);
/// An idle timeout no test reaches unless it means to.
pub(super) const NEVER_IDLE: LeaseConfig = LeaseConfig {
    idle_timeout: Duration::from_secs(60),
};

/// What the [`Watched`] scheduler's inner scheduler decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    Run,
    Defer,
    Refuse,
}

/// One decision on a CMA/SPDM request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decided {
    client: ClientId,
    /// The SPDM request code (`None` without a header).
    code: Option<u8>,
    decision: Decision,
}

/// Every decision on a CMA/SPDM request, in order.
#[derive(Default)]
pub(super) struct Decisions {
    log: Mutex<Vec<Decided>>,
    changed: Condvar,
}

impl Decisions {
    /// Waits until the mediator decided on `client`'s request `code`; returns how.
    pub(super) fn wait_for(&self, client: ClientId, code: u8) -> Decision {
        let deadline = Instant::now() + PATIENCE;
        let mut log = self.log.lock().unwrap();
        loop {
            let found = log
                .iter()
                .find(|d| d.client == client && d.code == Some(code));
            if let Some(decided) = found {
                return decided.decision;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no decision on {client}'s {code:#04x}");
            log = self.changed.wait_timeout(log, left).unwrap().0;
        }
    }

    /// The requests that ran on the device, in order (one runs at a time).
    pub(super) fn ran(&self) -> Vec<(ClientId, Option<u8>)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.decision == Decision::Run)
            .map(|d| (d.client, d.code))
            .collect()
    }
}

/// Forwards to a scheduler and records its decisions on CMA/SPDM requests.
pub(super) struct Watched {
    inner: Box<dyn Scheduler>,
    decisions: Arc<Decisions>,
}

impl Scheduler for Watched {
    fn admit(&mut self, candidate: &Candidate<'_>) -> Admission {
        let admission = self.inner.admit(candidate);
        if candidate.protocol == ProtocolId::CMA_SPDM {
            let decision = match admission {
                Admission::Run => Decision::Run,
                Admission::Defer => Decision::Defer,
                Admission::Deny | Admission::Answer(_) => Decision::Refuse,
            };
            self.decisions.log.lock().unwrap().push(Decided {
                client: candidate.client,
                code: SpdmHeader::of_object(candidate.request).map(|h| h.code),
                decision,
            });
            self.decisions.changed.notify_all();
        }
        admission
    }

    fn completed(&mut self, candidate: &Candidate<'_>, outcome: &ExchangeResult) {
        self.inner.completed(candidate, outcome);
    }

    fn client_gone(&mut self, client: ClientId) {
        self.inner.client_gone(client);
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.inner.next_wakeup()
    }
}

/// A mediator over the scripted SPDM responder and a CDAT responder.
pub(super) struct Rig {
    pub(super) mediator: Mediator,
    /// What the SPDM responder saw.
    pub(super) device: DeviceLog,
    /// What the scheduler decided on CMA/SPDM requests.
    pub(super) decisions: Arc<Decisions>,
}

/// Two CDAT entries: the 16-byte header and one structure.
pub(super) fn cdat() -> CdatResponder {
    CdatResponder::new(vec![vec![0x11; 16], vec![0x22; 8]])
}

pub(super) fn rig(leases: Option<LeaseConfig>) -> Rig {
    let (spdm, device) = scripted_spdm::responder();
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(DOE).responder(spdm).responder(cdat()))
        .build()
        .unwrap();
    let mailbox = Mailbox::new(function, DOE, MailboxConfig::default()).unwrap();
    let config = MediatorConfig {
        spdm_leases: leases,
        ..MediatorConfig::default()
    };
    let decisions = Arc::new(Decisions::default());
    let scheduler = Watched {
        inner: config.scheduler(),
        decisions: decisions.clone(),
    };
    let mediator = Mediator::start_with(mailbox, config, Box::new(scheduler)).unwrap();
    Rig {
        mediator,
        device,
        decisions,
    }
}

/// One client that submits a request and waits for its result.
pub(super) struct Requester {
    client: MediatorClient,
    results: Receiver<(SubmissionId, ExchangeResult)>,
}

impl Requester {
    pub(super) fn new(mediator: &Mediator, name: &str) -> Self {
        let (sender, results) = mpsc::channel();
        let sink = move |id: SubmissionId, result: ExchangeResult| {
            let _ = sender.send((id, result));
        };
        let client = mediator.register(name, Arc::new(sink)).unwrap();
        Requester { client, results }
    }

    pub(super) fn id(&self) -> ClientId {
        self.client.id()
    }

    pub(super) fn submit(&self, request: Vec<u32>) -> SubmissionId {
        self.client.submit(request).unwrap()
    }

    pub(super) fn result(&self, submission: SubmissionId) -> ExchangeResult {
        let (id, result) = self
            .results
            .recv_timeout(PATIENCE)
            .expect("a submission was never answered");
        assert_eq!(id, submission);
        result
    }

    /// Checks that no result has arrived (without waiting for one).
    pub(super) fn assert_unanswered(&self) {
        if let Ok(answered) = self.results.try_recv() {
            panic!("answered: {answered:x?}");
        }
    }

    pub(super) fn exchange(&self, request: Vec<u32>) -> ExchangeResult {
        let id = self.submit(request);
        self.result(id)
    }

    /// Exchanges `request` and checks that it got its success response.
    pub(super) fn expect_success(&self, request: Vec<u32>) {
        let response = self.exchange(request.clone()).unwrap();
        assert!(
            scripted_spdm::succeeded(&request, &response),
            "{request:x?} got {response:x?}"
        );
    }
}
