//! The mailbox driver against the emulated DOE function: discovery, exchanges, the
//! length limits on the wire, and every fault the emulated device can show.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use doe_proxy::config_space::{ConfigError, ConfigSpace};
use doe_proxy::emulated::{
    CdatResponder, DoeSpec, EchoResponder, EmulatedFunction, Fault, FaultHandle, FnResponder,
};
use doe_proxy::ext_cap::find_doe_mailboxes;
use doe_proxy::mailbox::regs::{DoeStatus, DOE_READ, DOE_STATUS, DOE_WRITE};
use doe_proxy::mailbox::{Mailbox, MailboxConfig, MailboxError};
use doe_proxy::protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use doe_proxy::protocol::table_access::{TableAccessRequest, TableAccessResponse};
use doe_proxy::protocol::{DataObject, HeaderError, ProtocolId, MAX_OBJECT_DWORDS};

/// Where QEMU's cxl-type3 puts its DOE.
const CXL_DOE: u16 = 0x190;
/// Short timeouts so that failure paths run quickly.
const FAST: MailboxConfig = MailboxConfig {
    timeout: Duration::from_millis(50),
    poll_interval: Duration::from_millis(1),
    abort_timeout: Duration::from_millis(50),
};

/// One config access seen by [`Spy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read(u16, u32),
    Write(u16, u32),
}

/// Records every config access on its way to the function.
struct Spy<C> {
    inner: C,
    log: Mutex<Vec<Access>>,
}

impl<C: ConfigSpace> Spy<C> {
    fn new(inner: C) -> Self {
        Spy {
            inner,
            log: Mutex::new(Vec::new()),
        }
    }

    fn accesses(&self) -> Vec<Access> {
        self.log.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    fn written_to(&self, offset: u16) -> Vec<u32> {
        self.accesses()
            .into_iter()
            .filter_map(|a| match a {
                Access::Write(o, v) if o == offset => Some(v),
                _ => None,
            })
            .collect()
    }

    fn read_from(&self, offset: u16) -> Vec<u32> {
        self.accesses()
            .into_iter()
            .filter_map(|a| match a {
                Access::Read(o, v) if o == offset => Some(v),
                _ => None,
            })
            .collect()
    }
}

impl<C: ConfigSpace> ConfigSpace for Spy<C> {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        let value = self.inner.read_u32(offset)?;
        self.log.lock().unwrap().push(Access::Read(offset, value));
        Ok(value)
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        self.log.lock().unwrap().push(Access::Write(offset, value));
        self.inner.write_u32(offset, value)
    }
}

/// A CXL-like function: DOE at 0x190 with an echo for CMA/SPDM and a two-entry CDAT.
fn cxl_function() -> (EmulatedFunction, FaultHandle) {
    let spec = DoeSpec::new(CXL_DOE)
        .responder(EchoResponder::new(ProtocolId::CMA_SPDM))
        .responder(CdatResponder::new(cdat_entries()));
    let fault = spec.fault_handle();
    let function = EmulatedFunction::builder()
        .ids(0x8086, 0x0d93)
        .doe(spec)
        .build()
        .unwrap();
    (function, fault)
}

fn cdat_entries() -> Vec<Vec<u8>> {
    vec![(0u8..16).collect(), vec![0xa5; 24]]
}

fn cma_request(payload: Vec<u32>) -> Vec<u32> {
    DataObject::new(ProtocolId::CMA_SPDM, payload)
        .encode()
        .unwrap()
}

/// Asserts that an exchange works: the echo comes back unchanged.
fn assert_echo_works(mailbox: &mut Mailbox<impl ConfigSpace>) {
    let request = cma_request(vec![0x1111_1111, 0x2222_2222]);
    assert_eq!(mailbox.exchange(&request).unwrap(), request);
    assert!(!mailbox.is_dead());
}

#[test]
fn discovery_returns_exactly_the_registered_protocols() {
    let (function, _) = cxl_function();
    let spy = Spy::new(&function);
    let doe = find_doe_mailboxes(&spy).unwrap();
    assert_eq!(doe, vec![CXL_DOE]);
    let mut mailbox = Mailbox::new(&spy, CXL_DOE, FAST).unwrap();
    assert_eq!(
        mailbox.discover().unwrap(),
        vec![
            ProtocolId::DISCOVERY,
            ProtocolId::CMA_SPDM,
            ProtocolId::CXL_TABLE_ACCESS
        ]
    );
    // Three exchanges of one request each: header, length 3, index with version 0
    // (capability version 1).
    assert_eq!(
        spy.written_to(CXL_DOE + DOE_WRITE),
        vec![1, 3, 0, 1, 3, 1, 1, 3, 2]
    );
}

