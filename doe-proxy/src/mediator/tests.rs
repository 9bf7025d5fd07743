//! The mediator against the emulated DOE function.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::emulated::{DoeSpec, EchoResponder, EmulatedFunction, Fault, FaultHandle, FnResponder};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use crate::protocol::{DataObject, ProtocolId};

/// Where QEMU's cxl-type3 puts its DOE.
const DOE: u16 = 0x190;
/// Short timeouts so that failure paths run quickly.
const FAST: MailboxConfig = MailboxConfig {
    timeout: Duration::from_millis(50),
    poll_interval: Duration::from_millis(1),
    abort_timeout: Duration::from_millis(50),
};
/// How long a test waits for a result before failing.
const PATIENCE: Duration = Duration::from_secs(10);
/// The protocol whose responder blocks until the test releases it.
const GATE: ProtocolId = ProtocolId::CXL_COMPLIANCE;
/// A protocol the emulated device answers by echoing.
const ECHO: ProtocolId = ProtocolId::CMA_SPDM;
/// A second echoed protocol.
const ECHO2: ProtocolId = ProtocolId::SECURED_CMA_SPDM;

/// Results as a client's sink received them.
#[derive(Default)]
struct Recorder {
    results: Mutex<Vec<(SubmissionId, ExchangeResult)>>,
    changed: Condvar,
}

impl Completion for Recorder {
    fn complete(&self, submission: SubmissionId, result: ExchangeResult) {
        self.results.lock().unwrap().push((submission, result));
        self.changed.notify_all();
    }
}

impl Recorder {
    /// Waits until `n` results arrived and returns them.
    fn wait_for(&self, n: usize) -> Vec<(SubmissionId, ExchangeResult)> {
        let deadline = Instant::now() + PATIENCE;
        let mut results = self.results.lock().unwrap();
        while results.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} results arrived",
                results.len()
            );
            results = self.changed.wait_timeout(results, left).unwrap().0;
        }
        results.clone()
    }

    fn result_of(&self, submission: SubmissionId) -> ExchangeResult {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let results = self.results.lock().unwrap();
            let mine: Vec<_> = results.iter().filter(|(id, _)| *id == submission).collect();
            assert!(mine.len() <= 1, "{submission} answered twice");
            if let Some((_, result)) = mine.first() {
                return result.clone();
            }
            assert!(Instant::now() < deadline, "{submission} never answered");
            drop(self.changed.wait_timeout(results, PATIENCE).unwrap());
        }
    }

    fn count(&self) -> usize {
        self.results.lock().unwrap().len()
    }
}

/// Holds the GATE responder inside its exchange until released.
struct Gate {
    entered: Receiver<()>,
    release: Sender<()>,
}

impl Gate {
    fn wait_entered(&self) {
        self.entered
            .recv_timeout(PATIENCE)
            .expect("the gate request never reached the device");
    }

    fn open(&self) {
        self.release.send(()).unwrap();
    }
}

fn echo(protocol: ProtocolId, payload: Vec<u32>) -> Vec<u32> {
    DataObject::new(protocol, payload).encode().unwrap()
}

/// A function with echo responders and a gate; the mailbox driver over it.
fn device() -> (Mailbox<Arc<EmulatedFunction>>, FaultHandle, Gate) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let gate = FnResponder::new(GATE, move |request: &DataObject| {
        let _ = entered_tx.send(());
        let _ = release_rx.recv();
        request.encode().ok()
    });
    let spec = DoeSpec::new(DOE)
        .responder(EchoResponder::new(ECHO))
        .responder(EchoResponder::new(ECHO2))
        .responder(gate);
    let fault = spec.fault_handle();
    let function = Arc::new(EmulatedFunction::builder().doe(spec).build().unwrap());
    let mailbox = Mailbox::new(function, DOE, FAST).unwrap();
    (mailbox, fault, Gate { entered, release })
}

fn start(config: MediatorConfig) -> (Mediator, FaultHandle, Gate) {
    let (mailbox, fault, gate) = device();
    (Mediator::start(mailbox, config).unwrap(), fault, gate)
}

fn client(mediator: &Mediator, name: &str) -> (MediatorClient, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let client = mediator.register(name, recorder.clone()).unwrap();
    (client, recorder)
}

