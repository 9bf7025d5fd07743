//! SPDM leases through the mediator, against the scripted SPDM responder: a lease ends
//! at the end of a sequence, after an idle timeout (then the old holder resynchs) or when
//! its holder goes away; other protocols and SPDM too short for a header flow meanwhile;
//! [`MediatorConfig::spdm_leases`] switches them on.

use std::time::{Duration, Instant};

use super::lease_rig::{rig, Decision, Requester, NEVER_IDLE};
use super::scripted_spdm::{
    self, challenge, end_session, get_capabilities, get_digests, get_measurements, get_version,
    negotiate_algorithms, too_short, Seen, AUTHENTICATION, CHALLENGE, ERROR, GET_CAPABILITIES,
    GET_VERSION, INVALID_REQUEST, NEGOTIATE_ALGORITHMS, V12,
};
use super::spdm::{request_resynch_response, SpdmHeader};
use super::*;
use crate::emulated::{DoeSpec, EmulatedFunction};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use crate::protocol::table_access::{TableAccessRequest, TableAccessResponse};
use crate::protocol::ProtocolId;

const DOE: u16 = 0x190;

#[test]
fn leases_switched_on_in_the_mediator_config() {
    let (spdm, device) = scripted_spdm::responder();
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(DOE).responder(spdm))
        .build()
        .unwrap();
    let mailbox = Mailbox::new(function, DOE, MailboxConfig::default()).unwrap();
    let config = MediatorConfig {
        spdm_leases: Some(NEVER_IDLE),
        ..MediatorConfig::default()
    };
    let mediator = Mediator::start(mailbox, config).unwrap();
    let a = Requester::new(&mediator, "a");
    let b = Requester::new(&mediator, "b");
    a.expect_success(get_version());
    let b_version = b.submit(get_version());
    for step in &AUTHENTICATION[1..] {
        a.expect_success(step());
    }
    let response = b.result(b_version).unwrap();
    assert!(scripted_spdm::succeeded(&get_version(), &response));
    // B's GET_VERSION reached the device only after A's CHALLENGE.
    let codes: Vec<_> = device.lock().unwrap().iter().map(|s| s.request).collect();
    assert_eq!(
        codes[codes.len() - 2..],
        [Some(CHALLENGE), Some(GET_VERSION)]
    );
}

#[test]
fn an_idle_timeout_frees_the_lease_and_the_old_holder_resynchs() {
    let idle = Duration::from_millis(100);
    let rig = rig(Some(LeaseConfig { idle_timeout: idle }));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    let a_started = Instant::now();
    a.expect_success(get_version());
    // Nothing else is submitted: only the lease's wake-up lets B's GET_VERSION run.
    b.expect_success(get_version());
    assert!(
        a_started.elapsed() >= idle,
        "B ran {:?} after A's last exchange began",
        a_started.elapsed()
    );
    // A's connection was reset by B's GET_VERSION: the mediator answers A itself.
    let seen_before = rig.device.lock().unwrap().len();
    assert_eq!(
        a.exchange(get_capabilities()),
        Ok(request_resynch_response(V12))
    );
    assert_eq!(rig.device.lock().unwrap().len(), seen_before);
    // A starts again once B's lease lapses too; then B is the one to resynch.
    a.expect_success(get_version());
    assert_eq!(
        b.exchange(get_capabilities()),
        Ok(request_resynch_response(V12))
    );
    a.expect_success(get_capabilities());
    let codes: Vec<_> = rig
        .device
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.request)
        .collect();
    assert_eq!(
        codes,
        [
            Some(GET_VERSION),
            Some(GET_VERSION),
            Some(GET_VERSION),
            Some(GET_CAPABILITIES)
        ]
    );
}

