//! SPDM leases through the mediator, against the scripted SPDM responder: two requesters
//! that interleave break each other without leases and never with them; a lease ends at
//! the end of a sequence, after an idle timeout or when its holder goes away; other
//! protocols and malformed SPDM flow meanwhile.
//!
//! The interleavings that matter are forced, not hoped for: a [`Watched`] scheduler
//! reports each decision, so a test waits until the mediator *decided* on a request (ran
//! it or deferred it) before the other requester goes on.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::scripted_spdm::{
    self, challenge, end_session, get_capabilities, get_digests, get_measurements, get_version,
    negotiate_algorithms, too_short, DeviceLog, Seen, AUTHENTICATION, CHALLENGE, ERROR,
    GET_CAPABILITIES, GET_DIGESTS, GET_VERSION, INVALID_REQUEST, NEGOTIATE_ALGORITHMS,
    UNEXPECTED_REQUEST, V12,
};
use super::spdm::{request_resynch_response, SpdmHeader};
use super::*;
use crate::emulated::{CdatResponder, DoeSpec, EmulatedFunction};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use crate::protocol::table_access::{TableAccessRequest, TableAccessResponse};
use crate::protocol::ProtocolId;

const DOE: u16 = 0x190;
/// How long a test waits for anything before failing.
const PATIENCE: Duration = Duration::from_secs(10);
/// An idle timeout no test reaches unless it means to.
const NEVER_IDLE: LeaseConfig = LeaseConfig {
    idle_timeout: Duration::from_secs(60),
};
/// Runs of the whole authentication per requester in the interleaving tests.
const RUNS: usize = 8;

/// What the [`Watched`] scheduler's inner scheduler decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Run,
    Defer,
    Refuse,
}

/// One decision on a CMA/SPDM request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decided {
    client: ClientId,
    /// The SPDM request code (`None` without a header).
    code: Option<u8>,
    decision: Decision,
}

/// Every decision on a CMA/SPDM request, in order.
#[derive(Default)]
struct Decisions {
    log: Mutex<Vec<Decided>>,
    changed: Condvar,
}