#[test]
fn discovery_runs_once_and_is_served_from_the_cache() {
    let (mediator, fault, _gate) = start(MediatorConfig::default());
    assert_eq!(
        &*mediator.discovered(),
        &[ProtocolId::DISCOVERY, ECHO, ECHO2, GATE]
    );
    // A device that no longer answers does not matter: Discovery never reaches it.
    fault.set(Fault::NeverReady);
    let (a, results) = client(&mediator, "a");
    assert_eq!(a.discovered(), mediator.discovered());
    let id = a
        .submit(
            DiscoveryRequest {
                index: 2,
                version: 0,
            }
            .encode(),
        )
        .unwrap();
    let response = DiscoveryResponse::decode(&results.result_of(id).unwrap()).unwrap();
    assert_eq!(response.protocol, ECHO2);
    assert_eq!(response.next_index, 3);
}

#[test]
fn busy_clients_are_served_round_robin() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let order = Arc::new(Mutex::new(Vec::new()));
    let sink = |tag: char| -> Arc<dyn Completion> {
        let order = order.clone();
        Arc::new(move |_: SubmissionId, result: ExchangeResult| {
            order.lock().unwrap().push((tag, result.unwrap()[2]));
        })
    };
    let holder = mediator.register("holder", sink('h')).unwrap();
    let a = mediator.register("a", sink('a')).unwrap();
    let b = mediator.register("b", sink('b')).unwrap();
    // Hold the device so that both queues fill before anything runs.
    holder.submit(echo(GATE, vec![0])).unwrap();
    gate.wait_entered();
    for i in 1..=4 {
        a.submit(echo(ECHO, vec![i])).unwrap();
    }
    for i in 1..=4 {
        b.submit(echo(ECHO2, vec![i])).unwrap();
    }
    gate.open();
    let deadline = Instant::now() + PATIENCE;
    while order.lock().unwrap().len() < 9 {
        assert!(Instant::now() < deadline, "not every request was answered");
        thread::sleep(Duration::from_millis(1));
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order,
        vec![
            ('h', 0),
            ('a', 1),
            ('b', 1),
            ('a', 2),
            ('b', 2),
            ('a', 3),
            ('b', 3),
            ('a', 4),
            ('b', 4)
        ]
    );
}

#[test]
fn a_full_queue_is_refused_not_grown() {
    let config = MediatorConfig {
        queue_depth: 2,
        ..MediatorConfig::default()
    };
    let (mediator, _fault, gate) = start(config);
    let (holder, _) = client(&mediator, "holder");
    let (a, results) = client(&mediator, "a");
    holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();
    a.submit(echo(ECHO, vec![1])).unwrap();
    a.submit(echo(ECHO, vec![2])).unwrap();
    assert_eq!(
        a.submit(echo(ECHO, vec![3])),
        Err(ExchangeError::QueueFull(2))
    );
    // Another client's queue is its own.
    let (b, _) = client(&mediator, "b");
    assert!(b.submit(echo(ECHO, vec![4])).is_ok());
    gate.open();
    assert!(results.wait_for(2).iter().all(|(_, r)| r.is_ok()));
}

#[test]
fn cancel_answers_at_once_and_never_aborts_the_device() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let (holder, held) = client(&mediator, "holder");
    let (a, results) = client(&mediator, "a");
    let on_device = holder.submit(echo(GATE, vec![7])).unwrap();
    gate.wait_entered();
    let queued = a.submit(echo(ECHO, vec![1])).unwrap();
    assert!(a.cancel(queued));
    assert_eq!(results.result_of(queued), Err(ExchangeError::Cancelled));
    // The running exchange is answered Cancelled while the device still holds it.
    assert!(holder.cancel(on_device));
    assert_eq!(held.result_of(on_device), Err(ExchangeError::Cancelled));
    assert!(!holder.cancel(on_device), "a second cancel finds nothing");
    assert!(!a.cancel(queued));
    // A client cannot cancel another's submission.
    let other = a.submit(echo(ECHO, vec![2])).unwrap();
    assert!(!holder.cancel(other));
    gate.open();
    assert_eq!(results.result_of(other), Ok(echo(ECHO, vec![2])));
    // The device finished the cancelled exchange; its response went nowhere.
    let next = holder.submit(echo(ECHO2, vec![3])).unwrap();
    assert_eq!(held.result_of(next), Ok(echo(ECHO2, vec![3])));
    assert_eq!(held.count(), 2);
}

