//! A stress run of one mediator over the emulated function: [`CLIENTS`] clients, each
//! from its own thread, make [`EXCHANGES`] echo exchanges each (their payload names the
//! client and the sequence number), mixing `submit` and `submit_quiet` + `drive` and
//! now and then a Discovery request, with pseudo-random pauses, while another thread
//! injects device faults for short windows (StuckBusy, ErrorOnGo, WrongLength,
//! NeverReady, SlowResponse). Meanwhile one client cancels the exchange it has on the
//! device and one of two queued behind it, and one is dropped in the middle of an
//! exchange with two more queued. Checked:
//!
//! - every accepted submission gets exactly one result, at the client that made it; a
//!   success is exactly its own echo (none lost, duplicated or crossed); a failure is
//!   one the faults explain (TimedOut, DeviceError); a refusal at submission is
//!   QueueFull;
//! - the cancelled requests are answered Cancelled and the one left is served; the
//!   dropped client's requests are all answered Cancelled, its queued ones never reach
//!   the device, nothing of it starts after the drop, and the others keep being served;
//! - once the faults stop every client is served again and the mailbox is alive (the
//!   results are checked after shutdown, when no further one can arrive);
//! - the device sees requests in the order the mediator starts them;
//! - fairness, from the recorded service order (see [`service_log`]).
//!
//! # The fairness guarantee checked
//!
//! Round-robin over the clients' FIFO queues, one exchange per turn, with a scheduler
//! that runs everything (a deferral skips a client's turn), gives: **while a request
//! is at the head of its client's queue, every other client starts at most one
//! exchange before it starts.** After the worker starts a request of client B it looks
//! next at the clients after B in id order, wrapping around, and takes the first with a
//! request: a waiting client A is reached before B comes round again, and the same
//! holds for every client served after B. `drive` keeps the bound: a client may claim
//! the device only when no other client has a request queued, so nothing is claimed
//! while A waits; and a request a client handed over to the worker had started
//! already (the worker finishing it is no new start). A request enters the check when
//! its `Queued` entry is logged (just after `submit` returns) or when its client's
//! previous request started, whichever is later: never before it really was at the
//! head, so the window checked lies within the real one.
//!
//! The choices are seeded (see [`rng`]); only thread timing varies between runs.

mod rng;
mod service_log;

use std::collections::HashMap;
use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use self::rng::Rng;
use self::service_log::{check_device_order, Service, ServiceLog};
use super::*;
use crate::protocol::discovery;

/// Clients, each on its own thread.
const CLIENTS: u32 = 6;
/// Exchanges each client tries.
const EXCHANGES: u32 = 40;
/// Each client's bound.
const QUEUE_DEPTH: usize = 3;
/// Results a client lets itself wait for before it waits for one: one more than its
/// bound, so that it sometimes meets QueueFull (and then waits for one result).
const WINDOW: usize = QUEUE_DEPTH + 1;
/// Longest pause of a client between two submissions.
const MAX_CLIENT_PAUSE_US: u64 = 3_000;
/// Longest bound a client gives `drive`.
const MAX_DRIVE_US: u64 = 300;
/// Longest pause between two fault windows (after 100 µs).
const MAX_FAULT_GAP_US: u64 = 2_000;
/// Longest fault window (after 100 µs).
const MAX_FAULT_US: u64 = 2_000;
/// Payload tag of the client that cancels.
const CANCELLER: u32 = 100;
/// Payload tag of the client that is dropped.
const DROPPER: u32 = 101;
/// Sequence number of each client's exchange after the faults stopped.
const FINAL: u32 = 1_000;
/// Seeds every thread's generator (each mixes in its own number).
const SEED: u64 = 0x5eed_0d0e;
/// Short timeouts, so that faults cost little. The abort timeout is long: an abort
/// that meets a StuckBusy window then waits for the window to end (an abort returns as
/// soon as Busy clears) instead of declaring the mailbox dead.
const TIMING: MailboxConfig = MailboxConfig {
    timeout: Duration::from_millis(20),
    poll_interval: Duration::from_micros(200),
    abort_timeout: PATIENCE,
};

