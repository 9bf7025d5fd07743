//! Two requesters that authenticate again and again on one mailbox, against the scripted
//! SPDM responder: without leases their interleaving breaks them (ERROR
//! UnexpectedRequest); with leases every run completes.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::lease_rig::{rig, Decision, Requester, Rig, NEVER_IDLE};
use super::scripted_spdm::{
    self, get_version, AUTHENTICATION, CHALLENGE, ERROR, GET_DIGESTS, GET_VERSION,
    UNEXPECTED_REQUEST,
};
use super::*;

/// Runs of the whole authentication per requester.
const RUNS: usize = 8;
/// How long a requester waits for the other before failing.
const PATIENCE: Duration = Duration::from_secs(10);

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