#[test]
fn a_client_that_goes_away_is_answered_cancelled() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let (holder, held) = client(&mediator, "holder");
    let on_device = holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();
    let (a, results) = client(&mediator, "a");
    let queued = [
        a.submit(echo(ECHO, vec![1])).unwrap(),
        a.submit(echo(ECHO, vec![2])).unwrap(),
    ];
    drop(a);
    drop(holder);
    assert_eq!(held.result_of(on_device), Err(ExchangeError::Cancelled));
    for id in queued {
        assert_eq!(results.result_of(id), Err(ExchangeError::Cancelled));
    }
    gate.open();
    mediator.shutdown();
    assert_eq!(held.count(), 1);
    assert_eq!(results.count(), 2);
}

#[test]
fn a_request_the_device_drops_times_out_for_its_client_only() {
    let (mediator, fault, gate) = start(MediatorConfig::default());
    let (holder, _) = client(&mediator, "holder");
    let (a, a_results) = client(&mediator, "a");
    let (b, b_results) = client(&mediator, "b");
    holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();
    // While the device is held, a's request is queued; it will meet a dead device.
    let lost = a.submit(echo(ECHO, vec![1])).unwrap();
    let fine = b.submit(echo(ECHO2, vec![2])).unwrap();
    fault.set(Fault::NeverReady);
    gate.open();
    assert_eq!(a_results.result_of(lost), Err(ExchangeError::TimedOut));
    // b's turn came after a's; the fault is lifted by then only if we lift it: the
    // device misbehaves for everyone while it does, and recovers for everyone after.
    let b_result = b_results.result_of(fine);
    assert!(b_result == Err(ExchangeError::TimedOut) || b_result.is_ok());
    fault.clear();
    let again = b.submit(echo(ECHO2, vec![3])).unwrap();
    assert_eq!(b_results.result_of(again), Ok(echo(ECHO2, vec![3])));
    assert!(!mediator.is_dead());
}

#[test]
fn a_protocol_the_device_discards_does_not_stall_others() {
    // The device silently discards requests of one protocol (as for an unsupported
    // type): only the client that sent it times out.
    let spec = DoeSpec::new(DOE)
        .responder(EchoResponder::new(ECHO))
        .responder(FnResponder::new(GATE, |_: &DataObject| None));
    let function = EmulatedFunction::builder().doe(spec).build().unwrap();
    let mailbox = Mailbox::new(function, DOE, FAST).unwrap();
    let mediator = Mediator::start(mailbox, MediatorConfig::default()).unwrap();
    let (a, a_results) = client(&mediator, "a");
    let (b, b_results) = client(&mediator, "b");
    let lost = a.submit(echo(GATE, vec![1])).unwrap();
    let answered: Vec<_> = (0..3)
        .map(|i| b.submit(echo(ECHO, vec![i])).unwrap())
        .collect();
    assert_eq!(a_results.result_of(lost), Err(ExchangeError::TimedOut));
    for (i, id) in (0..3).zip(answered) {
        assert_eq!(b_results.result_of(id), Ok(echo(ECHO, vec![i])));
    }
}

#[test]
fn device_errors_reach_the_client() {
    let (mediator, fault, _gate) = start(MediatorConfig::default());
    let (a, results) = client(&mediator, "a");
    fault.set(Fault::ErrorOnGo);
    let id = a.submit(echo(ECHO, vec![1])).unwrap();
    assert!(matches!(
        results.result_of(id),
        Err(ExchangeError::DeviceError(_))
    ));
    fault.set(Fault::WrongLength { delta: 1 });
    let id = a.submit(echo(ECHO, vec![1])).unwrap();
    assert!(matches!(
        results.result_of(id),
        Err(ExchangeError::DeviceError(_))
    ));
    fault.clear();
    let id = a.submit(echo(ECHO, vec![2])).unwrap();
    assert_eq!(results.result_of(id), Ok(echo(ECHO, vec![2])));
}