/// The payloads of the requests the device's responders saw, in order.
type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

/// An echo on ECHO and a gate on GATE, both recording what they see.
fn stress_device(seen: &Seen) -> (Mailbox<Arc<EmulatedFunction>>, FaultHandle, Gate) {
    let echoing = {
        let seen = seen.clone();
        FnResponder::new(ECHO, move |request: &DataObject| {
            seen.lock().unwrap().push(request.payload.clone());
            request.encode().ok()
        })
    };
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let gated = {
        let seen = seen.clone();
        FnResponder::new(GATE, move |request: &DataObject| {
            seen.lock().unwrap().push(request.payload.clone());
            let _ = entered_tx.send(());
            let _ = release_rx.recv();
            request.encode().ok()
        })
    };
    let spec = DoeSpec::new(DOE).responder(echoing).responder(gated);
    let fault = spec.fault_handle();
    let function = Arc::new(EmulatedFunction::builder().doe(spec).build().unwrap());
    let mailbox = Mailbox::new(function, DOE, TIMING).unwrap();
    (mailbox, fault, Gate { entered, release })
}

/// How a client submits.
#[derive(Debug, Clone, Copy)]
enum How {
    /// `submit`: the worker is woken.
    Waking,
    /// `submit_quiet`, to drive it next.
    Quiet,
}

/// What may answer an accepted submission.
#[derive(Debug)]
enum Expect {
    /// Its own response, or an error the faults explain.
    ResponseOrFault(Vec<u32>),
    /// Exactly this.
    Exactly(ExchangeResult),
}

/// One accepted submission.
struct Accepted {
    submission: SubmissionId,
    /// The request's payload if it went to the device's queue (not Discovery).
    payload: Option<Vec<u32>>,
    expect: Expect,
}

/// Results by kind, over the whole run.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    timed_out: usize,
    device_error: usize,
    cancelled: usize,
    refused: usize,
    driven_here: usize,
}

/// What one client did and got.
struct Run {
    tag: u32,
    id: ClientId,
    results: Arc<Recorder>,
    accepted: Vec<Accepted>,
    refused: usize,
    driven_here: usize,
}

impl Run {
    fn new(tag: u32, client: &MediatorClient, results: Arc<Recorder>) -> Self {
        Run {
            tag,
            id: client.id(),
            results,
            accepted: Vec::new(),
            refused: 0,
            driven_here: 0,
        }
    }

    /// Submits the request of `protocol` whose payload is this client's tag and `seq`,
    /// waking the worker or `Quiet`; logs and records it if accepted, expecting its echo
    /// or a fault (see [`Run::submit_expecting`]). QueueFull is the only refusal.
    fn submit(
        &mut self,
        client: &MediatorClient,
        log: &ServiceLog,
        protocol: ProtocolId,
        seq: u32,
        how: How,
    ) -> Option<SubmissionId> {
        let payload = vec![self.tag, seq];
        let request = echo(protocol, payload.clone());
        let submitted = match how {
            How::Waking => client.submit(request.clone()),
            How::Quiet => client.submit_quiet(request.clone()),
        };
        match submitted {
            Ok(submission) => {
                log.queued(self.id, submission);
                self.accepted.push(Accepted {
                    submission,
                    payload: Some(payload),
                    expect: Expect::ResponseOrFault(request),
                });
                Some(submission)
            }
            Err(e) => {
                assert_eq!(
                    e,
                    ExchangeError::QueueFull(QUEUE_DEPTH),
                    "{} {seq} refused",
                    self.id
                );
                self.back_off();
                None
            }
        }
    }

    /// Submits the request `protocol`/`seq` where nothing may refuse it, and expects
    /// exactly `result` for it.
    fn submit_expecting(
        &mut self,
        client: &MediatorClient,
        log: &ServiceLog,
        (protocol, seq): (ProtocolId, u32),
        result: ExchangeResult,
    ) -> SubmissionId {
        let submission = self
            .submit(client, log, protocol, seq, How::Waking)
            .unwrap_or_else(|| panic!("{} {seq} refused", self.id));
        if let Some(accepted) = self.accepted.last_mut() {
            accepted.expect = Expect::Exactly(result);
        }
        submission
    }

