//! The bounded completion wait: a vCPU waits for its guest's exchange after Go or a
//! Status read, never past the bound on one access, never holding a lock that the
//! result, an abort from another vCPU or another client needs.
//!
//! "vCPU" threads here do what vmm's do: handle an access with the mailbox locked (a
//! `Mutex<VirtualDoe>` stands for the bus lock), release it, then run the noted wait.

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use doe_proxy::emulated::{DoeSpec, EmulatedFunction, FnResponder};
use doe_proxy::mailbox::regs::{DoeStatus, CTRL_ABORT, CTRL_GO, DOE_CTRL, DOE_STATUS, DOE_WRITE};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{Mediator, MediatorConfig};
use doe_proxy::protocol::{DataObject, ProtocolId};

use super::harness::{cma, Harness, Mode, CAP};
use crate::doe::{take_pending, AllowAll, VirtualDoe, VirtualDoeConfig, WaitCause, WaitOutcome};
use crate::pci::capability::CapabilityHandler;

/// Long enough that reaching it means a wake-up was missed.
const LONG: Duration = Duration::from_secs(10);
/// Short, for waits that are meant to run out.
const SHORT: Duration = Duration::from_millis(30);
/// Scheduling slack allowed past a bound on a loaded machine.
const SLACK: Duration = Duration::from_secs(2);

fn waiting(bound: Duration, mode: Mode) -> Harness {
    let config = VirtualDoeConfig {
        completion_wait: bound,
        ..VirtualDoeConfig::default()
    };
    Harness::with(mode, config, Arc::new(AllowAll))
}

/// One access on a shared mailbox, as a vCPU handles it: under the lock, then the wait
/// with no lock held.
fn access(doe: &Mutex<VirtualDoe>, reg: u16, write: Option<u32>) -> Option<WaitOutcome> {
    {
        let mut doe = doe.lock().unwrap();
        match write {
            Some(value) => doe.write(reg, &value.to_le_bytes()),
            None => doe.read(reg, &mut [0u8; 4]),
        }
    }
    take_pending().map(|w| w.wait())
}

fn status_of(doe: &Mutex<VirtualDoe>) -> DoeStatus {
    let mut data = [0u8; 4];
    doe.lock().unwrap().read(DOE_STATUS, &mut data);
    // This read is the test's, not a vCPU's: no wait.
    drop(take_pending());
    DoeStatus::decode(u32::from_le_bytes(data))
}

#[test]
fn go_waits_for_the_result_so_the_first_status_read_is_ready() {
    let mut h = waiting(LONG, Mode::EchoLater);
    for round in 0..50 {
        let request = cma(&[round]);
        for &dword in &request {
            h.write(DOE_WRITE, dword);
            assert!(take_pending().is_none(), "request dwords never wait");
        }
        h.write(DOE_CTRL, CTRL_GO);
        let outcome = take_pending().expect("Go submitted: the vCPU waits").wait();
        assert_eq!(outcome.cause, WaitCause::Go);
        assert!(outcome.completed, "round {round}: {outcome:?}");
        assert!(outcome.waited < LONG);
        let status = h.status();
        assert!(
            status.data_object_ready && !status.busy,
            "round {round}: {status:?}"
        );
        assert!(
            take_pending().is_none(),
            "a Status read with nothing in flight never waits"
        );
        assert_eq!(h.drain(), request);
    }
}

#[test]
fn without_a_bound_nothing_waits() {
    let mut h = waiting(Duration::ZERO, Mode::Manual);
    h.send(&cma(&[1]));
    assert!(take_pending().is_none());
    assert!(h.status().busy);
    assert!(take_pending().is_none());
}

#[test]
fn a_guest_that_sets_go_and_never_polls_holds_its_vcpu_at_most_the_bound() {
    let mut h = waiting(SHORT, Mode::Manual);
    h.send(&cma(&[1]));
    let outcome = take_pending().unwrap().wait();
    assert!(!outcome.completed);
    assert!(outcome.waited >= SHORT, "{outcome:?}");
    assert!(outcome.waited < SHORT + SLACK, "{outcome:?}");
    // Still in flight; a Status read waits the bound once more, and no longer.
    assert!(h.status().busy);
    let outcome = take_pending().unwrap().wait();
    assert_eq!(outcome.cause, WaitCause::StatusRead);
    assert!(
        !outcome.completed && outcome.waited < SHORT + SLACK,
        "{outcome:?}"
    );
    // The result arrives later: the guest finds it.
    let (id, request) = h.submitted()[0].clone();
    h.complete(id, Ok(request.clone()));
    assert_eq!(h.drain(), request);
}

