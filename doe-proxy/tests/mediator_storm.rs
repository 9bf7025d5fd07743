//! A randomised storm of submissions, cancellations and clients going away against one
//! mediator: every accepted submission gets exactly one result, at the client that
//! made it, and a response is always the one for its own request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use doe_proxy::emulated::{DoeSpec, EmulatedFunction, FnResponder};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{
    Completion, ExchangeError, ExchangeResult, Mediator, MediatorClient, MediatorConfig,
    SubmissionId,
};
use doe_proxy::protocol::discovery::DiscoveryRequest;
use doe_proxy::protocol::{DataObject, ProtocolId};
use proptest::prelude::*;

const DOE: u16 = 0x100;
const CLIENTS: usize = 3;
const QUEUE_DEPTH: usize = 3;
/// Long enough that cancellations often find the request on the device.
const DEVICE_DELAY: Duration = Duration::from_micros(200);

#[derive(Debug, Clone)]
enum Op {
    Submit { client: usize, payload: Vec<u32> },
    Discovery { client: usize, index: u8 },
    Malformed { client: usize },
    Cancel { client: usize, back: usize },
    Drop { client: usize },
    Pause,
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    prop_oneof![
        6 => (client.clone(), prop::collection::vec(any::<u32>(), 0..6))
            .prop_map(|(client, payload)| Op::Submit { client, payload }),
        1 => (client.clone(), 0u8..4).prop_map(|(client, index)| Op::Discovery { client, index }),
        1 => client.clone().prop_map(|client| Op::Malformed { client }),
        3 => (client.clone(), 0usize..4).prop_map(|(client, back)| Op::Cancel { client, back }),
        1 => client.prop_map(|client| Op::Drop { client }),
        1 => Just(Op::Pause),
    ]
}

/// What a client's sink saw: (client generation, submission, result).
type Log = Arc<Mutex<Vec<(usize, SubmissionId, ExchangeResult)>>>;

fn sink(log: &Log, generation: usize) -> Arc<dyn Completion> {
    let log = log.clone();
    Arc::new(move |id: SubmissionId, result: ExchangeResult| {
        log.lock().unwrap().push((generation, id, result));
    })
}

fn start() -> Mediator {
    let slow_echo = FnResponder::new(ProtocolId::CMA_SPDM, |request: &DataObject| {
        thread::sleep(DEVICE_DELAY);
        request.encode().ok()
    });
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(DOE).responder(slow_echo))
        .build()
        .unwrap();
    let mailbox = Mailbox::new(function, DOE, MailboxConfig::default()).unwrap();
    let config = MediatorConfig {
        queue_depth: QUEUE_DEPTH,
        ..MediatorConfig::default()
    };
    Mediator::start(mailbox, config).unwrap()
}

/// What the test expects of one accepted submission.
struct Expected {
    generation: usize,
    response: Option<Vec<u32>>,
    cancelled: bool,
}

fn run_storm(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mediator = start();
    let log: Log = Arc::default();
    let mut generations = 0;
    let mut clients: Vec<Option<(MediatorClient, usize, Vec<SubmissionId>)>> =
        (0..CLIENTS).map(|_| None).collect();
    let mut expected: HashMap<SubmissionId, Expected> = HashMap::new();

    for op in ops {
        let slot_of = |client: usize, clients: &mut Vec<Option<_>>, generations: &mut usize| {
            if clients[client].is_none() {
                *generations += 1;
                let handle = mediator
                    .register("storm", sink(&log, *generations))
                    .unwrap();
                clients[client] = Some((handle, *generations, Vec::new()));
            }
        };
        match op {
            Op::Submit { client, payload } => {
                slot_of(client, &mut clients, &mut generations);
                let (handle, generation, ids) = clients[client].as_mut().unwrap();
                let request = DataObject::new(ProtocolId::CMA_SPDM, payload)
                    .encode()
                    .unwrap();
                match handle.submit(request.clone()) {
                    Ok(id) => {
                        ids.push(id);
                        expected.insert(
                            id,
                            Expected {
                                generation: *generation,
                                response: Some(request),
                                cancelled: false,
                            },
                        );
                    }
                    Err(e) => prop_assert_eq!(e, ExchangeError::QueueFull(QUEUE_DEPTH)),
                }
            }
            Op::Discovery { client, index } => {
                slot_of(client, &mut clients, &mut generations);
                let (handle, generation, ids) = clients[client].as_mut().unwrap();
                // Discovery counts against the same bound as queued requests.
                match handle.submit(DiscoveryRequest { index, version: 0 }.encode()) {
                    Ok(id) => {
                        ids.push(id);
                        expected.insert(
                            id,
                            Expected {
                                generation: *generation,
                                response: None,
                                cancelled: false,
                            },
                        );
                    }
                    Err(e) => prop_assert_eq!(e, ExchangeError::QueueFull(QUEUE_DEPTH)),
                }
            }
            Op::Malformed { client } => {
                slot_of(client, &mut clients, &mut generations);
                let (handle, _, _) = clients[client].as_mut().unwrap();
                prop_assert!(matches!(
                    handle.submit(vec![0x0001_0001, 5, 0]),
                    Err(ExchangeError::Malformed(_))
                ));
            }
            Op::Cancel { client, back } => {
                if let Some((handle, _, ids)) = clients[client].as_mut() {
                    if let Some(&id) = ids.iter().rev().nth(back) {
                        if handle.cancel(id) {
                            expected.get_mut(&id).unwrap().cancelled = true;
                        }
                    }
                }
            }
            Op::Drop { client } => clients[client] = None,
            Op::Pause => thread::sleep(DEVICE_DELAY * 2),
        }
    }
    drop(clients);
    mediator.shutdown();

    let log = log.lock().unwrap();
    let mut seen: HashMap<SubmissionId, usize> = HashMap::new();
    for (generation, id, result) in log.iter() {
        *seen.entry(*id).or_default() += 1;
        let want = expected.get(id);
        prop_assert!(want.is_some(), "result for unknown {}", id);
        let want = want.unwrap();
        prop_assert_eq!(
            *generation,
            want.generation,
            "{} went to another client",
            id
        );
        if want.cancelled {
            prop_assert_eq!(result, &Err(ExchangeError::Cancelled));
        }
        match result {
            Ok(response) => {
                if let Some(request) = &want.response {
                    prop_assert_eq!(response, request);
                }
            }
            Err(ExchangeError::Cancelled) | Err(ExchangeError::ShuttingDown) => {}
            Err(other) => prop_assert!(false, "{} failed: {}", id, other),
        }
    }
    for id in expected.keys() {
        prop_assert_eq!(seen.get(id).copied(), Some(1), "{} answered wrongly", id);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_submission_gets_exactly_one_result(ops in prop::collection::vec(op(), 1..60)) {
        run_storm(ops)?;
    }
}