    /// Submits an echo quietly and drives it from this thread until `until`.
    fn submit_and_drive(
        &mut self,
        client: &MediatorClient,
        log: &ServiceLog,
        seq: u32,
        until: Instant,
    ) {
        if let Some(submission) = self.submit(client, log, ECHO, seq, How::Quiet) {
            if client.drive(submission, until) {
                self.driven_here += 1;
            }
        }
    }

    /// Asks Discovery for `index`; the answer comes from the cache.
    fn discovery(&mut self, client: &MediatorClient, index: u8, discovered: &[ProtocolId]) {
        let asked = DiscoveryRequest { index, version: 0 };
        match client.submit(asked.encode()) {
            Ok(submission) => self.accepted.push(Accepted {
                submission,
                payload: None,
                expect: Expect::Exactly(Ok(discovery::respond(discovered, &asked).encode())),
            }),
            Err(e) => {
                assert_eq!(e, ExchangeError::QueueFull(QUEUE_DEPTH));
                self.back_off();
            }
        }
    }

    /// After a QueueFull: counts it, and waits for one more result, as a client would
    /// before trying again.
    fn back_off(&mut self) {
        self.refused += 1;
        let waiting = self.accepted.len() - self.results.count();
        self.wait_until_waiting_at_most(waiting.saturating_sub(1));
    }

    /// Waits until at most `n` of its accepted submissions wait for a result.
    fn wait_until_waiting_at_most(&self, n: usize) {
        if self.accepted.len() > n {
            self.results.wait_for(self.accepted.len() - n);
        }
    }

    /// Checks that each accepted submission got exactly one result, as expected, and
    /// that nothing else arrived; adds them up.
    fn check_results(&self, tally: &mut Tally) {
        let results = self.results.wait_for(self.accepted.len());
        let mut got: HashMap<SubmissionId, Vec<&ExchangeResult>> = HashMap::new();
        for (submission, result) in &results {
            got.entry(*submission).or_default().push(result);
        }
        for accepted in &self.accepted {
            let Some(answers) = got.remove(&accepted.submission) else {
                panic!("{}'s {} never answered", self.id, accepted.submission);
            };
            let [result] = answers[..] else {
                panic!("{}'s {} answered {answers:?}", self.id, accepted.submission);
            };
            match (&accepted.expect, result) {
                (Expect::Exactly(expected), result) => assert_eq!(
                    result, expected,
                    "{}'s {} ({:?})",
                    self.id, accepted.submission, accepted.payload
                ),
                (Expect::ResponseOrFault(response), Ok(got)) => assert_eq!(
                    got, response,
                    "{}'s {} answered with another's response",
                    self.id, accepted.submission
                ),
                (Expect::ResponseOrFault(_), Err(e)) => assert!(
                    matches!(e, ExchangeError::TimedOut | ExchangeError::DeviceError(_)),
                    "{}'s {} failed with {e}, which no fault explains",
                    self.id,
                    accepted.submission
                ),
            }
            match result {
                Ok(_) => tally.ok += 1,
                Err(ExchangeError::TimedOut) => tally.timed_out += 1,
                Err(ExchangeError::DeviceError(_)) => tally.device_error += 1,
                Err(_) => tally.cancelled += 1,
            }
        }
        assert!(
            got.is_empty(),
            "{} got results of submissions it did not make: {got:?}",
            self.id
        );
        tally.refused += self.refused;
        tally.driven_here += self.driven_here;
    }
}

