//! A mailbox driver that panics in an exchange: its client gets one error, the mediator
//! lives on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// The payload on which the responder panics.
const BOOM: u32 = 0xb00b;

/// A function whose ECHO2 responder panics inside Go on [`BOOM`] (as a driver or device
/// model bug would, in the middle of a register access) and echoes anything else.
fn panicking_mediator() -> Mediator {
    let fragile = FnResponder::new(ECHO2, |request: &DataObject| {
        if request.payload.first() == Some(&BOOM) {
            panic!("responder bug");
        }
        request.encode().ok()
    });
    let spec = DoeSpec::new(DOE)
        .responder(EchoResponder::new(ECHO))
        .responder(fragile);
    let function = Arc::new(EmulatedFunction::builder().doe(spec).build().unwrap());
    let mailbox = Mailbox::new(function, DOE, FAST).unwrap();
    Mediator::start(mailbox, MediatorConfig::default()).unwrap()
}

fn is_internal_error(result: &ExchangeResult) -> bool {
    result == &Err(ExchangeError::Internal("responder bug".to_owned()))
}

#[test]
fn a_panic_on_the_worker_answers_its_exchange_and_the_worker_serves_on() {
    let mediator = panicking_mediator();
    let (a, a_results) = client(&mediator, "a");
    let (b, b_results) = client(&mediator, "b");
    let boom = a.submit(echo(ECHO2, vec![BOOM])).unwrap();
    let result = a_results.result_of(boom);
    assert!(is_internal_error(&result), "{result:?}");
    assert_eq!(
        result.unwrap_err().to_string(),
        "internal error in the mailbox driver: responder bug"
    );
    // Both clients are served after it, by the same worker.
    let later_b = b.submit(echo(ECHO2, vec![2])).unwrap();
    let later_a = a.submit(echo(ECHO, vec![3])).unwrap();
    assert_eq!(b_results.result_of(later_b), Ok(echo(ECHO2, vec![2])));
    assert_eq!(a_results.result_of(later_a), Ok(echo(ECHO, vec![3])));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(a_results.count(), 2, "one result per submission");
    assert_eq!(b_results.count(), 1);
    assert!(!mediator.is_dead());
}

#[test]
fn a_panic_while_driving_is_answered_by_the_worker() {
    let mediator = panicking_mediator();
    let (c, c_results) = client(&mediator, "vcpu");
    let (other, other_results) = client(&mediator, "other");
    settle(&c, &c_results);
    let before = c_results.count();
    let boom = c.submit_quiet(echo(ECHO2, vec![BOOM])).unwrap();
    assert!(
        c.drive(boom, Instant::now() + PATIENCE),
        "the device was free and nobody else waited"
    );
    assert!(is_internal_error(&c_results.result_of(boom)));
    // Another client's request and this client's next driven one both succeed.
    let later = other.submit(echo(ECHO2, vec![4])).unwrap();
    assert_eq!(other_results.result_of(later), Ok(echo(ECHO2, vec![4])));
    let (next, _) = drive_echo(&c, 5, Instant::now() + PATIENCE);
    assert_eq!(c_results.result_of(next), Ok(echo(ECHO, vec![5])));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(c_results.count(), before + 2, "one result per submission");
    assert!(!mediator.is_dead());
}
