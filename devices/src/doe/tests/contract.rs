//! The register contract of the module documentation, point by point.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doe_proxy::mailbox::regs::{DoeStatus, DOE_CAP, DOE_CTRL, DOE_READ, DOE_STATUS, DOE_WRITE};
use doe_proxy::mailbox::{MailboxConfig, MailboxError};
use doe_proxy::mediator::ExchangeError;
use doe_proxy::protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use doe_proxy::protocol::{DataObject, ProtocolId};

use super::harness::{cma, GuestView, Harness, Mode, DEVICE_PROTOCOLS};
use crate::doe::{DoeFilter, FilterVerdict, VirtualDoeConfig};

/// Short timeouts for the guest's requester.
const GUEST: MailboxConfig = MailboxConfig {
    timeout: Duration::from_millis(250),
    poll_interval: Duration::from_millis(1),
    abort_timeout: Duration::from_millis(250),
};

/// Denies CXL Table Access while `deny` holds (a policy that can be reloaded).
#[derive(Default)]
struct DenyCdat {
    deny: AtomicBool,
}

impl DoeFilter for DenyCdat {
    fn protocols(&self, discovered: &[ProtocolId]) -> Vec<ProtocolId> {
        let deny = self.deny.load(Ordering::SeqCst);
        discovered
            .iter()
            .copied()
            .filter(|&p| !(deny && p == ProtocolId::CXL_TABLE_ACCESS))
            .collect()
    }

    fn check(&self, request: &DataObject) -> FilterVerdict {
        if self.deny.load(Ordering::SeqCst) && request.protocol == ProtocolId::CXL_TABLE_ACCESS {
            FilterVerdict::DenyDiscard
        } else {
            FilterVerdict::Allow
        }
    }
}

/// Answers every CMA request with a fixed object (as an SPDM ERROR would be).
struct Answering(Vec<u32>);

impl DoeFilter for Answering {
    fn protocols(&self, discovered: &[ProtocolId]) -> Vec<ProtocolId> {
        discovered.to_vec()
    }

    fn check(&self, _request: &DataObject) -> FilterVerdict {
        FilterVerdict::DenyWithResponse(self.0.clone())
    }
}

fn cdat_request() -> Vec<u32> {
    DataObject::new(ProtocolId::CXL_TABLE_ACCESS, vec![0])
        .encode()
        .unwrap()
}

#[test]
fn registers_at_rest_read_zero() {
    let mut h = Harness::new(Mode::Manual);
    for reg in [DOE_CAP, DOE_CTRL, DOE_STATUS, DOE_WRITE, DOE_READ] {
        assert_eq!(h.read(reg), 0, "register {reg:#x}");
    }
}

#[test]
fn go_never_blocks_and_the_result_arrives_later() {
    let mut h = Harness::new(Mode::Manual);
    h.exchange_ok();
    h.exchange_ok();
    assert_eq!(h.submitted().len(), 2);
}

#[test]
fn discovery_is_answered_locally() {
    let h = Harness::new(Mode::Manual);
    let seen = h.seen.clone();
    let mut guest = GuestView::new(h.doe).requester(GUEST);
    assert_eq!(guest.discover().unwrap(), DEVICE_PROTOCOLS);
    assert!(seen.lock().unwrap().submitted.is_empty());
}

#[test]
fn discovery_lists_only_what_the_policy_allows_and_follows_reloads() {
    let filter = Arc::new(DenyCdat::default());
    filter.deny.store(true, Ordering::SeqCst);
    let h = Harness::with(Mode::EchoLater, VirtualDoeConfig::default(), filter.clone());
    let mut guest = GuestView::new(h.doe).requester(GUEST);
    assert_eq!(
        guest.discover().unwrap(),
        [ProtocolId::DISCOVERY, ProtocolId::CMA_SPDM]
    );
    // The documented behaviour for a denied protocol: no answer, the requester times
    // out, nothing reaches the exchanger.
    assert!(matches!(
        guest.exchange(&cdat_request()),
        Err(MailboxError::Timeout)
    ));
    assert!(h.seen.lock().unwrap().submitted.is_empty());
    // The guest recovers with its abort; other protocols work.
    assert_eq!(guest.exchange(&cma(&[5])).unwrap(), cma(&[5]));
    // Reloaded policy: the same guest now sees and uses CDAT.
    filter.deny.store(false, Ordering::SeqCst);
    assert_eq!(guest.discover().unwrap(), DEVICE_PROTOCOLS);
    assert_eq!(guest.exchange(&cdat_request()).unwrap(), cdat_request());
}

