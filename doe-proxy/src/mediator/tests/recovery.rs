//! Recovery of a mailbox another requester left busy or in Error: per-exchange errors
//! while it is unusable, and service again (same mediator, same clients) once a retry
//! works.

use super::*;

/// Quick retries, so the tests take milliseconds.
const QUICK: RecoveryConfig = RecoveryConfig {
    first_retry: Duration::from_millis(5),
    max_retry: Duration::from_millis(20),
};

fn quick() -> MediatorConfig {
    MediatorConfig {
        recovery: Some(QUICK),
        ..MediatorConfig::default()
    }
}

/// Waits until `done` holds, polling; fails the test after [`PATIENCE`].
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Submits one ECHO exchange and returns its one result.
fn exchange(client: &MediatorClient, results: &Recorder, payload: u32) -> ExchangeResult {
    match client.submit(echo(ECHO, vec![payload])) {
        Ok(id) => results.result_of(id),
        Err(e) => Err(e),
    }
}

#[test]
fn a_mailbox_unusable_at_start_is_served_once_a_retry_works() {
    let (mailbox, fault, _gate) = device();
    // Another requester holds it: the start-up abort never completes.
    fault.set(Fault::StuckAbort);
    let mediator = Mediator::start(mailbox, quick()).expect("starts all the same");
    assert!(mediator.is_dead());
    assert!(mediator.discovered().is_empty());
    let (a, a_results) = client(&mediator, "a");
    assert!(a.discovered().is_empty());
    // Per-exchange errors meanwhile, each answered at once.
    for payload in 0..3 {
        assert_eq!(
            exchange(&a, &a_results, payload),
            Err(ExchangeError::MailboxDead)
        );
    }
    // The other requester goes away: a retry aborts, walks Discovery, and serves.
    fault.clear();
    eventually("the mailbox recovers", || !mediator.is_dead());
    assert_eq!(
        &*a.discovered(),
        &[ProtocolId::DISCOVERY, ECHO, ECHO2, GATE]
    );
    assert_eq!(exchange(&a, &a_results, 7), Ok(echo(ECHO, vec![7])));
}

#[test]
fn a_discovery_that_fails_at_start_is_walked_again() {
    let (mailbox, fault, _gate) = device();
    // The abort works but every Go ends in Error (a mailbox another requester confuses).
    fault.set(Fault::ErrorOnGo);
    let mediator = Mediator::start(mailbox, quick()).unwrap();
    assert!(mediator.is_dead());
    // Retries keep failing while the fault lasts.
    thread::sleep(Duration::from_millis(60));
    assert!(mediator.is_dead());
    fault.clear();
    eventually("Discovery works", || !mediator.discovered().is_empty());
    let (a, a_results) = client(&mediator, "a");
    assert_eq!(exchange(&a, &a_results, 1), Ok(echo(ECHO, vec![1])));
}

#[test]
fn without_recovery_a_failed_start_is_an_error() {
    let (mailbox, fault, _gate) = device();
    fault.set(Fault::StuckAbort);
    let config = MediatorConfig {
        recovery: None,
        ..MediatorConfig::default()
    };
    assert!(matches!(
        Mediator::start(mailbox, config),
        Err(MediatorError::Reset(_))
    ));
}

#[test]
fn a_mailbox_that_dies_while_serving_comes_back_for_the_same_clients() {
    let (mediator, fault, gate) = start(quick());
    let (holder, _) = client(&mediator, "holder");
    let (a, a_results) = client(&mediator, "a");
    holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();
    let queued = a.submit(echo(ECHO, vec![1])).unwrap();
    fault.set(Fault::StuckAbort);
    gate.open();
    // The gate's exchange is fine; the queued one meets the stuck mailbox, whose abort
    // fails: it and everything after it are answered MailboxDead while the fault lasts.
    assert_eq!(a_results.result_of(queued), Err(ExchangeError::MailboxDead));
    assert!(mediator.is_dead());
    assert_eq!(exchange(&a, &a_results, 2), Err(ExchangeError::MailboxDead));
    fault.clear();
    eventually("the mailbox recovers", || !mediator.is_dead());
    // The Discovery list was kept; the same client is served again.
    assert_eq!(
        &*a.discovered(),
        &[ProtocolId::DISCOVERY, ECHO, ECHO2, GATE]
    );
    assert_eq!(exchange(&a, &a_results, 3), Ok(echo(ECHO, vec![3])));
}

#[test]
fn without_recovery_a_dead_mailbox_stays_dead() {
    let config = MediatorConfig {
        recovery: None,
        ..MediatorConfig::default()
    };
    let (mediator, fault, gate) = start(config);
    let (holder, _) = client(&mediator, "holder");
    let (a, a_results) = client(&mediator, "a");
    holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();
    let queued = a.submit(echo(ECHO, vec![1])).unwrap();
    fault.set(Fault::StuckAbort);
    gate.open();
    assert_eq!(a_results.result_of(queued), Err(ExchangeError::MailboxDead));
    fault.clear();
    thread::sleep(Duration::from_millis(100));
    assert!(mediator.is_dead());
    assert_eq!(exchange(&a, &a_results, 2), Err(ExchangeError::MailboxDead));
}

#[test]
fn shutdown_is_prompt_during_an_outage() {
    let (mailbox, fault, _gate) = device();
    fault.set(Fault::StuckAbort);
    let config = MediatorConfig {
        recovery: Some(RecoveryConfig {
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(30),
        }),
        ..MediatorConfig::default()
    };
    let mediator = Mediator::start(mailbox, config).unwrap();
    let started = Instant::now();
    mediator.shutdown();
    // Not the 30 s backoff: the worker's wait ends at shutdown.
    assert!(started.elapsed() < Duration::from_secs(5));
}