/// One client's thread: [`EXCHANGES`] submissions in a seeded mix of modes and pauses;
/// returns once every accepted one has its result.
fn run_client(
    tag: u32,
    client: MediatorClient,
    results: Arc<Recorder>,
    log: &ServiceLog,
    discovered: &[ProtocolId],
) -> (MediatorClient, Run) {
    let mut rng = Rng::new(SEED ^ u64::from(tag));
    let mut run = Run::new(tag, &client, results);
    for seq in 0..EXCHANGES {
        thread::sleep(rng.pause(MAX_CLIENT_PAUSE_US));
        run.wait_until_waiting_at_most(WINDOW - 1);
        match rng.below(8) {
            0 => {
                let index = rng.below(discovered.len() as u64) as u8;
                run.discovery(&client, index, discovered);
            }
            1..=4 => {
                run.submit(&client, log, ECHO, seq, How::Waking);
            }
            _ => {
                let until = Instant::now() + rng.pause(MAX_DRIVE_US);
                run.submit_and_drive(&client, log, seq, until);
            }
        }
    }
    run.wait_until_waiting_at_most(0);
    (client, run)
}

/// Sets a random fault for short windows until `stop`; returns how many windows.
/// `no_faults` is held through each window: whoever holds it knows none is set.
fn inject_faults(fault: &FaultHandle, no_faults: &Mutex<()>, stop: &AtomicBool) -> usize {
    let mut rng = Rng::new(SEED ^ 0xfa17);
    let mut windows = 0;
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_micros(100) + rng.pause(MAX_FAULT_GAP_US));
        let _window = no_faults.lock().unwrap_or_else(PoisonError::into_inner);
        fault.set(match rng.below(5) {
            0 => Fault::StuckBusy,
            1 => Fault::ErrorOnGo,
            2 => Fault::WrongLength {
                delta: rng.pick(&[-2, -1, 1, 2]),
            },
            3 => Fault::NeverReady,
            _ => Fault::SlowResponse {
                status_reads: 1 + rng.below(200) as u32,
            },
        });
        thread::sleep(Duration::from_micros(100) + rng.pause(MAX_FAULT_US));
        fault.clear();
        windows += 1;
    }
    windows
}

/// In the middle of the traffic, with no fault set: a client cancels its exchange on
/// the device (held there by the gate) and one of two queued behind it; later another
/// is dropped while its exchange is on the device and two more are queued.
fn cancel_and_drop(
    mediator: &Mediator,
    gate: Gate,
    no_faults: &Mutex<()>,
    log: &ServiceLog,
) -> (Run, Run) {
    let mut rng = Rng::new(SEED ^ 0xcafe);
    thread::sleep(Duration::from_millis(5) + rng.pause(20_000));
    let canceller = {
        let _no_faults = no_faults.lock().unwrap_or_else(PoisonError::into_inner);
        let (client, results) = super::client(mediator, "canceller");
        let mut run = Run::new(CANCELLER, &client, results);
        let cancelled = Err(ExchangeError::Cancelled);
        let on_device = run.submit_expecting(&client, log, (GATE, 0), cancelled.clone());
        gate.wait_entered();
        let queued = run.submit_expecting(&client, log, (ECHO, 1), cancelled);
        let served = Ok(echo(ECHO, vec![CANCELLER, 2]));
        run.submit_expecting(&client, log, (ECHO, 2), served);
        assert!(client.cancel(on_device), "on the device");
        assert!(client.cancel(queued), "queued");
        gate.open();
        run.wait_until_waiting_at_most(0);
        run
    };
    thread::sleep(rng.pause(20_000));
    let dropper = {
        let _no_faults = no_faults.lock().unwrap_or_else(PoisonError::into_inner);
        let (client, results) = super::client(mediator, "dropper");
        let mut run = Run::new(DROPPER, &client, results);
        let cancelled = Err(ExchangeError::Cancelled);
        run.submit_expecting(&client, log, (GATE, 0), cancelled.clone());
        gate.wait_entered();
        run.submit_expecting(&client, log, (ECHO, 1), cancelled.clone());
        run.submit_expecting(&client, log, (ECHO, 2), cancelled);
        drop(client);
        log.dropped(run.id);
        gate.open();
        run.wait_until_waiting_at_most(0);
        run
    };
    (canceller, dropper)
}