#[test]
fn a_protocol_the_device_does_not_list_is_discarded_locally() {
    let mut h = Harness::new(Mode::Manual);
    let compliance = DataObject::new(ProtocolId::CXL_COMPLIANCE, vec![1])
        .encode()
        .unwrap();
    h.send(&compliance);
    assert_eq!(h.status(), DoeStatus::default());
    assert!(h.submitted().is_empty());
    h.exchange_ok();
}

#[test]
fn a_denial_with_a_response_is_answered_without_the_device() {
    let answer = cma(&[0x0000_7f10, 0x0007]);
    let mut h = Harness::with(
        Mode::Manual,
        VirtualDoeConfig::default(),
        Arc::new(Answering(answer.clone())),
    );
    h.send(&cma(&[0x1234]));
    assert_eq!(h.drain(), answer);
    assert!(h.submitted().is_empty());
    // A filter that answers with something malformed gets Error, not a panic.
    let mut h = Harness::with(
        Mode::Manual,
        VirtualDoeConfig::default(),
        Arc::new(Answering(vec![0x0001_0001, 9])),
    );
    h.send(&cma(&[0x1234]));
    assert!(h.status().error);
    assert_eq!(h.read(DOE_READ), 0);
}

#[test]
fn exchange_failures_set_error_and_abort_recovers() {
    for error in [
        ExchangeError::TimedOut,
        ExchangeError::DeviceError("boom".into()),
        ExchangeError::MailboxDead,
        ExchangeError::ShuttingDown,
        ExchangeError::Cancelled,
    ] {
        let mut h = Harness::new(Mode::Manual);
        h.send(&cma(&[1]));
        let (id, _) = h.submitted()[0].clone();
        h.complete(id, Err(error.clone()));
        let status = h.status();
        assert!(
            status.error && !status.busy && !status.data_object_ready,
            "{error}"
        );
        // Go and writes are ignored while Error is set.
        h.send(&cma(&[2]));
        assert_eq!(h.submitted().len(), 1);
        h.abort();
        assert_eq!(h.status(), DoeStatus::default());
        h.exchange_ok();
    }
}

#[test]
fn a_refused_submission_sets_error_unless_it_is_a_denial() {
    for error in [
        ExchangeError::QueueFull(1),
        ExchangeError::MailboxDead,
        ExchangeError::ShuttingDown,
    ] {
        let mut h = Harness::new(Mode::Refuse(error));
        h.send(&cma(&[1]));
        assert!(h.status().error);
    }
    let mut h = Harness::new(Mode::Refuse(ExchangeError::Denied));
    h.send(&cma(&[1]));
    assert_eq!(h.status(), DoeStatus::default());
}

#[test]
fn a_denial_by_the_mediator_is_a_discard() {
    let mut h = Harness::new(Mode::Manual);
    h.send(&cma(&[1]));
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Err(ExchangeError::Denied));
    assert_eq!(h.status(), DoeStatus::default());
    h.exchange_ok();
}

#[test]
fn a_malformed_response_sets_error() {
    let mut h = Harness::new(Mode::Manual);
    h.send(&cma(&[1]));
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Ok(vec![0x0001_0001, 5, 0]));
    assert!(h.status().error);
    h.abort();
    h.exchange_ok();
}

#[test]
fn a_result_after_abort_is_ignored() {
    let mut h = Harness::new(Mode::Manual);
    h.send(&cma(&[1]));
    let (stale, _) = h.submitted()[0].clone();
    h.abort();
    assert_eq!(h.cancelled(), vec![stale]);
    assert_eq!(h.status(), DoeStatus::default());
    h.send(&cma(&[2]));
    h.complete(stale, Ok(cma(&[9, 9])));
    assert!(
        h.status().busy,
        "the stale result does not answer the new request"
    );
    let (current, _) = h.submitted()[1].clone();
    h.complete(current, Ok(cma(&[2])));
    assert_eq!(h.drain(), cma(&[2]));
}

#[test]
fn a_new_request_replaces_an_unread_response() {
    let mut h = Harness::new(Mode::Manual);
    h.send(
        &DiscoveryRequest {
            index: 0,
            version: 0,
        }
        .encode(),
    );
    assert!(h.status().data_object_ready);
    h.send(
        &DiscoveryRequest {
            index: 2,
            version: 0,
        }
        .encode(),
    );
    let response = DiscoveryResponse::decode(&h.drain()).unwrap();
    assert_eq!(response.protocol, ProtocolId::CXL_TABLE_ACCESS);
    assert_eq!(response.next_index, 0);
}
