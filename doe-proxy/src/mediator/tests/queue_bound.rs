//! The per-client bound counts every result a client waits for that the mediator holds:
//! requests queued and answers waiting for the notifier (Discovery from the cache).

use std::sync::{Arc, Mutex};

use super::*;
use crate::protocol::discovery;

fn discovery_request(index: u8) -> Vec<u32> {
    DiscoveryRequest { index, version: 0 }.encode()
}

/// A sink whose first result holds the notifier until the test releases it.
fn stalling_sink() -> (Arc<dyn Completion>, Gate) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let channels = Mutex::new((entered_tx, release_rx));
    let sink = move |_: SubmissionId, _: ExchangeResult| {
        let channels = channels.lock().unwrap();
        let _ = channels.0.send(());
        let _ = channels.1.recv_timeout(PATIENCE);
    };
    (Arc::new(sink), Gate { entered, release })
}

#[test]
fn discovery_answers_count_against_the_queue_bound() {
    let config = MediatorConfig {
        queue_depth: 2,
        ..MediatorConfig::default()
    };
    let (mediator, _fault, gate) = start(config);
    // The notifier is stuck in another client's sink: answers from the cache pile up.
    let (stall_sink, stall) = stalling_sink();
    let staller = mediator.register("staller", stall_sink).unwrap();
    staller.submit(discovery_request(0)).unwrap();
    stall.wait_entered();
    // The device is held: requests stay queued.
    let (holder, _) = client(&mediator, "holder");
    holder.submit(echo(GATE, vec![])).unwrap();
    gate.wait_entered();

    let (a, a_results) = client(&mediator, "a");
    let queued = a.submit(echo(ECHO, vec![1])).unwrap();
    let answered = a.submit(discovery_request(1)).unwrap();
    // One queued request and one undelivered answer make two: the bound.
    assert_eq!(
        a.submit(discovery_request(2)),
        Err(ExchangeError::QueueFull(2))
    );
    assert_eq!(
        a.submit(echo(ECHO, vec![2])),
        Err(ExchangeError::QueueFull(2))
    );
    // Another client's bound is its own.
    let (b, b_results) = client(&mediator, "b");
    let b_answered = b.submit(discovery_request(3)).unwrap();

    // Once the notifier has handed the answer over, it no longer counts.
    stall.open();
    let expected = discovery::respond(
        &mediator.discovered(),
        &DiscoveryRequest {
            index: 1,
            version: 0,
        },
    )
    .encode();
    assert_eq!(a_results.result_of(answered), Ok(expected));
    assert!(b_results.result_of(b_answered).is_ok());
    let again = a.submit(discovery_request(2)).unwrap();
    assert!(a_results.result_of(again).is_ok());
    gate.open();
    assert_eq!(a_results.result_of(queued), Ok(echo(ECHO, vec![1])));
    assert_eq!(
        a_results.count(),
        3,
        "refused submissions have no other result"
    );
}

#[test]
fn a_sink_may_submit_the_next_discovery_index_with_a_queue_of_one() {
    let config = MediatorConfig {
        queue_depth: 1,
        ..MediatorConfig::default()
    };
    let (mediator, _fault, _gate) = start(config);
    let walker: Arc<Mutex<Option<Arc<MediatorClient>>>> = Arc::default();
    let (done, walked) = mpsc::channel();
    let sink = {
        let walker = walker.clone();
        let listed = Mutex::new(Vec::new());
        move |_: SubmissionId, result: ExchangeResult| {
            let response = DiscoveryResponse::decode(&result.unwrap()).unwrap();
            let mut listed = listed.lock().unwrap();
            listed.push(response.protocol);
            if response.next_index == 0 {
                let _ = done.send(Ok(listed.clone()));
                return;
            }
            // From inside `complete`: the answer being delivered no longer counts.
            let next = walker.lock().unwrap().clone();
            if let Some(Err(e)) = next.map(|c| c.submit(discovery_request(response.next_index))) {
                let _ = done.send(Err(e));
            }
        }
    };
    let client = Arc::new(mediator.register("walker", Arc::new(sink)).unwrap());
    *walker.lock().unwrap() = Some(client.clone());
    client.submit(discovery_request(0)).unwrap();
    let walked = walked.recv_timeout(PATIENCE).expect("the walk stopped");
    // Break the cycle client -> sink -> client.
    walker.lock().unwrap().take();
    assert_eq!(walked.as_deref(), Ok(&*mediator.discovered()));
}