/// The value a thread returned, or its panic passed on as it was.
fn passed_on<T>(joined: thread::Result<T>) -> T {
    joined.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

#[test]
fn stress_clients_faults_cancel_and_drop() {
    let began = Instant::now();
    let log = ServiceLog::default();
    let seen = Seen::default();
    let (mailbox, fault, gate) = stress_device(&seen);
    let config = MediatorConfig {
        queue_depth: QUEUE_DEPTH,
        ..MediatorConfig::default()
    };
    let mediator = Mediator::start_with(mailbox, config, log.scheduler()).unwrap();
    let discovered = mediator.discovered().to_vec();
    let no_faults = Mutex::new(());
    let stop_faults = AtomicBool::new(false);

    let (clients, (canceller, dropper), fault_windows) = thread::scope(|s| {
        let faults = s.spawn(|| inject_faults(&fault, &no_faults, &stop_faults));
        let scenario = s.spawn(|| cancel_and_drop(&mediator, gate, &no_faults, &log));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|tag| {
                let (client, results) = super::client(&mediator, &format!("client {tag}"));
                let (log, discovered) = (&log, &discovered);
                s.spawn(move || run_client(tag, client, results, log, discovered))
            })
            .collect();
        // Every thread ends (the faults once told to) before a panic is passed on.
        let clients: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
        let scenario = scenario.join();
        stop_faults.store(true, Ordering::Relaxed);
        let windows = faults.join();
        let clients: Vec<_> = clients.into_iter().map(passed_on).collect();
        (clients, passed_on(scenario), passed_on(windows))
    });

    // The faults have stopped: every client is served again.
    let clients: Vec<Run> = clients
        .into_iter()
        .map(|(client, mut run)| {
            let request = echo(ECHO, vec![run.tag, FINAL]);
            run.submit_expecting(&client, &log, (ECHO, FINAL), Ok(request));
            run.wait_until_waiting_at_most(0);
            run
        })
        .collect();
    assert!(!mediator.is_dead());
    // Every result has been delivered once the mediator has shut down: none can come
    // after the checks.
    mediator.shutdown();

    let mut tally = Tally::default();
    for run in clients.iter().chain([&canceller, &dropper]) {
        run.check_results(&mut tally);
    }
    let service = Service::new(log.events());
    let busy_windows = check_service(&service, &clients, &dropper);
    check_device_order(
        &service.start_order(),
        &seen_by_device(&seen, &clients, &canceller, &dropper),
    );
    eprintln!(
        "stress: {tally:?}; {fault_windows} fault windows; {busy_windows} requests waited \
         while others were served; {:?}",
        began.elapsed()
    );
}

/// Checks round-robin for every client, and that the dropped client's queued requests
/// never reached the device, nothing of it started after the drop, and the others were
/// served after it. Returns how many requests waited while others were served.
fn check_service(service: &Service, clients: &[Run], dropper: &Run) -> usize {
    let busy_windows = clients
        .iter()
        .map(|run| service.check_round_robin(run.id))
        .sum();
    for queued in &dropper.accepted[1..] {
        assert!(!service.started(queued.submission));
    }
    service.check_nothing_started_after_drop(dropper.id);
    for run in clients {
        assert!(service.started_after_drop_of(run.id, dropper.id));
    }
    busy_windows
}

/// The submissions whose requests the device's responders saw, in order.
fn seen_by_device(
    seen: &Seen,
    clients: &[Run],
    canceller: &Run,
    dropper: &Run,
) -> Vec<SubmissionId> {
    let by_payload: HashMap<&[u32], SubmissionId> = clients
        .iter()
        .chain([canceller, dropper])
        .flat_map(|run| &run.accepted)
        .filter_map(|accepted| Some((accepted.payload.as_deref()?, accepted.submission)))
        .collect();
    seen.lock()
        .unwrap()
        .iter()
        .map(|payload| {
            *by_payload
                .get(payload.as_slice())
                .unwrap_or_else(|| panic!("the device saw a request nobody made: {payload:x?}"))
        })
        .collect()
}