#[test]
fn discovery_version_2_from_capability_version_2() {
    let function = EmulatedFunction::builder()
        .doe(DoeSpec::new(0x100).version(2))
        .build()
        .unwrap();
    let spy = Spy::new(&function);
    let mut mailbox = Mailbox::new(&spy, 0x100, FAST).unwrap();
    assert_eq!(mailbox.discover().unwrap(), vec![ProtocolId::DISCOVERY]);
    let request = DiscoveryRequest::decode(&spy.written_to(0x100 + DOE_WRITE)).unwrap();
    assert_eq!(request.version, 2);
    assert_eq!(request.index, 0);
}

#[test]
fn two_mailboxes_on_one_function_are_independent() {
    // Like QEMU's nvme with SR-IOV: CMA at 0x108 (ARI takes 0x100); a CDAT DOE beside it.
    let function = EmulatedFunction::builder()
        .extended_capability(0x0e, 1, 0x100)
        .doe(
            DoeSpec::new(0x108)
                .responder(EchoResponder::new(ProtocolId::CMA_SPDM))
                .responder(EchoResponder::new(ProtocolId::SECURED_CMA_SPDM)),
        )
        .doe(DoeSpec::new(0x200).responder(CdatResponder::new(cdat_entries())))
        .build()
        .unwrap();
    let offsets = find_doe_mailboxes(&function).unwrap();
    assert_eq!(offsets, vec![0x108, 0x200]);
    let mut cma = Mailbox::new(&function, 0x108, FAST).unwrap();
    let mut cdat = Mailbox::new(&function, 0x200, FAST).unwrap();
    assert_eq!(
        cma.discover().unwrap(),
        vec![
            ProtocolId::DISCOVERY,
            ProtocolId::CMA_SPDM,
            ProtocolId::SECURED_CMA_SPDM
        ]
    );
    assert_eq!(
        cdat.discover().unwrap(),
        vec![ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
    );
    // CDAT is not offered on the CMA mailbox: the request is discarded, the requester
    // times out, and the abort leaves the mailbox usable.
    assert!(matches!(
        cma.exchange(&TableAccessRequest::cdat(0).encode()),
        Err(MailboxError::Timeout)
    ));
    assert_echo_works(&mut cma);
}

#[test]
fn echo_exchange_returns_the_whole_object() {
    let (function, _) = cxl_function();
    let spy = Spy::new(&function);
    let mut mailbox = Mailbox::new(&spy, CXL_DOE, FAST).unwrap();
    let request = cma_request(vec![0xdead_beef, 0x0102_0304, 7]);
    let response = mailbox.exchange(&request).unwrap();
    assert_eq!(response, vec![0x0001_0001, 5, 0xdead_beef, 0x0102_0304, 7]);
    // Every dword was popped: one write to the read mailbox per dword received.
    assert_eq!(spy.written_to(CXL_DOE + DOE_READ), vec![0; 5]);
    assert!(!DoeStatus::decode(function.read_u32(CXL_DOE + DOE_STATUS).unwrap()).data_object_ready);
}

#[test]
fn reads_the_cdat_one_entry_at_a_time() {
    let (function, _) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    let mut entries = Vec::new();
    let mut handle = 0;
    loop {
        let wire = mailbox
            .exchange(&TableAccessRequest::cdat(handle).encode())
            .unwrap();
        let response = TableAccessResponse::decode(&wire).unwrap();
        entries.push(response.entry.clone());
        if response.is_last() {
            break;
        }
        handle = response.next_handle;
    }
    assert_eq!(entries, cdat_entries());
}

#[test]
fn never_ready_times_out_and_the_abort_recovers() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    fault.set(Fault::NeverReady);
    let started = Instant::now();
    let result = mailbox.exchange(&cma_request(vec![1]));
    let waited = started.elapsed();
    assert!(matches!(result, Err(MailboxError::Timeout)), "{result:?}");
    assert!(waited >= FAST.timeout, "gave up after {waited:?}");
    assert!(!mailbox.is_dead());
    println!("NeverReady: timed out after {waited:?}");
    fault.clear();
    assert_echo_works(&mut mailbox);
}

#[test]
fn error_on_go_is_a_device_error_and_the_abort_recovers() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    fault.set(Fault::ErrorOnGo);
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![1])),
        Err(MailboxError::DeviceError)
    ));
    // The abort cleared Error.
    let status = DoeStatus::decode(function.read_u32(CXL_DOE + DOE_STATUS).unwrap());
    assert_eq!(status, DoeStatus::default());
    fault.clear();
    assert_echo_works(&mut mailbox);
}

