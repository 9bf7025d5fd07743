//! The audit queue: records cross threads, a full queue counts what it drops, the log's
//! budget still applies.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::decision::{Decision, DenyReason, RequestInfo, RuleRef};
use crate::ids::{ClientIdentity, FunctionId, ProtocolId};

/// 2026-11-27T10:00:00Z.
const START: Duration = Duration::from_secs(1_795_773_600);

/// A writer that keeps what is written and the thread each write came from.
#[derive(Clone, Default)]
struct Witness {
    bytes: Arc<Mutex<Vec<u8>>>,
    threads: Arc<Mutex<Vec<ThreadId>>>,
}

impl Write for Witness {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.threads.lock().unwrap().push(thread::current().id());
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Witness {
    fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.bytes.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// A denial by `client` (no matching rule).
struct Denial {
    client: ClientIdentity,
    function: FunctionId,
    request: RequestInfo,
    decision: Decision,
}

impl Denial {
    fn of(client: ClientIdentity) -> Self {
        Denial {
            client,
            function: FunctionId::new("0000:0d:00.0".parse().unwrap(), 0x8086, 0x0d93),
            request: RequestInfo::new(ProtocolId::CXL_COMPLIANCE, 3),
            decision: Decision::deny(DenyReason::NoMatchingRule, RuleRef::NoMatch),
        }
    }

    fn event(&self) -> AuditEvent<'_> {
        AuditEvent {
            client: &self.client,
            function: &self.function,
            mailbox_offset: 0x190,
            request: &self.request,
            decision: &self.decision,
        }
    }
}

#[test]
fn a_record_pushed_on_one_thread_is_written_by_the_drainer() {
    let clock = ManualClock::at_unix_time(START);
    let queue = Arc::new(AuditQueue::new(8, clock.clone()));
    let witness = Witness::default();
    let pusher = {
        let queue = queue.clone();
        thread::spawn(move || {
            let denial = Denial::of(ClientIdentity::guest("vm-a"));
            let pushed = queue.push(&denial.event());
            (pushed, thread::current().id())
        })
    };
    let (pushed, pusher_id) = pusher.join().unwrap();
    assert_eq!(pushed, Pushed::First);
    assert_eq!(queue.len(), 1);
    // Written later, by the drainer, with the time it was pushed.
    assert!(witness.bytes.lock().unwrap().is_empty());
    clock.advance(Duration::from_millis(700));
    let mut log = AuditLog::new(witness.clone(), clock);
    let drained = queue.drain_into(&mut log);
    assert_eq!(
        (drained.records, drained.written, drained.dropped),
        (1, 1, 0)
    );
    assert!(queue.is_empty());
    let lines = witness.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["client"], "guest:vm-a");
    assert_eq!(lines[0]["time"], "2026-11-27T10:00:00.000Z");
    let threads = witness.threads.lock().unwrap();
    assert!(!threads.is_empty());
    assert!(threads.iter().all(|id| *id == thread::current().id()));
    assert!(!threads.contains(&pusher_id));
}

#[test]
fn a_full_queue_counts_what_it_drops_and_the_drain_says_so() {
    let queue = AuditQueue::new(3, ManualClock::at_unix_time(START));
    let denial = Denial::of(ClientIdentity::guest("vm-a"));
    let pushed: Vec<Pushed> = (0..5).map(|_| queue.push(&denial.event())).collect();
    assert_eq!(
        pushed,
        [
            Pushed::First,
            Pushed::Queued,
            Pushed::Queued,
            Pushed::Dropped,
            Pushed::Dropped
        ]
    );
    let witness = Witness::default();
    let mut log = AuditLog::new(witness.clone(), ManualClock::at_unix_time(START));
    let drained = queue.drain_into(&mut log);
    assert_eq!((drained.records, drained.dropped), (3, 2));
    let lines = witness.lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[3]["event"], "dropped");
    assert_eq!(lines[3]["dropped"], 2);
    // Reported once: the next drain has nothing to say.
    let again = queue.drain_into(&mut log);
    assert_eq!((again.records, again.dropped), (0, 0));
    assert_eq!(witness.lines().len(), 4);
    // Room again after the drain, and the next push wakes the writer.
    assert_eq!(queue.push(&denial.event()), Pushed::First);
}

#[test]
fn the_logs_budget_applies_to_queued_records() {
    let clock = ManualClock::at_unix_time(START);
    let queue = AuditQueue::new(64, clock.clone());
    let denial = Denial::of(ClientIdentity::guest("vm-a"));
    for _ in 0..10 {
        queue.push(&denial.event());
    }
    let witness = Witness::default();
    let mut log = AuditLog::with_budget(witness.clone(), clock.clone(), 2);
    let drained = queue.drain_into(&mut log);
    assert_eq!((drained.records, drained.written), (10, 2));
    // The suppressed ones are summarised as for direct records.
    clock.advance(WINDOW);
    assert_eq!(log.flush_suppressed().unwrap(), 1);
    let lines = witness.lines();
    assert_eq!(lines[2]["event"], "suppressed");
    assert_eq!(lines[2]["suppressed"], 8);
}

#[test]
fn allowed_events_are_not_queued() {
    let queue = AuditQueue::new(4, ManualClock::default());
    let mut denial = Denial::of(ClientIdentity::guest("vm-a"));
    denial.decision = Decision::allow(RuleRef::Discovery, None);
    assert_eq!(queue.push(&denial.event()), Pushed::NotADenial);
    assert!(queue.is_empty());
}

/// A writer that always fails.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn failed_writes_are_counted_and_do_not_stop_the_drain() {
    let queue = AuditQueue::new(4, ManualClock::default());
    queue.push(&Denial::of(ClientIdentity::guest("a")).event());
    queue.push(&Denial::of(ClientIdentity::guest("b")).event());
    let mut log = AuditLog::new(Broken, ManualClock::default());
    let drained = queue.drain_into(&mut log);
    assert_eq!((drained.records, drained.failed), (2, 2));
    assert!(drained.error.unwrap().to_string().contains("disk full"));
    assert!(queue.is_empty());
}
