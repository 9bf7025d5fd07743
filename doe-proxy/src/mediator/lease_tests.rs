//! The SPDM lease state machine on its own, on a clock the tests move.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::completion::ExchangeResult;
use super::ids::{ClientId, SubmissionId};
use super::lease::{LeaseConfig, SpdmLeases};
use super::scheduler::{Admission, Candidate, Scheduler};
use super::spdm::request_resynch_response;
use crate::protocol::{DataObject, ProtocolId};

const IDLE: Duration = Duration::from_secs(2);
const A: ClientId = ClientId(1);
const B: ClientId = ClientId(2);
const C: ClientId = ClientId(3);

const V10: u8 = 0x10;
const V12: u8 = 0x12;
const GET_VERSION: u8 = 0x84;
const GET_CAPABILITIES: u8 = 0xE1;
const NEGOTIATE_ALGORITHMS: u8 = 0xE3;
const GET_DIGESTS: u8 = 0x81;
const CHALLENGE: u8 = 0x83;
const GET_MEASUREMENTS: u8 = 0xE0;
const END_SESSION: u8 = 0xEC;
const RESPOND_IF_READY: u8 = 0xFF;
const SIGNED: u8 = 0x01;
const ERROR: u8 = 0x7F;
const UNEXPECTED_REQUEST: u8 = 0x04;
const RESPONSE_NOT_READY: u8 = 0x42;

/// Leases on a clock that only moves when told.
struct Bench {
    leases: SpdmLeases,
    now: Arc<Mutex<Instant>>,
}

impl Bench {
    fn new() -> Self {
        let now = Arc::new(Mutex::new(Instant::now()));
        let clock = now.clone();
        let leases = SpdmLeases::with_clock(
            LeaseConfig { idle_timeout: IDLE },
            Box::new(move || *clock.lock().unwrap()),
        );
        Bench { leases, now }
    }

    fn now(&self) -> Instant {
        *self.now.lock().unwrap()
    }

    fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    fn admit(&mut self, client: ClientId, request: &[u32]) -> Admission {
        self.leases.admit(&candidate(client, request))
    }

    fn complete(&mut self, client: ClientId, request: &[u32], outcome: ExchangeResult) {
        self.leases.completed(&candidate(client, request), &outcome);
    }

    /// Admits `request` (it must run) and completes it with `outcome`.
    fn run(&mut self, client: ClientId, request: &[u32], outcome: ExchangeResult) {
        assert_eq!(self.admit(client, request), Admission::Run, "{request:x?}");
        self.complete(client, request, outcome);
    }

    /// Runs `request` and completes it with its success response.
    fn exchange(&mut self, client: ClientId, request: &[u32]) {
        let header = request[2].to_le_bytes();
        self.run(client, request, Ok(spdm(header[0], header[1] & 0x7F, 0)));
    }

    /// Runs GET_VERSION, GET_CAPABILITIES and NEGOTIATE_ALGORITHMS for `client`.
    fn connect(&mut self, client: ClientId) {
        self.exchange(client, &spdm(V10, GET_VERSION, 0));
        self.exchange(client, &spdm(V12, GET_CAPABILITIES, 0));
        self.exchange(client, &spdm(V12, NEGOTIATE_ALGORITHMS, 0));
    }
}

fn candidate(client: ClientId, request: &[u32]) -> Candidate<'_> {
    Candidate {
        client,
        submission: SubmissionId(0),
        protocol: DataObject::decode(request).unwrap().protocol,
        request,
    }
}

/// A CMA/SPDM object with just the 4-byte header.
fn spdm(version: u8, code: u8, param1: u8) -> Vec<u32> {
    object(
        ProtocolId::CMA_SPDM,
        vec![u32::from_le_bytes([version, code, param1, 0])],
    )
}

fn object(protocol: ProtocolId, payload: Vec<u32>) -> Vec<u32> {
    DataObject::new(protocol, payload).encode().unwrap()
}