#[test]
fn a_mailbox_whose_abort_fails_is_dead_for_everyone() {
    let (mediator, fault, gate) = start(MediatorConfig::default());
    let (holder, _) = client(&mediator, "holder");
    let (a, a_results) = client(&mediator, "a");
    let (b, b_results) = client(&mediator, "b");
    holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();
    let first = a.submit(echo(ECHO, vec![1])).unwrap();
    let queued = b.submit(echo(ECHO, vec![2])).unwrap();
    fault.set(Fault::StuckAbort);
    gate.open();
    assert_eq!(a_results.result_of(first), Err(ExchangeError::MailboxDead));
    assert_eq!(b_results.result_of(queued), Err(ExchangeError::MailboxDead));
    assert!(mediator.is_dead());
    assert_eq!(
        b.submit(echo(ECHO, vec![3])),
        Err(ExchangeError::MailboxDead)
    );
}

#[test]
fn shutdown_answers_everything_queued() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let (holder, held) = client(&mediator, "holder");
    let (a, results) = client(&mediator, "a");
    let on_device = holder.submit(echo(GATE, vec![9])).unwrap();
    gate.wait_entered();
    let queued: Vec<_> = (0..3)
        .map(|i| a.submit(echo(ECHO, vec![i])).unwrap())
        .collect();
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        gate.open();
    });
    mediator.shutdown();
    opener.join().unwrap();
    // The exchange on the device finished and was delivered; the rest were not run.
    assert_eq!(held.result_of(on_device), Ok(echo(GATE, vec![9])));
    for id in queued {
        assert_eq!(results.result_of(id), Err(ExchangeError::ShuttingDown));
    }
    assert_eq!(
        a.submit(echo(ECHO, vec![1])),
        Err(ExchangeError::ShuttingDown)
    );
    assert!(!a.cancel(SubmissionId(0)));
}

#[test]
fn malformed_requests_are_refused_before_queueing() {
    let config = MediatorConfig {
        max_request_dwords: 4,
        ..MediatorConfig::default()
    };
    let (mediator, _fault, _gate) = start(config);
    let (a, results) = client(&mediator, "a");
    for bad in [
        vec![],
        vec![0x0001_0001],
        vec![0x0001_0001, 1],
        vec![0x0001_0001, 4, 0],
        echo(ECHO, vec![0; 3]),
        // Discovery without its index dword.
        vec![0x0000_0001, 2],
    ] {
        assert!(
            matches!(a.submit(bad.clone()), Err(ExchangeError::Malformed(_))),
            "{bad:x?}"
        );
    }
    mediator.shutdown();
    assert_eq!(results.count(), 0);
}

/// Denies GATE, defers ECHO2 forever, runs the rest.
struct Picky;

impl Scheduler for Picky {
    fn admit(&mut self, candidate: &Candidate<'_>) -> Admission {
        match candidate.protocol {
            GATE => Admission::Deny,
            ECHO2 => Admission::Defer,
            _ => Admission::Run,
        }
    }
}

#[test]
fn the_scheduler_can_deny_and_defer() {
    let (mailbox, _fault, _gate) = device();
    let mediator =
        Mediator::start_with(mailbox, MediatorConfig::default(), Box::new(Picky)).unwrap();
    let (a, a_results) = client(&mediator, "a");
    let (b, b_results) = client(&mediator, "b");
    let denied = a.submit(echo(GATE, vec![1])).unwrap();
    let deferred = a.submit(echo(ECHO2, vec![2])).unwrap();
    let behind = a.submit(echo(ECHO, vec![3])).unwrap();
    let other = b.submit(echo(ECHO, vec![4])).unwrap();
    assert_eq!(a_results.result_of(denied), Err(ExchangeError::Denied));
    // A deferred head holds its own client's queue, not the others'.
    assert_eq!(b_results.result_of(other), Ok(echo(ECHO, vec![4])));
    assert_eq!(a_results.count(), 1);
    mediator.shutdown();
    assert_eq!(
        a_results.result_of(deferred),
        Err(ExchangeError::ShuttingDown)
    );
    assert_eq!(
        a_results.result_of(behind),
        Err(ExchangeError::ShuttingDown)
    );
}

