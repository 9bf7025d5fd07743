//! The service order of a stress run, in one sequence: when a client's request was
//! queued (logged as its `submit` returns), when the mediator started a request on the
//! device (logged by a scheduler that runs everything, under the mediator's lock, at the
//! moment it decides), and when a client was dropped; and the checks made on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::mediator::{Admission, Candidate, ClientId, Scheduler, SubmissionId};

/// One entry of the service order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// `submit` (or `submit_quiet`) returned this submission, queued.
    Queued {
        client: ClientId,
        submission: SubmissionId,
    },
    /// The mediator started it on the device (run by the worker or claimed by `drive`).
    Started {
        client: ClientId,
        submission: SubmissionId,
    },
    /// The client's handle was dropped (logged once `drop` returned).
    Dropped { client: ClientId },
}

/// The shared, ordered record of [`Event`]s.
#[derive(Debug, Clone, Default)]
pub(super) struct ServiceLog(Arc<Mutex<Vec<Event>>>);

impl ServiceLog {
    /// Records that `submission` of `client` was accepted into its queue.
    pub(super) fn queued(&self, client: ClientId, submission: SubmissionId) {
        self.push(Event::Queued { client, submission });
    }

    /// Records that `client` was dropped.
    pub(super) fn dropped(&self, client: ClientId) {
        self.push(Event::Dropped { client });
    }

    /// Everything recorded so far, in order.
    pub(super) fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    /// A scheduler that runs every request and records each start here.
    pub(super) fn scheduler(&self) -> Box<dyn Scheduler> {
        Box::new(RecordsStarts(self.clone()))
    }

    fn push(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

/// Admits everything. The mediator asks it exactly when it is about to start a request
/// (round-robin in the worker, or a claim by `drive`), under its lock: the order of
/// these calls is the order of the starts, and so the order on the device.
struct RecordsStarts(ServiceLog);

impl Scheduler for RecordsStarts {
    fn admit(&mut self, candidate: &Candidate<'_>) -> Admission {
        self.0.push(Event::Started {
            client: candidate.client,
            submission: candidate.submission,
        });
        Admission::Run
    }
}

/// Where each submission was queued and started, by index in the service order.
pub(super) struct Service {
    events: Vec<Event>,
    queued_at: HashMap<SubmissionId, usize>,
    started_at: HashMap<SubmissionId, usize>,
}

impl Service {
    /// Indexes `events`, checking that only queued submissions started, each at most
    /// once, and that each was queued by the client the mediator started it for.
    pub(super) fn new(events: Vec<Event>) -> Self {
        let mut queued_by = HashMap::new();
        let mut queued_at = HashMap::new();
        let mut started_at = HashMap::new();
        for (index, event) in events.iter().enumerate() {
            if let Event::Queued { client, submission } = *event {
                assert!(
                    queued_at.insert(submission, index).is_none(),
                    "{submission} queued twice"
                );
                queued_by.insert(submission, client);
            }
        }
        for (index, event) in events.iter().enumerate() {
            if let Event::Started { client, submission } = *event {
                assert_eq!(
                    queued_by.get(&submission),
                    Some(&client),
                    "{submission} started for {client} but not queued by it"
                );
                assert!(
                    started_at.insert(submission, index).is_none(),
                    "{submission} started twice"
                );
            }
        }
        Service {
            events,
            queued_at,
            started_at,
        }
    }

    /// Whether `submission` was started.
    pub(super) fn started(&self, submission: SubmissionId) -> bool {
        self.started_at.contains_key(&submission)
    }

    /// The submissions started, in the order they started.
    pub(super) fn start_order(&self) -> Vec<SubmissionId> {
        self.events
            .iter()
            .filter_map(|event| match *event {
                Event::Started { submission, .. } => Some(submission),
                _ => None,
            })
            .collect()
    }

    /// `client`'s queued submissions, in the order it submitted them (one thread per
    /// client: the order its `submit` calls returned).
    fn queued_by(&self, client: ClientId) -> Vec<SubmissionId> {
        self.events
            .iter()
            .filter_map(|event| match *event {
                Event::Queued {
                    client: c,
                    submission,
                } if c == client => Some(submission),
                _ => None,
            })
            .collect()
    }

    /// Checks the round-robin bound for `client`, all of whose queued submissions must
    /// have started (see the stress module's documentation for the guarantee): between
    /// the moment a request of `client` is known to be at the head of its queue and the
    /// moment it starts, every other client starts at most one request. It is known to
    /// be at the head from the later of its `Queued` entry and the start of the client's
    /// previous request (a client's requests start in order, checked here too). The
    /// `Queued` entry is written after the request really was queued, so the window
    /// checked is never wider than the real one. Returns how many windows held another
    /// client's start (to show the check was not empty).
    pub(super) fn check_round_robin(&self, client: ClientId) -> usize {
        let mut previous_start = None;
        let mut busy_windows = 0;
        for submission in self.queued_by(client) {
            let start = *self
                .started_at
                .get(&submission)
                .unwrap_or_else(|| panic!("{client}'s {submission} never started"));
            if let Some(previous) = previous_start {
                assert!(
                    previous < start,
                    "{client}'s {submission} started before an earlier request"
                );
            }
            let head = self.queued_at[&submission].max(previous_start.unwrap_or(0));
            let mut others: HashMap<ClientId, usize> = HashMap::new();
            for event in self.events.get(head + 1..start).unwrap_or_default() {
                if let Event::Started { client: other, .. } = *event {
                    assert_ne!(other, client, "{client} started twice at once");
                    *others.entry(other).or_default() += 1;
                }
            }
            if let Some((other, &starts)) = others.iter().max_by_key(|(_, starts)| **starts) {
                assert!(
                    starts <= 1,
                    "{other} started {starts} requests while {client}'s {submission} waited \
                     at the head of its queue (service order {head}..{start})"
                );
                busy_windows += 1;
            }
            previous_start = Some(start);
        }
        busy_windows
    }

    /// Checks that nothing of `client` started after it was dropped.
    pub(super) fn check_nothing_started_after_drop(&self, client: ClientId) {
        let dropped = self
            .events
            .iter()
            .position(|event| *event == Event::Dropped { client })
            .unwrap_or_else(|| panic!("{client} was not dropped"));
        assert!(
            !self.events[dropped..]
                .iter()
                .any(|event| matches!(*event, Event::Started { client: c, .. } if c == client)),
            "{client} was served after it was dropped"
        );
    }

    /// Whether `client` started a request after `other` was dropped.
    pub(super) fn started_after_drop_of(&self, client: ClientId, other: ClientId) -> bool {
        self.events
            .iter()
            .skip_while(|event| **event != Event::Dropped { client: other })
            .any(|event| matches!(*event, Event::Started { client: c, .. } if c == client))
    }
}

/// Checks that `seen`, the requests the device's responders saw in order, is a
/// subsequence of `started`: the device serves requests one at a time, in the order the
/// mediator starts them (a request that met a fault may never reach a responder).
pub(super) fn check_device_order(started: &[SubmissionId], seen: &[SubmissionId]) {
    let mut rest = started.iter();
    for (position, submission) in seen.iter().enumerate() {
        assert!(
            rest.any(|s| s == submission),
            "the device saw {submission} (its request #{position}) out of the start order"
        );
    }
}