#[test]
fn a_response_longer_than_announced_is_an_overrun() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    fault.set(Fault::WrongLength { delta: -1 });
    // Four dwords sent back, the header announces three.
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![1, 2])),
        Err(MailboxError::ResponseOverrun { announced: 3 })
    ));
    fault.clear();
    assert_echo_works(&mut mailbox);
}

#[test]
fn a_response_shorter_than_announced_is_truncated() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    fault.set(Fault::WrongLength { delta: 2 });
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![1, 2])),
        Err(MailboxError::ResponseTruncated { announced: 6 })
    ));
    fault.clear();
    assert_echo_works(&mut mailbox);
}

#[test]
fn a_slow_response_sets_busy_and_then_succeeds() {
    let (function, fault) = cxl_function();
    let spy = Spy::new(&function);
    let config = MailboxConfig {
        timeout: Duration::from_secs(1),
        ..FAST
    };
    let mut mailbox = Mailbox::new(&spy, CXL_DOE, config).unwrap();
    fault.set(Fault::SlowResponse { status_reads: 5 });
    let request = cma_request(vec![42]);
    assert_eq!(mailbox.exchange(&request).unwrap(), request);
    let statuses: Vec<DoeStatus> = spy
        .read_from(CXL_DOE + DOE_STATUS)
        .into_iter()
        .map(DoeStatus::decode)
        .collect();
    assert_eq!(statuses.iter().filter(|s| s.busy).count(), 5);
    // Idle before Go, Busy five times, then Ready.
    assert!(!statuses[0].busy && !statuses[0].data_object_ready);
    assert!(statuses[1..6]
        .iter()
        .all(|s| s.busy && !s.data_object_ready));
    assert!(statuses[6].data_object_ready && !statuses[6].busy);
}

#[test]
fn stuck_busy_makes_the_mailbox_dead() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    fault.set(Fault::StuckBusy);
    let started = Instant::now();
    let result = mailbox.exchange(&cma_request(vec![1]));
    println!("StuckBusy: declared dead after {:?}", started.elapsed());
    // Busy never cleared, and the abort that followed did not clear it either.
    assert!(
        matches!(result, Err(MailboxError::AbortTimeout)),
        "{result:?}"
    );
    assert!(mailbox.is_dead());
    fault.clear();
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![1])),
        Err(MailboxError::Dead)
    ));
    assert!(matches!(mailbox.discover(), Err(MailboxError::Dead)));
    assert!(matches!(mailbox.abort(), Err(MailboxError::Dead)));
}

#[test]
fn stuck_abort_makes_the_mailbox_dead() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    fault.set(Fault::StuckAbort);
    // No response comes, and the abort after the timeout never completes.
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![1])),
        Err(MailboxError::AbortTimeout)
    ));
    assert!(mailbox.is_dead());
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![1])),
        Err(MailboxError::Dead)
    ));
}

#[test]
fn an_explicit_abort_that_sticks_makes_the_mailbox_dead() {
    let (function, fault) = cxl_function();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    mailbox.abort().unwrap();
    fault.set(Fault::StuckAbort);
    assert!(matches!(mailbox.abort(), Err(MailboxError::AbortTimeout)));
    assert!(mailbox.is_dead());
    assert!(matches!(mailbox.discover(), Err(MailboxError::Dead)));
}

#[test]
fn the_maximum_object_length_travels_as_zero() {
    let (function, _) = cxl_function();
    let spy = Spy::new(&function);
    let mut mailbox = Mailbox::new(&spy, CXL_DOE, FAST).unwrap();
    let payload: Vec<u32> = (0..(MAX_OBJECT_DWORDS - 2) as u32).collect();
    let request = cma_request(payload);
    assert_eq!(request.len(), MAX_OBJECT_DWORDS);
    let started = Instant::now();
    let response = mailbox.exchange(&request).unwrap();
    println!(
        "2^18-dword echo through the emulated function: {:?}",
        started.elapsed()
    );
    assert_eq!(response.len(), MAX_OBJECT_DWORDS);
    assert_eq!(response, request);
    // On the wire, both headers carry 0 as the length.
    assert_eq!(spy.written_to(CXL_DOE + DOE_WRITE)[1], 0);
    assert_eq!(spy.read_from(CXL_DOE + DOE_READ)[1], 0);
    assert_eq!(response[1], 0);
}