#[test]
fn a_flood_of_go_while_busy_never_waits() {
    let mut h = waiting(LONG, Mode::Manual);
    h.send(&cma(&[1]));
    assert_eq!(take_pending().unwrap().cause(), WaitCause::Go);
    for _ in 0..10_000 {
        h.write(DOE_CTRL, CTRL_GO);
        assert!(
            take_pending().is_none(),
            "Go while Busy is ignored, so it waits for nothing"
        );
    }
    assert_eq!(h.submitted().len(), 1);
}

#[test]
fn an_abort_from_another_vcpu_ends_the_wait() {
    let h = waiting(LONG, Mode::Manual);
    let seen = h.seen.clone();
    let doe = Arc::new(Mutex::new(h.doe));
    for &dword in &cma(&[7]) {
        assert!(access(&doe, DOE_WRITE, Some(dword)).is_none());
    }
    let vcpu0 = {
        let doe = doe.clone();
        thread::spawn(move || access(&doe, DOE_CTRL, Some(CTRL_GO)).unwrap())
    };
    // vCPU 1 aborts while vCPU 0 waits (its wait must not hold the lock Abort needs).
    while seen.lock().unwrap().submitted.is_empty() {
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(50));
    assert!(access(&doe, DOE_CTRL, Some(CTRL_ABORT)).is_none());
    let outcome = vcpu0.join().unwrap();
    assert!(outcome.completed, "{outcome:?}");
    assert!(
        outcome.waited < LONG - SLACK,
        "the abort did not wake the waiter: {outcome:?}"
    );
    assert_eq!(status_of(&doe), DoeStatus::default());
    assert_eq!(seen.lock().unwrap().cancelled.len(), 1);
}

fn two_vcpus_polling(bound: Duration, complete: bool) -> Vec<WaitOutcome> {
    let (doe, seen, sink) = waiting(bound, Mode::Manual).into_parts();
    let doe = Arc::new(Mutex::new(doe));
    let request = cma(&[9]);
    for &dword in &request {
        access(&doe, DOE_WRITE, Some(dword));
    }
    // Go on this thread, without waiting: the two vCPUs below poll.
    doe.lock().unwrap().write(DOE_CTRL, &CTRL_GO.to_le_bytes());
    drop(take_pending());
    let polling = Arc::new(Barrier::new(3));
    let vcpus: Vec<_> = (0..2)
        .map(|_| {
            let (doe, polling) = (doe.clone(), polling.clone());
            thread::spawn(move || {
                polling.wait();
                access(&doe, DOE_STATUS, None).expect("Busy: the Status read waits")
            })
        })
        .collect();
    polling.wait();
    if complete {
        thread::sleep(Duration::from_millis(50));
        let id = seen.lock().unwrap().submitted[0].0;
        sink.complete(id, Ok(request));
    }
    vcpus.into_iter().map(|v| v.join().unwrap()).collect()
}

#[test]
fn two_vcpus_polling_both_wake_on_the_result() {
    for outcome in two_vcpus_polling(LONG, true) {
        assert_eq!(outcome.cause, WaitCause::StatusRead);
        assert!(outcome.completed, "{outcome:?}");
        assert!(
            outcome.waited < LONG - SLACK,
            "a waiter missed the wake-up: {outcome:?}"
        );
    }
}

#[test]
fn two_vcpus_polling_a_result_that_never_comes_stay_bounded() {
    for outcome in two_vcpus_polling(SHORT, false) {
        assert!(!outcome.completed, "{outcome:?}");
        assert!(
            outcome.waited >= SHORT && outcome.waited < SHORT + SLACK,
            "{outcome:?}"
        );
    }
}

/// The CMA protocol on an emulated device whose responder takes `delay` per request.
fn slow_device(delay: Duration) -> Mediator {
    let responder = FnResponder::new(ProtocolId::CMA_SPDM, move |request: &DataObject| {
        thread::sleep(delay);
        DataObject::new(ProtocolId::CMA_SPDM, request.payload.clone())
            .encode()
            .ok()
    });
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(CAP).responder(responder))
        .build()
        .unwrap();
    let physical = Mailbox::new(function, CAP, MailboxConfig::default()).unwrap();
    Mediator::start(physical, MediatorConfig::default()).unwrap()
}

/// A guest's vCPU: writes `request`, Go, waits, reads Status; returns the wait and when
/// it ended.
fn guest_exchange(doe: &Mutex<VirtualDoe>, request: &[u32]) -> (WaitOutcome, Instant, DoeStatus) {
    for &dword in request {
        access(doe, DOE_WRITE, Some(dword));
    }
    let outcome = access(doe, DOE_CTRL, Some(CTRL_GO)).expect("Go waits");
    let ended = Instant::now();
    (outcome, ended, status_of(doe))
}