#[test]
fn a_panicking_sink_does_not_stop_deliveries() {
    let (mediator, _fault, _gate) = start(MediatorConfig::default());
    let bad = mediator
        .register(
            "bad",
            Arc::new(|_: SubmissionId, _: ExchangeResult| panic!("sink bug")),
        )
        .unwrap();
    let (good, results) = client(&mediator, "good");
    bad.submit(echo(ECHO, vec![1])).unwrap();
    let id = good.submit(echo(ECHO, vec![2])).unwrap();
    assert_eq!(results.result_of(id), Ok(echo(ECHO, vec![2])));
}

/// A sink that, while it delivers, has another thread submit to the same mediator and
/// waits (bounded) for that submit, then records whether it went through: what a vCPU
/// does that holds the registers this sink needs and writes Go (which submits).
struct SubmitsWhileDelivering {
    other: Arc<MediatorClient>,
    submits_went_through: Mutex<Vec<bool>>,
    changed: Condvar,
}

impl Completion for SubmitsWhileDelivering {
    fn complete(&self, _: SubmissionId, _: ExchangeResult) {
        let other = self.other.clone();
        let (done, submitted) = mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(other.submit(echo(ECHO2, vec![7])).is_ok());
        });
        let went_through = submitted
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or(false);
        self.submits_went_through.lock().unwrap().push(went_through);
        self.changed.notify_all();
    }
}

impl SubmitsWhileDelivering {
    fn wait_for(&self, n: usize) -> Vec<bool> {
        let mut seen = self.submits_went_through.lock().unwrap();
        while seen.len() < n {
            let (guard, timeout) = self.changed.wait_timeout(seen, PATIENCE).unwrap();
            assert!(
                !timeout.timed_out(),
                "only {} of {n} deliveries",
                guard.len()
            );
            seen = guard;
        }
        seen.clone()
    }
}

#[test]
fn a_sink_runs_with_no_mediator_lock_held() {
    let (mediator, _fault, _gate) = start(MediatorConfig::default());
    let (other, other_results) = client(&mediator, "other vcpu");
    let sink = Arc::new(SubmitsWhileDelivering {
        other: Arc::new(other),
        submits_went_through: Mutex::new(Vec::new()),
        changed: Condvar::new(),
    });
    let c = mediator.register("vcpu", sink.clone()).unwrap();
    // Delivered by the worker...
    c.submit(echo(ECHO, vec![1])).unwrap();
    // ... and by the thread that drives its own request.
    thread::sleep(Duration::from_millis(50));
    let submission = c.submit_quiet(echo(ECHO, vec![2])).unwrap();
    c.drive(submission, Instant::now() + PATIENCE);
    assert_eq!(
        sink.wait_for(2),
        vec![true, true],
        "a submit from another thread must not wait for a delivery to end"
    );
    other_results.wait_for(2);
}