impl Decisions {
    /// Waits until the mediator decided on `client`'s request `code`; returns how.
    fn wait_for(&self, client: ClientId, code: u8) -> Decision {
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
    fn ran(&self) -> Vec<(ClientId, Option<u8>)> {
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
struct Watched {
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
struct Rig {
    mediator: Mediator,
    device: DeviceLog,
    decisions: Arc<Decisions>,
}

/// Two CDAT entries: the 16-byte header and one structure.
fn cdat() -> CdatResponder {
    CdatResponder::new(vec![vec![0x11; 16], vec![0x22; 8]])
}

fn rig(leases: Option<LeaseConfig>) -> Rig {
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
struct Requester {
    client: MediatorClient,
    results: Receiver<(SubmissionId, ExchangeResult)>,
}

impl Requester {
    fn new(mediator: &Mediator, name: &str) -> Self {
        let (sender, results) = mpsc::channel();
        let sink = move |id: SubmissionId, result: ExchangeResult| {
            let _ = sender.send((id, result));
        };
        let client = mediator.register(name, Arc::new(sink)).unwrap();
        Requester { client, results }
    }

    fn id(&self) -> ClientId {
        self.client.id()
    }

    fn submit(&self, request: Vec<u32>) -> SubmissionId {
        self.client.submit(request).unwrap()
    }

    fn result(&self, submission: SubmissionId) -> ExchangeResult {
        let (id, result) = self
            .results
            .recv_timeout(PATIENCE)
            .expect("a submission was never answered");
        assert_eq!(id, submission);
        result
    }

    /// Checks that no result has arrived (without waiting for one).
    fn assert_unanswered(&self) {
        if let Ok(answered) = self.results.try_recv() {
            panic!("answered: {answered:x?}");
        }
    }

    fn exchange(&self, request: Vec<u32>) -> ExchangeResult {
        let id = self.submit(request);
        self.result(id)
    }

    /// Exchanges `request` and checks that it got its success response.
    fn expect_success(&self, request: Vec<u32>) {
        let response = self.exchange(request.clone()).unwrap();
        assert!(
            scripted_spdm::succeeded(&request, &response),
            "{request:x?} got {response:x?}"
        );
    }
}

/// Why a run of the authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// An SPDM ERROR with this ErrorCode.
    Spdm(u8),
    /// Anything else (an exchange error, a wrong response).
    Other(String),
}

/// Checks one exchange's result against its request.
fn check(request: &[u32], result: ExchangeResult) -> Result<(), Failure> {
    let response = result.map_err(|e| Failure::Other(e.to_string()))?;
    if scripted_spdm::succeeded(request, &response) {
        return Ok(());
    }
    match scripted_spdm::header(&response) {
        Some(header) if header.code == ERROR => Err(Failure::Spdm(header.param1)),
        _ => Err(Failure::Other(format!("{response:x?}"))),
    }
}

/// A small deterministic pseudo-random source (xorshift64) for pauses between steps.
struct Pauses(u64);

impl Pauses {
    /// Sleeps up to 2 ms.
    fn pause(&mut self) {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        thread::sleep(Duration::from_micros(self.0 % 2000));
    }
}

/// Runs `steps` of the authentication, pausing before each; stops at the first failure.
fn run_steps(
    requester: &Requester,
    steps: &[fn() -> Vec<u32>],
    pauses: &mut Pauses,
) -> Result<(), Failure> {
    for step in steps {
        pauses.pause();
        let request = step();
        check(&request, requester.exchange(request.clone()))?;
    }
    Ok(())
}

/// What each of two requesters saw over its runs.
struct TwoRuns {
    a: Vec<Result<(), Failure>>,
    b: Vec<Result<(), Failure>>,
    b_id: ClientId,
}

/// Two requesters authenticate [`RUNS`] times each. In the first run, B's GET_VERSION is
/// submitted after A's NEGOTIATE_ALGORITHMS; A goes on only once the mediator decided on
/// it (ran or deferred it), and B goes on only once the mediator decided on A's
/// GET_DIGESTS. Later runs interleave as pseudo-random pauses make them.
fn two_requesters(rig: &Rig) -> TwoRuns {
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    let (a_id, b_id) = (a.id(), b.id());
    let (a_mid, wait_a_mid) = mpsc::channel();
    let (b_decided, wait_b_decided) = mpsc::channel();
    let decisions = rig.decisions.clone();
    thread::scope(|scope| {
        let a_thread = scope.spawn(move || {
            let mut pauses = Pauses(0x9e37_79b9_7f4a_7c15);
            let mut runs = Vec::new();
            let (connect, rest) = AUTHENTICATION.split_at(3);
            let first = run_steps(&a, connect, &mut pauses);
            a_mid.send(()).unwrap();
            wait_b_decided.recv_timeout(PATIENCE).unwrap();
            runs.push(first.and_then(|()| run_steps(&a, rest, &mut pauses)));
            for _ in 1..RUNS {
                runs.push(run_steps(&a, &AUTHENTICATION, &mut pauses));
            }
            runs
        });
        let b_thread = scope.spawn(move || {
            let mut pauses = Pauses(0x2545_f491_4f6c_dd1d);
            let mut runs = Vec::new();
            wait_a_mid.recv_timeout(PATIENCE).unwrap();
            let request = get_version();
            let id = b.submit(request.clone());
            decisions.wait_for(b_id, GET_VERSION);
            b_decided.send(()).unwrap();
            decisions.wait_for(a_id, GET_DIGESTS);
            let first = check(&request, b.result(id));
            runs.push(first.and_then(|()| run_steps(&b, &AUTHENTICATION[1..], &mut pauses)));
            for _ in 1..RUNS {
                runs.push(run_steps(&b, &AUTHENTICATION, &mut pauses));
            }
            runs
        });
        TwoRuns {
            a: a_thread.join().unwrap(),
            b: b_thread.join().unwrap(),
            b_id,
        }
    })
}

/// Checks that from each client's GET_VERSION to its CHALLENGE, no other client's SPDM
/// request ran on the device.
fn assert_sequences_whole(ran: &[(ClientId, Option<u8>)]) {
    let mut holder = None;
    for (i, &(client, code)) in ran.iter().enumerate() {
        if let Some(holder) = holder {
            assert_eq!(client, holder, "request {i} ran inside another's sequence");
        }
        match code {
            Some(GET_VERSION) => holder = Some(client),
            Some(CHALLENGE) => holder = None,
            _ => {}
        }
    }
}

#[test]
fn interleaved_requesters_break_each_other_without_leases() {
    let rig = rig(None);
    let runs = two_requesters(&rig);
    assert_eq!(
        rig.decisions.wait_for(runs.b_id, GET_VERSION),
        Decision::Run
    );
    // Forced: B's GET_VERSION reset A's connection before A's GET_DIGESTS.
    assert_eq!(runs.a[0], Err(Failure::Spdm(UNEXPECTED_REQUEST)));
    let failures = runs
        .a
        .iter()
        .chain(&runs.b)
        .filter(|run| **run == Err(Failure::Spdm(UNEXPECTED_REQUEST)))
        .count();
    assert!(failures > 0);
}

#[test]
fn interleaved_requesters_both_complete_every_run_with_leases() {
    let rig = rig(Some(NEVER_IDLE));
    let runs = two_requesters(&rig);
    assert_eq!(runs.a, vec![Ok(()); RUNS]);
    assert_eq!(runs.b, vec![Ok(()); RUNS]);
    // The forced interleaving did happen: B's GET_VERSION came while A held the lease.
    assert_eq!(
        rig.decisions.wait_for(runs.b_id, GET_VERSION),
        Decision::Defer
    );
    assert_sequences_whole(&rig.decisions.ran());
    assert!(rig
        .device
        .lock()
        .unwrap()
        .iter()
        .all(|seen| seen.response != ERROR));
}

#[test]
fn leases_switched_on_in_the_mediator_config() {
    let (spdm, device) = scripted_spdm::responder();
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(DOE).responder(spdm))
        .build()
        .unwrap();
    let mailbox = Mailbox::new(function, DOE, MailboxConfig::default()).unwrap();
    let config = MediatorConfig {
        spdm_leases: Some(NEVER_IDLE),
        ..MediatorConfig::default()
    };
    let mediator = Mediator::start(mailbox, config).unwrap();
    let a = Requester::new(&mediator, "a");
    let b = Requester::new(&mediator, "b");
    a.expect_success(get_version());
    let b_version = b.submit(get_version());
    for step in &AUTHENTICATION[1..] {
        a.expect_success(step());
    }
    let response = b.result(b_version).unwrap();
    assert!(scripted_spdm::succeeded(&get_version(), &response));
    // B's GET_VERSION reached the device only after A's CHALLENGE.
    let codes: Vec<_> = device.lock().unwrap().iter().map(|s| s.request).collect();
    assert_eq!(
        codes[codes.len() - 2..],
        [Some(CHALLENGE), Some(GET_VERSION)]
    );
}

#[test]
fn an_idle_timeout_frees_the_lease_and_the_old_holder_resynchs() {
    let idle = Duration::from_millis(100);
    let rig = rig(Some(LeaseConfig { idle_timeout: idle }));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    let a_started = Instant::now();
    a.expect_success(get_version());
    // Nothing else is submitted: only the lease's wake-up lets B's GET_VERSION run.
    b.expect_success(get_version());
    assert!(
        a_started.elapsed() >= idle,
        "B ran {:?} after A's last exchange began",
        a_started.elapsed()
    );
    // A's connection was reset by B's GET_VERSION: the mediator answers A itself.
    let seen_before = rig.device.lock().unwrap().len();
    assert_eq!(
        a.exchange(get_capabilities()),
        Ok(request_resynch_response(V12))
    );
    assert_eq!(rig.device.lock().unwrap().len(), seen_before);
    // A starts again once B's lease lapses too; then B is the one to resynch.
    a.expect_success(get_version());
    assert_eq!(
        b.exchange(get_capabilities()),
        Ok(request_resynch_response(V12))
    );
    a.expect_success(get_capabilities());
    let codes: Vec<_> = rig
        .device
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.request)
        .collect();
    assert_eq!(
        codes,
        [
            Some(GET_VERSION),
            Some(GET_VERSION),
            Some(GET_VERSION),
            Some(GET_CAPABILITIES)
        ]
    );
}

#[test]
fn the_holder_going_away_frees_the_lease() {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    for step in &AUTHENTICATION[..3] {
        a.expect_success(step());
    }
    let b_version = b.submit(get_version());
    assert_eq!(rig.decisions.wait_for(b.id(), GET_VERSION), Decision::Defer);
    drop(a);
    let response = b.result(b_version).unwrap();
    assert!(scripted_spdm::succeeded(&get_version(), &response));
    for step in &AUTHENTICATION[1..] {
        b.expect_success(step());
    }
}

#[test]
fn other_protocols_flow_while_a_lease_is_held() {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    let c = Requester::new(&rig.mediator, "c");
    a.expect_success(get_version());
    let b_version = b.submit(get_version());
    assert_eq!(rig.decisions.wait_for(b.id(), GET_VERSION), Decision::Defer);
    // C reads the whole CDAT and walks Discovery while A holds and B waits.
    let first =
        TableAccessResponse::decode(&c.exchange(TableAccessRequest::cdat(0).encode()).unwrap())
            .unwrap();
    assert_eq!(first.entry, vec![0x11; 16]);
    let second = TableAccessResponse::decode(
        &c.exchange(TableAccessRequest::cdat(first.next_handle).encode())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(second.entry, vec![0x22; 8]);
    assert!(second.is_last());
    let discovery = c
        .exchange(
            DiscoveryRequest {
                index: 1,
                version: 0,
            }
            .encode(),
        )
        .unwrap();
    assert_eq!(
        DiscoveryResponse::decode(&discovery).unwrap().protocol,
        ProtocolId::CMA_SPDM
    );
    b.assert_unanswered();
    for step in &AUTHENTICATION[1..] {
        a.expect_success(step());
    }
    assert!(b.result(b_version).is_ok());
}

/// A connects, runs `last` (which must end its lease), and B's GET_VERSION, submitted
/// after A connected, reaches the device right after `last`.
fn a_sequence_ends_with(before: &[Vec<u32>], last: Vec<u32>) {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    for step in &AUTHENTICATION[..3] {
        a.expect_success(step());
    }
    let b_version = b.submit(get_version());
    assert_eq!(rig.decisions.wait_for(b.id(), GET_VERSION), Decision::Defer);
    for request in before {
        a.expect_success(request.clone());
    }
    let last_code = SpdmHeader::of_object(&last).map(|h| h.code);
    a.expect_success(last);
    assert!(b.result(b_version).is_ok());
    let seen: Vec<Seen> = rig.device.lock().unwrap().clone();
    let codes: Vec<_> = seen.iter().map(|s| s.request).collect();
    assert_eq!(codes[codes.len() - 2..], [last_code, Some(GET_VERSION)]);
}

#[test]
fn a_signed_get_measurements_ends_the_lease() {
    a_sequence_ends_with(
        &[get_measurements(false), get_measurements(false)],
        get_measurements(true),
    );
}

#[test]
fn end_session_ends_the_lease() {
    a_sequence_ends_with(&[get_digests()], end_session());
}

#[test]
fn challenge_auth_ends_the_lease() {
    a_sequence_ends_with(&[get_digests()], challenge());
}

#[test]
fn spdm_too_short_for_a_header_passes_while_a_lease_is_held() {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    a.expect_success(get_version());
    a.expect_success(get_capabilities());
    // The responder answers it as it will (here: ERROR InvalidRequest).
    let response = b.exchange(too_short()).unwrap();
    let header = scripted_spdm::header(&response).unwrap();
    assert_eq!((header.code, header.param1), (ERROR, INVALID_REQUEST));
    a.expect_success(negotiate_algorithms());
    let ran = rig.decisions.ran();
    assert_eq!(
        ran,
        [
            (a.id(), Some(GET_VERSION)),
            (a.id(), Some(GET_CAPABILITIES)),
            (b.id(), None),
            (a.id(), Some(NEGOTIATE_ALGORITHMS)),
        ]
    );
}