fn error(code: u8) -> ExchangeResult {
    Ok(spdm(V12, ERROR, code))
}

#[test]
fn get_version_gives_the_lease_and_other_spdm_waits() {
    let mut bench = Bench::new();
    let get_version = spdm(V10, GET_VERSION, 0);
    assert_eq!(bench.admit(A, &get_version), Admission::Run);
    assert_eq!(bench.leases.holder(), Some(A));
    // While A's GET_VERSION runs, and after it.
    others_wait_for_spdm_only(&mut bench, B);
    bench.complete(A, &get_version, Ok(spdm(V10, 0x04, 0)));
    others_wait_for_spdm_only(&mut bench, B);
    bench.exchange(A, &spdm(V12, GET_CAPABILITIES, 0));
    assert_eq!(bench.leases.holder(), Some(A));
}

/// `other`'s SPDM requests (plain, GET_VERSION included, and secured) wait; its other
/// protocols run.
fn others_wait_for_spdm_only(bench: &mut Bench, other: ClientId) {
    assert_eq!(
        bench.admit(other, &spdm(V10, GET_VERSION, 0)),
        Admission::Defer
    );
    assert_eq!(
        bench.admit(other, &spdm(V12, GET_DIGESTS, 0)),
        Admission::Defer
    );
    let secured = object(ProtocolId::SECURED_CMA_SPDM, vec![1, 2, 3]);
    assert_eq!(bench.admit(other, &secured), Admission::Defer);
    let cdat = object(ProtocolId::CXL_TABLE_ACCESS, vec![0]);
    assert_eq!(bench.admit(other, &cdat), Admission::Run);
    let discovery = object(ProtocolId::DISCOVERY, vec![0]);
    assert_eq!(bench.admit(other, &discovery), Admission::Run);
}

#[test]
fn challenge_auth_ends_the_lease_and_an_error_does_not() {
    let mut bench = Bench::new();
    bench.connect(A);
    bench.exchange(A, &spdm(V12, GET_DIGESTS, 0));
    let challenge = spdm(V12, CHALLENGE, 0);
    bench.run(A, &challenge, error(UNEXPECTED_REQUEST));
    bench.run(A, &challenge, Err(super::ExchangeError::TimedOut));
    assert_eq!(bench.leases.holder(), Some(A));
    bench.run(A, &challenge, Ok(spdm(V12, 0x03, 0)));
    assert_eq!(bench.leases.holder(), None);
    assert_eq!(bench.admit(B, &spdm(V10, GET_VERSION, 0)), Admission::Run);
    assert_eq!(bench.leases.holder(), Some(B));
}

#[test]
fn only_a_signed_get_measurements_ends_the_lease() {
    let mut bench = Bench::new();
    bench.connect(A);
    for index in 0..3 {
        let unsigned = u32::from_le_bytes([V12, GET_MEASUREMENTS, 0, index]);
        let request = object(ProtocolId::CMA_SPDM, vec![unsigned]);
        bench.run(A, &request, Ok(spdm(V12, 0x60, 0)));
        assert_eq!(bench.leases.holder(), Some(A));
    }
    // Signed, all measurements, with its nonce and slot.
    let signed = u32::from_le_bytes([V12, GET_MEASUREMENTS, SIGNED, 0xff]);
    let mut payload = vec![signed];
    payload.extend([0u32; 9]);
    let request = object(ProtocolId::CMA_SPDM, payload);
    bench.run(A, &request, Ok(spdm(V12, 0x60, 0)));
    assert_eq!(bench.leases.holder(), None);
}

#[test]
fn end_session_ack_ends_the_lease() {
    let mut bench = Bench::new();
    bench.connect(A);
    bench.exchange(A, &spdm(V12, END_SESSION, 0));
    assert_eq!(bench.leases.holder(), None);
}

