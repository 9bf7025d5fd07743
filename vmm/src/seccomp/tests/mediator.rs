//! The `doe-mediator` filter, on a real mediator's threads over an emulated DOE function
//! that keeps Busy set for a while (so the worker polls and sleeps).

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use doe_proxy::emulated::{DoeSpec, EchoResponder, EmulatedFunction, Fault};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{Completion, ExchangeResult, Mediator, MediatorConfig, SubmissionId};
use doe_proxy::protocol::{DataObject, ProtocolId};

use super::{end_child, is_child, run_child};

/// The DOE capability's offset in the emulated function.
const DOE: u16 = 0x190;
/// The protocol the emulated mailbox echoes.
const ECHO: ProtocolId = ProtocolId::CXL_TABLE_ACCESS;

struct Channel(mpsc::Sender<ExchangeResult>);

impl Completion for Channel {
    fn complete(&self, _submission: SubmissionId, result: ExchangeResult) {
        let _ = self.0.send(result);
    }
}

#[test]
fn child_mediator_threads() {
    if !is_child("child_mediator_threads") {
        return;
    }
    let spec = DoeSpec::new(DOE).responder(EchoResponder::new(ECHO));
    spec.fault_handle()
        .set(Fault::SlowResponse { status_reads: 20 });
    let function = Arc::new(EmulatedFunction::builder().doe(spec).build().unwrap());
    let timing = MailboxConfig {
        poll_interval: Duration::from_micros(200),
        ..MailboxConfig::default()
    };
    let mailbox = Mailbox::new(function, DOE, timing).unwrap();
    let config = MediatorConfig {
        on_thread_start: Some(crate::doe::mediator_thread_start),
        ..MediatorConfig::default()
    };
    let mediator = Mediator::start(mailbox, config).unwrap();
    let (tx, rx) = mpsc::channel();
    let client = mediator.register("test", Arc::new(Channel(tx))).unwrap();
    let request = DataObject::new(ECHO, vec![1, 2, 3]).encode().unwrap();
    for _ in 0..3 {
        client.submit(request.clone()).unwrap();
        let response = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(response, request);
    }
    drop(client);
    // The threads end (a mediator dropped when a later assignment step fails).
    mediator.shutdown();
    end_child();
}

#[test]
fn mediator_filter_allows_the_worker_and_the_notifier() {
    let out = run_child("child_mediator_threads");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