#[test]
fn the_holder_going_away_frees_the_lease() {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    for step in &AUTHENTICATION[..3] {
        a.expect_success(step());
    }
    let b_version = b.submit(get_version());
    assert_eq!(rig.decisions.wait_for(b.id(), GET_VERSION), Decision::Defer);
    drop(a);
    let response = b.result(b_version).unwrap();
    assert!(scripted_spdm::succeeded(&get_version(), &response));
    for step in &AUTHENTICATION[1..] {
        b.expect_success(step());
    }
}

#[test]
fn other_protocols_flow_while_a_lease_is_held() {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    let c = Requester::new(&rig.mediator, "c");
    a.expect_success(get_version());
    let b_version = b.submit(get_version());
    assert_eq!(rig.decisions.wait_for(b.id(), GET_VERSION), Decision::Defer);
    // C reads the whole CDAT and walks Discovery while A holds and B waits.
    let first =
        TableAccessResponse::decode(&c.exchange(TableAccessRequest::cdat(0).encode()).unwrap())
            .unwrap();
    assert_eq!(first.entry, vec![0x11; 16]);
    let second = TableAccessResponse::decode(
        &c.exchange(TableAccessRequest::cdat(first.next_handle).encode())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(second.entry, vec![0x22; 8]);
    assert!(second.is_last());
    let discovery = c
        .exchange(
            DiscoveryRequest {
                index: 1,
                version: 0,
            }
            .encode(),
        )
        .unwrap();
    assert_eq!(
        DiscoveryResponse::decode(&discovery).unwrap().protocol,
        ProtocolId::CMA_SPDM
    );
    b.assert_unanswered();
    for step in &AUTHENTICATION[1..] {
        a.expect_success(step());
    }
    assert!(b.result(b_version).is_ok());
}

/// A connects, runs `last` (which must end its lease), and B's GET_VERSION, submitted
/// after A connected, reaches the device right after `last`.
fn a_sequence_ends_with(before: &[Vec<u32>], last: Vec<u32>) {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    for step in &AUTHENTICATION[..3] {
        a.expect_success(step());
    }
    let b_version = b.submit(get_version());
    assert_eq!(rig.decisions.wait_for(b.id(), GET_VERSION), Decision::Defer);
    for request in before {
        a.expect_success(request.clone());
    }
    let last_code = SpdmHeader::of_object(&last).map(|h| h.code);
    a.expect_success(last);
    assert!(b.result(b_version).is_ok());
    let seen: Vec<Seen> = rig.device.lock().unwrap().clone();
    let codes: Vec<_> = seen.iter().map(|s| s.request).collect();
    assert_eq!(codes[codes.len() - 2..], [last_code, Some(GET_VERSION)]);
}

#[test]
fn a_signed_get_measurements_ends_the_lease() {
    a_sequence_ends_with(
        &[get_measurements(false), get_measurements(false)],
        get_measurements(true),
    );
}

#[test]
fn end_session_ends_the_lease() {
    a_sequence_ends_with(&[get_digests()], end_session());
}

#[test]
fn challenge_auth_ends_the_lease() {
    a_sequence_ends_with(&[get_digests()], challenge());
}

#[test]
fn spdm_too_short_for_a_header_passes_while_a_lease_is_held() {
    let rig = rig(Some(NEVER_IDLE));
    let a = Requester::new(&rig.mediator, "a");
    let b = Requester::new(&rig.mediator, "b");
    a.expect_success(get_version());
    a.expect_success(get_capabilities());
    // The responder answers it as it will (here: ERROR InvalidRequest).
    let response = b.exchange(too_short()).unwrap();
    let header = scripted_spdm::header(&response).unwrap();
    assert_eq!((header.code, header.param1), (ERROR, INVALID_REQUEST));
    a.expect_success(negotiate_algorithms());
    let ran = rig.decisions.ran();
    assert_eq!(
        ran,
        [
            (a.id(), Some(GET_VERSION)),
            (a.id(), Some(GET_CAPABILITIES)),
            (b.id(), None),
            (a.id(), Some(NEGOTIATE_ALGORITHMS)),
        ]
    );
}