#[test]
fn respond_if_ready_finishes_what_a_not_ready_response_left_open() {
    let mut bench = Bench::new();
    bench.connect(A);
    bench.run(A, &spdm(V12, CHALLENGE, 0), error(RESPONSE_NOT_READY));
    assert_eq!(bench.leases.holder(), Some(A));
    let again = spdm(V12, RESPOND_IF_READY, CHALLENGE);
    bench.run(A, &again, error(RESPONSE_NOT_READY));
    assert_eq!(bench.leases.holder(), Some(A));
    bench.run(A, &again, Ok(spdm(V12, 0x03, 0)));
    assert_eq!(bench.leases.holder(), None);

    // A RESPOND_IF_READY for a request that does not end a sequence keeps the lease.
    bench.connect(A);
    bench.run(A, &spdm(V12, GET_DIGESTS, 0), error(RESPONSE_NOT_READY));
    let again = spdm(V12, RESPOND_IF_READY, GET_DIGESTS);
    bench.run(A, &again, Ok(spdm(V12, 0x01, 0)));
    assert_eq!(bench.leases.holder(), Some(A));
}

#[test]
fn an_idle_holder_loses_the_lease_and_must_resynch() {
    let mut bench = Bench::new();
    bench.connect(A);
    let last = bench.now();
    assert_eq!(bench.leases.next_wakeup(), Some(last + IDLE));
    bench.advance(IDLE - Duration::from_millis(1));
    assert_eq!(bench.admit(B, &spdm(V10, GET_VERSION, 0)), Admission::Defer);
    bench.advance(Duration::from_millis(1));
    bench.exchange(B, &spdm(V10, GET_VERSION, 0));
    assert_eq!(bench.leases.holder(), Some(B));
    // A's connection was reset by B's GET_VERSION: whatever A sends but GET_VERSION is
    // answered RequestResynch at its own version, lease held or not.
    assert_eq!(
        bench.admit(A, &spdm(V12, GET_DIGESTS, 0)),
        Admission::Answer(request_resynch_response(V12))
    );
    assert_eq!(bench.admit(A, &spdm(V10, GET_VERSION, 0)), Admission::Defer);
    bench.exchange(B, &spdm(V12, GET_CAPABILITIES, 0));
    bench.exchange(B, &spdm(V12, NEGOTIATE_ALGORITHMS, 0));
    bench.exchange(B, &spdm(V12, CHALLENGE, 0));
    assert_eq!(bench.leases.holder(), None);
    assert_eq!(
        bench.admit(A, &spdm(V12, GET_CAPABILITIES, 0)),
        Admission::Answer(request_resynch_response(V12))
    );
    // A starts again; now B is the one whose connection is gone.
    bench.connect(A);
    assert_eq!(
        bench.admit(B, &spdm(V12, GET_DIGESTS, 0)),
        Admission::Answer(request_resynch_response(V12))
    );
}

#[test]
fn a_running_request_never_lapses() {
    let mut bench = Bench::new();
    let get_version = spdm(V10, GET_VERSION, 0);
    assert_eq!(bench.admit(A, &get_version), Admission::Run);
    bench.advance(IDLE * 10);
    assert_eq!(bench.leases.next_wakeup(), None);
    assert_eq!(bench.admit(B, &get_version), Admission::Defer);
    bench.complete(A, &get_version, Ok(spdm(V10, 0x04, 0)));
    assert_eq!(bench.leases.next_wakeup(), Some(bench.now() + IDLE));
}

#[test]
fn next_wakeup_forgets_a_lapsed_lease_once() {
    let mut bench = Bench::new();
    bench.connect(A);
    assert_eq!(bench.leases.next_wakeup(), Some(bench.now() + IDLE));
    bench.advance(IDLE * 3);
    // Due: look again now (for requests deferred before it lapsed), then nothing to wait for.
    assert_eq!(bench.leases.next_wakeup(), Some(bench.now()));
    assert_eq!(bench.leases.holder(), None);
    assert_eq!(bench.leases.next_wakeup(), None);
}

