//! A scheduler that answers a request itself ([`Admission::Answer`]): the client gets that
//! response, the device never sees the request, and the client's next request runs.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::emulated::{DoeSpec, EmulatedFunction, FnResponder};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::protocol::{DataObject, ProtocolId};

const DOE: u16 = 0x190;
const PATIENCE: Duration = Duration::from_secs(10);
/// The payload the scheduler answers itself.
const ANSWERED: u32 = 0xa5;
/// What the scheduler answers it with.
const LOCAL_PAYLOAD: u32 = 0x5a;

/// Answers requests whose first payload dword is [`ANSWERED`]; runs the rest.
struct AnswersSome {
    completed: Arc<Mutex<Vec<u32>>>,
}

impl Scheduler for AnswersSome {
    fn admit(&mut self, candidate: &Candidate<'_>) -> Admission {
        match candidate.request.get(2) {
            Some(&ANSWERED) => Admission::Answer(object(vec![LOCAL_PAYLOAD])),
            _ => Admission::Run,
        }
    }

    fn completed(&mut self, candidate: &Candidate<'_>, _outcome: &ExchangeResult) {
        if let Some(&first) = candidate.request.get(2) {
            self.completed.lock().unwrap().push(first);
        }
    }
}

fn object(payload: Vec<u32>) -> Vec<u32> {
    DataObject::new(ProtocolId::CMA_SPDM, payload)
        .encode()
        .unwrap()
}

#[test]
fn an_answered_request_never_reaches_the_device() {
    let (seen_tx, seen) = mpsc::channel();
    let echo = FnResponder::new(ProtocolId::CMA_SPDM, move |request: &DataObject| {
        let _ = seen_tx.send(request.payload.clone());
        request.encode().ok()
    });
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(DOE).responder(echo))
        .build()
        .unwrap();
    let mailbox = Mailbox::new(function, DOE, MailboxConfig::default()).unwrap();
    let completed = Arc::new(Mutex::new(Vec::new()));
    let scheduler = AnswersSome {
        completed: completed.clone(),
    };
    let mediator =
        Mediator::start_with(mailbox, MediatorConfig::default(), Box::new(scheduler)).unwrap();
    let (results_tx, results): (_, Receiver<(SubmissionId, ExchangeResult)>) = mpsc::channel();
    let results_tx = Mutex::new(results_tx);
    let client = mediator
        .register(
            "a",
            Arc::new(move |id: SubmissionId, result: ExchangeResult| {
                let _ = results_tx.lock().unwrap().send((id, result));
            }),
        )
        .unwrap();
    let answered = client.submit(object(vec![ANSWERED])).unwrap();
    let behind = client.submit(object(vec![7])).unwrap();
    // The notifier delivers the local answer, the worker the device's: in either order.
    let mut got: Vec<_> = (0..2)
        .map(|_| results.recv_timeout(PATIENCE).unwrap())
        .collect();
    got.sort_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        vec![
            (answered, Ok(object(vec![LOCAL_PAYLOAD]))),
            (behind, Ok(object(vec![7])))
        ]
    );
    mediator.shutdown();
    assert_eq!(seen.try_iter().collect::<Vec<_>>(), vec![vec![7]]);
    assert_eq!(*completed.lock().unwrap(), vec![7]);
}