#[test]
fn a_second_client_is_not_delayed_by_a_waiting_one() {
    const EXCHANGE: Duration = Duration::from_millis(200);
    let mediator = slow_device(EXCHANGE);
    let config = VirtualDoeConfig {
        completion_wait: LONG,
        ..VirtualDoeConfig::default()
    };
    let client = |name: &str| {
        let doe = VirtualDoe::connect(config, Arc::new(AllowAll), |sink| {
            mediator.register(name.to_owned(), sink)
        })
        .unwrap();
        Arc::new(Mutex::new(doe))
    };
    let (first, second) = (client("first"), client("second"));
    let started = Instant::now();
    let first_vcpu = {
        let first = first.clone();
        thread::spawn(move || guest_exchange(&first, &cma(&[1])))
    };
    // The second guest submits while the first one's vCPU waits for its exchange.
    thread::sleep(EXCHANGE / 4);
    let (second_wait, second_done, second_status) = guest_exchange(&second, &cma(&[2]));
    let (first_wait, first_done, first_status) = first_vcpu.join().unwrap();
    assert!(first_wait.completed && second_wait.completed);
    assert!(first_status.data_object_ready && second_status.data_object_ready);
    assert!(first_done < second_done, "the device serves them in turn");
    // The second is served as soon as the device is free: two exchanges' time, not the
    // first guest's wait bound.
    assert!(
        second_done - started < LONG - SLACK,
        "the second client waited on the first one's vCPU"
    );
    drop((first, second));
    mediator.shutdown();
}

#[test]
fn shutdown_ends_a_wait() {
    let mediator = slow_device(Duration::from_millis(300));
    let config = VirtualDoeConfig {
        completion_wait: LONG,
        ..VirtualDoeConfig::default()
    };
    let client = |name: &str| {
        let doe = VirtualDoe::connect(config, Arc::new(AllowAll), |sink| {
            mediator.register(name.to_owned(), sink)
        })
        .unwrap();
        Arc::new(Mutex::new(doe))
    };
    let (running, queued) = (client("running"), client("queued"));
    let vcpus: Vec<_> = [running, queued]
        .into_iter()
        .enumerate()
        .map(|(i, doe)| {
            thread::sleep(Duration::from_millis(50));
            thread::spawn(move || guest_exchange(&doe, &cma(&[i as u32])))
        })
        .collect();
    // vmm ends while one exchange is on the device and the other is queued.
    thread::sleep(Duration::from_millis(50));
    mediator.shutdown();
    let ends: Vec<_> = vcpus.into_iter().map(|v| v.join().unwrap()).collect();
    for (outcome, _, _) in &ends {
        assert!(
            outcome.completed && outcome.waited < LONG - SLACK,
            "{outcome:?}"
        );
    }
    // The running exchange finished and was delivered; the queued one was answered
    // "shutting down", which the guest sees as Error.
    assert!(ends[0].2.data_object_ready, "{:?}", ends[0].2);
    assert!(ends[1].2.error, "{:?}", ends[1].2);
}

#[test]
fn a_device_that_never_answers_holds_the_vcpu_only_the_bound() {
    // The responder discards every request, as hardware does for an object it does not
    // support; the physical requester's timeout is short so the test ends quickly.
    let discard = FnResponder::new(ProtocolId::CMA_SPDM, |_: &DataObject| None);
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(CAP).responder(discard))
        .build()
        .unwrap();
    let physical = MailboxConfig {
        timeout: Duration::from_millis(200),
        ..MailboxConfig::default()
    };
    let mediator = Mediator::start(
        Mailbox::new(function, CAP, physical).unwrap(),
        MediatorConfig::default(),
    )
    .unwrap();
    let config = VirtualDoeConfig {
        completion_wait: SHORT,
        ..VirtualDoeConfig::default()
    };
    let doe = VirtualDoe::connect(config, Arc::new(AllowAll), |sink| {
        mediator.register("guest", sink)
    })
    .unwrap();
    let doe = Mutex::new(doe);
    let (outcome, _, status) = guest_exchange(&doe, &cma(&[1]));
    // The vCPU sent it and polled until the bound, then left it to the mediator's worker.
    assert!(!outcome.completed, "{outcome:?}");
    assert!(outcome.waited < SHORT + SLACK, "{outcome:?}");
    assert!(status.busy, "{status:?}");
    // The worker's timeout ends it: the guest sees Error, as from a device that failed.
    let deadline = Instant::now() + LONG;
    while !status_of(&doe).error {
        assert!(Instant::now() < deadline, "the exchange never ended");
        thread::sleep(Duration::from_millis(10));
    }
    drop(doe);
    mediator.shutdown();
}