/// Lets the worker thread start and reach its wait, then drives echo requests until one
/// runs on this thread: the worker then sleeps until something wakes it (a driven request
/// never does).
fn settle(client: &MediatorClient, rec: &Recorder) {
    thread::sleep(Duration::from_millis(50));
    for i in 0..100 {
        let (submission, ran) = drive_echo(client, 1000 + i, Instant::now() + PATIENCE);
        assert!(rec.result_of(submission).is_ok());
        if ran {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("no request could be driven");
}

/// Submits `payload` quietly (as a vCPU that will wait does) and drives it from here.
fn drive_echo(client: &MediatorClient, payload: u32, until: Instant) -> (SubmissionId, bool) {
    let submission = client.submit_quiet(echo(ECHO, vec![payload])).unwrap();
    (submission, client.drive(submission, until))
}

#[test]
fn an_uncontended_request_runs_on_the_driving_thread() {
    let (mediator, _fault, _gate) = start(MediatorConfig::default());
    let (c, rec) = client(&mediator, "vcpu");
    settle(&c, &rec);
    let before = rec.count();
    for i in 0..20 {
        let (submission, ran) = drive_echo(&c, i, Instant::now() + PATIENCE);
        assert!(ran, "the device was free and nobody else waited");
        // Delivered from inside `drive`, before it returned: no other thread involved.
        assert_eq!(rec.count(), before + i as usize + 1);
        assert_eq!(rec.result_of(submission), Ok(echo(ECHO, vec![i])));
    }
}

#[test]
fn a_device_that_does_not_answer_in_time_is_handed_to_the_worker() {
    let (mediator, fault, _gate) = start(MediatorConfig::default());
    let (c, rec) = client(&mediator, "vcpu");
    // The device holds the response back for a few Status reads: longer than a deadline
    // that has already passed, so the driving thread hands it over at once.
    fault.set(Fault::SlowResponse { status_reads: 5 });
    let (submission, ran) = drive_echo(&c, 7, Instant::now());
    assert!(ran);
    assert_eq!(rec.result_of(submission), Ok(echo(ECHO, vec![7])));
    // A device that never answers: the driver's timeout runs on the worker, not here.
    fault.set(Fault::NeverReady);
    let started = Instant::now();
    let (submission, ran) = drive_echo(&c, 8, started + Duration::from_millis(5));
    let held = started.elapsed();
    assert!(ran);
    assert!(
        held < FAST.timeout,
        "the driving thread waited the device's timeout: {held:?}"
    );
    assert_eq!(rec.result_of(submission), Err(ExchangeError::TimedOut));
    fault.clear();
    let (submission, _) = drive_echo(&c, 9, Instant::now() + PATIENCE);
    assert_eq!(rec.result_of(submission), Ok(echo(ECHO, vec![9])));
}

#[test]
fn driving_never_jumps_the_queue() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let (busy, busy_rec) = client(&mediator, "busy");
    let (other, other_rec) = client(&mediator, "other");
    let (vcpu, vcpu_rec) = client(&mediator, "vcpu");
    // The device is taken by `busy`'s gated request; `other` queues one behind it.
    let gated = busy.submit(echo(GATE, vec![1])).unwrap();
    gate.wait_entered();
    let queued = other.submit(echo(ECHO2, vec![2])).unwrap();
    let (mine, ran) = drive_echo(&vcpu, 3, Instant::now() + PATIENCE);
    assert!(!ran, "the device is busy: the worker serves it in turn");
    gate.open();
    assert_eq!(busy_rec.result_of(gated), Ok(echo(GATE, vec![1])));
    assert_eq!(other_rec.result_of(queued), Ok(echo(ECHO2, vec![2])));
    assert_eq!(vcpu_rec.result_of(mine), Ok(echo(ECHO, vec![3])));
}

#[test]
fn a_cancel_while_driving_still_gives_one_result() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let (c, rec) = client(&mediator, "vcpu");
    settle(&c, &rec);
    let before = rec.count();
    let submission = c.submit_quiet(echo(GATE, vec![4])).unwrap();
    let c = Arc::new(c);
    let driver = {
        let c = c.clone();
        thread::spawn(move || c.drive(submission, Instant::now() + PATIENCE))
    };
    gate.wait_entered();
    assert!(c.cancel(submission), "on the device, not answered yet");
    gate.open();
    assert!(driver.join().unwrap());
    assert_eq!(rec.result_of(submission), Err(ExchangeError::Cancelled));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(rec.count(), before + 1, "the device's response was dropped");
}

#[test]
fn shutdown_waits_for_a_driven_request() {
    let (mediator, _fault, gate) = start(MediatorConfig::default());
    let (c, rec) = client(&mediator, "vcpu");
    settle(&c, &rec);
    let submission = c.submit_quiet(echo(GATE, vec![5])).unwrap();
    let c = Arc::new(c);
    let driver = {
        let c = c.clone();
        thread::spawn(move || c.drive(submission, Instant::now() + PATIENCE))
    };
    gate.wait_entered();
    let stopper = thread::spawn(move || mediator.shutdown());
    thread::sleep(Duration::from_millis(50));
    gate.open();
    stopper.join().unwrap();
    assert!(driver.join().unwrap());
    assert_eq!(rec.result_of(submission), Ok(echo(GATE, vec![5])));
    assert_eq!(
        c.submit(echo(ECHO, vec![6])),
        Err(ExchangeError::ShuttingDown)
    );
}

mod fairness;
mod panics;
mod queue_bound;
mod recovery;
mod stress;