#[test]
fn malformed_requests_are_refused_before_touching_the_device() {
    let (function, _) = cxl_function();
    let spy = Spy::new(&function);
    let mut mailbox = Mailbox::new(&spy, CXL_DOE, FAST).unwrap();
    spy.clear();

    let mut too_long = cma_request(vec![0; MAX_OBJECT_DWORDS - 2]);
    too_long.push(0);
    assert!(matches!(
        mailbox.exchange(&too_long),
        Err(MailboxError::MalformedRequest(HeaderError::TooLong(n))) if n == MAX_OBJECT_DWORDS + 1
    ));
    assert!(matches!(
        mailbox.exchange(&[0x0001_0001, 5, 0]),
        Err(MailboxError::MalformedRequest(
            HeaderError::LengthMismatch {
                declared: 5,
                actual: 3
            }
        ))
    ));
    assert!(matches!(
        mailbox.exchange(&[0x0001_0001, 1]),
        Err(MailboxError::MalformedRequest(HeaderError::LengthTooSmall(
            1
        )))
    ));
    assert!(matches!(
        mailbox.exchange(&[]),
        Err(MailboxError::MalformedRequest(HeaderError::Truncated {
            got: 0
        }))
    ));
    assert_eq!(spy.accesses(), vec![]);
    assert!(!mailbox.is_dead());
}

#[test]
fn a_response_for_another_protocol_is_a_mismatch() {
    let spec = DoeSpec::new(CXL_DOE)
        .responder(FnResponder::new(
            ProtocolId::CMA_SPDM,
            |request: &DataObject| {
                DataObject::new(ProtocolId::SECURED_CMA_SPDM, request.payload.clone())
                    .encode()
                    .ok()
            },
        ))
        .responder(EchoResponder::new(ProtocolId::CXL_COMPLIANCE));
    let function = EmulatedFunction::builder().doe(spec).build().unwrap();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    match mailbox.exchange(&cma_request(vec![1])) {
        Err(MailboxError::ProtocolMismatch { expected, got }) => {
            assert_eq!(expected, ProtocolId::CMA_SPDM);
            assert_eq!(got, ProtocolId::SECURED_CMA_SPDM);
        }
        other => panic!("expected ProtocolMismatch, got {other:?}"),
    }
    // The abort flushed the unread response: the next exchange gets its own.
    let request = DataObject::new(ProtocolId::CXL_COMPLIANCE, vec![9])
        .encode()
        .unwrap();
    assert_eq!(mailbox.exchange(&request).unwrap(), request);
}

#[test]
fn a_length_field_of_one_is_a_malformed_response() {
    let spec = DoeSpec::new(CXL_DOE)
        .responder(FnResponder::new(ProtocolId::CMA_SPDM, |_: &DataObject| {
            Some(vec![0x0001_0001, 1])
        }));
    let function = EmulatedFunction::builder().doe(spec).build().unwrap();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![])),
        Err(MailboxError::MalformedResponse(
            HeaderError::LengthTooSmall(1)
        ))
    ));
    assert!(!mailbox.is_dead());
}

#[test]
fn a_discovery_that_loops_is_caught() {
    // A device whose Discovery always says "next is index 1".
    let spec = DoeSpec::new(CXL_DOE).responder(FnResponder::new(
        ProtocolId::DISCOVERY,
        |_: &DataObject| {
            Some(
                DiscoveryResponse {
                    protocol: ProtocolId::CMA_SPDM,
                    next_index: 1,
                }
                .encode(),
            )
        },
    ));
    let function = EmulatedFunction::builder().doe(spec).build().unwrap();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    assert!(matches!(
        mailbox.discover(),
        Err(MailboxError::DiscoveryLoop(1))
    ));
}

#[test]
fn an_error_left_by_someone_else_is_aborted_before_sending() {
    let (function, _) = cxl_function();
    // Popping an empty read mailbox (another requester's mistake) sets Error.
    function.write_u32(CXL_DOE + DOE_READ, 0).unwrap();
    assert!(DoeStatus::decode(function.read_u32(CXL_DOE + DOE_STATUS).unwrap()).error);
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    assert_echo_works(&mut mailbox);
}

#[test]
fn a_responder_that_declines_leaves_the_requester_to_time_out() {
    let spec = DoeSpec::new(CXL_DOE).responder(FnResponder::new(
        ProtocolId::CMA_SPDM,
        |request: &DataObject| {
            // Answers only non-empty requests.
            (!request.payload.is_empty())
                .then(|| DataObject::new(ProtocolId::CMA_SPDM, vec![]).encode().ok())
                .flatten()
        },
    ));
    let function = EmulatedFunction::builder().doe(spec).build().unwrap();
    let mut mailbox = Mailbox::new(&function, CXL_DOE, FAST).unwrap();
    assert!(matches!(
        mailbox.exchange(&cma_request(vec![])),
        Err(MailboxError::Timeout)
    ));
    assert_eq!(
        mailbox.exchange(&cma_request(vec![3])).unwrap(),
        vec![0x0001_0001, 2]
    );
}