#[test]
fn no_lease_no_wakeup() {
    let mut bench = Bench::new();
    assert_eq!(bench.leases.next_wakeup(), None);
    bench.exchange(A, &object(ProtocolId::CXL_TABLE_ACCESS, vec![0]));
    assert_eq!(bench.leases.next_wakeup(), None);
}

#[test]
fn the_holder_going_away_ends_the_lease() {
    let mut bench = Bench::new();
    bench.connect(A);
    assert_eq!(bench.admit(B, &spdm(V10, GET_VERSION, 0)), Admission::Defer);
    bench.leases.client_gone(C);
    assert_eq!(bench.leases.holder(), Some(A));
    bench.leases.client_gone(A);
    assert_eq!(bench.leases.holder(), None);
    bench.exchange(B, &spdm(V10, GET_VERSION, 0));
    assert_eq!(bench.leases.holder(), Some(B));
}

#[test]
fn a_completion_after_the_holder_left_does_not_bring_the_lease_back() {
    let mut bench = Bench::new();
    let get_version = spdm(V10, GET_VERSION, 0);
    assert_eq!(bench.admit(A, &get_version), Admission::Run);
    bench.leases.client_gone(A);
    bench.complete(A, &get_version, Ok(spdm(V10, 0x04, 0)));
    assert_eq!(bench.leases.holder(), None);
    assert_eq!(bench.leases.next_wakeup(), None);
}

#[test]
fn the_connection_owner_takes_the_lease_again() {
    let mut bench = Bench::new();
    bench.connect(A);
    bench.exchange(A, &spdm(V12, CHALLENGE, 0));
    assert_eq!(bench.leases.holder(), None);
    // Measurements after authentication, on the same connection: A holds again.
    bench.exchange(A, &spdm(V12, GET_MEASUREMENTS, 0));
    assert_eq!(bench.leases.holder(), Some(A));
    assert_eq!(bench.admit(B, &spdm(V10, GET_VERSION, 0)), Admission::Defer);
}

#[test]
fn a_client_without_a_connection_runs_without_a_lease_when_free() {
    let mut bench = Bench::new();
    bench.exchange(C, &spdm(V12, GET_DIGESTS, 0));
    assert_eq!(bench.leases.holder(), None);
    bench.connect(A);
    assert_eq!(bench.admit(C, &spdm(V12, GET_DIGESTS, 0)), Admission::Defer);
}

#[test]
fn spdm_too_short_for_a_header_runs_without_a_lease() {
    let mut bench = Bench::new();
    let empty = object(ProtocolId::CMA_SPDM, vec![]);
    bench.run(B, &empty, Ok(spdm(V10, ERROR, 0x01)));
    assert_eq!(bench.leases.holder(), None);
    bench.connect(A);
    assert_eq!(bench.admit(B, &empty), Admission::Run);
    bench.complete(B, &empty, Ok(spdm(V10, ERROR, 0x01)));
    assert_eq!(bench.leases.holder(), Some(A));
}

#[test]
fn secured_spdm_keeps_the_holder_alive_and_never_ends_the_lease() {
    let mut bench = Bench::new();
    bench.connect(A);
    let secured = object(ProtocolId::SECURED_CMA_SPDM, vec![0xEC12_0000, 0]);
    for _ in 0..3 {
        bench.advance(IDLE - Duration::from_millis(1));
        assert_eq!(bench.admit(A, &secured), Admission::Run);
        bench.advance(IDLE);
        assert_eq!(bench.leases.next_wakeup(), None, "running");
        bench.complete(
            A,
            &secured,
            Ok(object(ProtocolId::SECURED_CMA_SPDM, vec![0x6C12_0000])),
        );
        assert_eq!(bench.leases.holder(), Some(A));
    }
    assert_eq!(bench.admit(B, &secured), Admission::Defer);
    bench.advance(IDLE);
    assert_eq!(bench.admit(B, &secured), Admission::Run);
    assert_eq!(bench.leases.holder(), None);
}
