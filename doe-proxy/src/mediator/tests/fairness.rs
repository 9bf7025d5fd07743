//! `drive` keeps round-robin: it never claims the device while another client waits.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;

#[test]
fn drive_does_not_claim_a_free_device_while_another_client_waits() {
    let (mediator, _fault, _gate) = start(MediatorConfig::default());
    let served = Arc::new(Mutex::new(Vec::new()));
    let sink = |tag: &'static str| -> Arc<dyn Completion> {
        let served = served.clone();
        Arc::new(move |_: SubmissionId, result: ExchangeResult| {
            served.lock().unwrap().push((tag, result));
        })
    };
    let (vcpu, settled) = client(&mediator, "vcpu");
    // The worker sleeps: a quiet submission does not wake it.
    settle(&vcpu, &settled);
    drop(vcpu);
    // Round-robin goes on from the settling client in registration order: `other`
    // comes first.
    let other = mediator.register("other", sink("other")).unwrap();
    let vcpu = mediator.register("vcpu", sink("vcpu")).unwrap();
    other.submit_quiet(echo(ECHO2, vec![1])).unwrap();
    // The device is free, but `other` waits: the worker serves it, then this one.
    let mine = vcpu.submit_quiet(echo(ECHO, vec![2])).unwrap();
    assert!(!vcpu.drive(mine, Instant::now() + PATIENCE));
    let deadline = Instant::now() + PATIENCE;
    while served.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "not both served");
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        *served.lock().unwrap(),
        vec![
            ("other", Ok(echo(ECHO2, vec![1]))),
            ("vcpu", Ok(echo(ECHO, vec![2])))
        ]
    );
}
