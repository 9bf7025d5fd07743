//! The audit log against an in-memory writer and a hand-driven clock.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::decision::{Decision, DenyReason, RequestInfo, RuleId, RuleRef};
use crate::ids::{ClientIdentity, FunctionId, ProtocolId};
use crate::spdm::SpdmRequestCode;

/// 2026-11-27T10:00:00Z.
const START: Duration = Duration::from_secs(1_795_773_600);

fn function() -> FunctionId {
    FunctionId::new("0000:0d:00.0".parse().unwrap(), 0x8086, 0x0d93)
}

fn rule() -> RuleRef {
    RuleRef::Rule(Arc::new(RuleId {
        name: Some("no-cdat".into()),
        number: 1,
        line: 7,
    }))
}

fn lines(log: AuditLog<Vec<u8>, ManualClock>) -> Vec<serde_json::Value> {
    String::from_utf8(log.into_inner())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_denial_is_one_json_line_with_every_field() {
    let clock = ManualClock::at_unix_time(START + Duration::from_millis(250));
    let mut log = AuditLog::new(Vec::new(), clock);
    let client = ClientIdentity::guest("vm-a");
    let code = SpdmRequestCode::new(0xee).unwrap();
    let request = RequestInfo {
        protocol: ProtocolId::CMA_SPDM,
        length_dwords: 4,
        spdm_code: Some(code),
    };
    let decision = Decision::deny(DenyReason::SpdmRequestDenied(code), rule());
    let event = AuditEvent {
        client: &client,
        function: &function(),
        mailbox_offset: 0x190,
        request: &request,
        decision: &decision,
    };
    assert_eq!(log.record(&event).unwrap(), AuditOutcome::Written);
    let text = String::from_utf8(log.into_inner()).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"time":"2026-11-27T10:00:00.250Z","event":"denied","client":"guest:vm-a","#,
            r#""function":"0000:0d:00.0","device":"8086:0d93","mailbox":"0x190","#,
            r#""protocol":"0001:01","spdm":{"name":"SET_CERTIFICATE","code":"0xee"},"#,
            r#""decision":"deny","reason":"spdm-request-denied","#,
            r#""detail":"SPDM request SET_CERTIFICATE (0xee) denied","#,
            r#""rule":{"name":"no-cdat","number":1,"line":7}}"#,
            "\n"
        )
    );
}

#[test]
fn a_refused_connection_is_one_line_and_uses_the_budget() {
    let clock = ManualClock::at_unix_time(START);
    let mut log = AuditLog::with_budget(Vec::new(), clock, 1);
    let user = ClientIdentity::host_user(1001, 1001);
    let detail = "no rule allows host:uid=1001,gid=1001 anything here";
    let outcomes: Vec<AuditOutcome> = (0..2)
        .map(|_| {
            log.record_refused_connection(
                &user,
                "/run/doe.sock",
                ConnectionRefusal::NoMatchingRule,
                detail,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(outcomes, [AuditOutcome::Written, AuditOutcome::Suppressed]);
    let text = String::from_utf8(log.into_inner()).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"time":"2026-11-27T10:00:00.000Z","event":"connection-refused","#,
            r#""client":"host:uid=1001,gid=1001","socket":"/run/doe.sock","#,
            r#""decision":"deny","reason":"no-matching-rule","#,
            r#""detail":"no rule allows host:uid=1001,gid=1001 anything here"}"#,
            "\n"
        )
    );
}

#[test]
fn allowed_exchanges_are_not_recorded() {
    let mut log = AuditLog::new(Vec::new(), ManualClock::default());
    let client = ClientIdentity::guest("vm-a");
    let request = RequestInfo::new(ProtocolId::DISCOVERY, 3);
    let decision = Decision::allow(RuleRef::Discovery, None);
    let event = AuditEvent {
        client: &client,
        function: &function(),
        mailbox_offset: 0x190,
        request: &request,
        decision: &decision,
    };
    assert_eq!(log.record(&event).unwrap(), AuditOutcome::NotADenial);
    assert!(log.into_inner().is_empty());
}

#[test]
fn a_flood_is_suppressed_and_counted_in_the_next_line() {
    let clock = ManualClock::at_unix_time(START);
    let mut log = AuditLog::with_budget(Vec::new(), clock.clone(), 2);
    let flooder = ClientIdentity::guest("vm-a");
    let quiet = ClientIdentity::host_user(1000, 1000);
    let request = RequestInfo::new(ProtocolId::CXL_TABLE_ACCESS, 3);
    let decision = Decision::deny(DenyReason::ProtocolDenied, rule());
    let function = function();
    let event = |client| AuditEvent {
        client,
        function: &function,
        mailbox_offset: 0x190,
        request: &request,
        decision: &decision,
    };
    let outcomes: Vec<_> = (0..100)
        .map(|_| log.record(&event(&flooder)).unwrap())
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == AuditOutcome::Written)
            .count(),
        2
    );
    // Another client keeps its own budget.
    assert_eq!(log.record(&event(&quiet)).unwrap(), AuditOutcome::Written);
    // Next window: the next line carries the count.
    clock.advance(WINDOW);
    assert_eq!(log.record(&event(&flooder)).unwrap(), AuditOutcome::Written);
    let lines = lines(log);
    assert_eq!(lines.len(), 4);
    assert!(lines[0].get("suppressed").is_none());
    assert_eq!(lines[2]["client"], "host:uid=1000,gid=1000");
    assert_eq!(lines[3]["suppressed"], 98);
    assert_eq!(lines[3]["time"], "2026-11-27T10:00:01.000Z");
}

#[test]
fn a_flood_that_stops_is_summarised_by_flush() {
    let clock = ManualClock::at_unix_time(START);
    let mut log = AuditLog::with_budget(Vec::new(), clock.clone(), 1);
    let client = ClientIdentity::guest("vm-a");
    let request = RequestInfo::new(ProtocolId::CXL_COMPLIANCE, 3);
    let decision = Decision::deny(DenyReason::NoMatchingRule, RuleRef::NoMatch);
    let event = AuditEvent {
        client: &client,
        function: &function(),
        mailbox_offset: 0x190,
        request: &request,
        decision: &decision,
    };
    for _ in 0..5 {
        log.record(&event).unwrap();
    }
    // Within the window nothing is summarised yet.
    assert_eq!(log.flush_suppressed().unwrap(), 0);
    clock.advance(WINDOW);
    assert_eq!(log.flush_suppressed().unwrap(), 1);
    // Summarised once only.
    assert_eq!(log.flush_suppressed().unwrap(), 0);
    let lines = lines(log);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["rule"]["builtin"], "no-match");
    assert_eq!(
        lines[1],
        serde_json::json!({
            "time": "2026-11-27T10:00:01.000Z",
            "event": "suppressed",
            "client": "guest:vm-a",
            "suppressed": 4
        })
    );
}

/// A writer that fails on demand.
struct Broken;

impl std::io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_is_reported_and_uses_no_budget() {
    let mut log = AuditLog::with_budget(Broken, ManualClock::default(), 1);
    let client = ClientIdentity::guest("vm-a");
    let request = RequestInfo::new(ProtocolId::CXL_COMPLIANCE, 3);
    let decision = Decision::deny(DenyReason::NoMatchingRule, RuleRef::NoMatch);
    let event = AuditEvent {
        client: &client,
        function: &function(),
        mailbox_offset: 0x190,
        request: &request,
        decision: &decision,
    };
    assert!(log.record(&event).is_err());
    assert!(log.record(&event).is_err());
}

#[test]
fn a_refused_admin_peer_names_its_reason() {
    let mut log = AuditLog::new(Vec::new(), ManualClock::at_unix_time(START));
    let user = ClientIdentity::host_user(1001, 1001);
    log.record_refused_connection(
        &user,
        "/run/vmm.sock",
        ConnectionRefusal::PeerNotAllowed,
        "uid 1001 may not use the control socket",
    )
    .unwrap();
    let lines = lines(log);
    assert_eq!(lines[0]["reason"], "peer-not-allowed");
    assert_eq!(lines[0]["socket"], "/run/vmm.sock");
}

#[test]
fn a_denial_recorded_later_keeps_its_own_time() {
    let clock = ManualClock::at_unix_time(START);
    let mut log = AuditLog::new(Vec::new(), clock.clone());
    let client = ClientIdentity::guest("vm-a");
    let request = RequestInfo::new(ProtocolId::CXL_COMPLIANCE, 3);
    let decision = Decision::deny(DenyReason::NoMatchingRule, RuleRef::NoMatch);
    let event = AuditEvent {
        client: &client,
        function: &function(),
        mailbox_offset: 0x190,
        request: &request,
        decision: &decision,
    };
    clock.advance(Duration::from_secs(5));
    let at = START + Duration::from_millis(1500);
    assert_eq!(log.record_at(&event, at).unwrap(), AuditOutcome::Written);
    log.record_dropped(3).unwrap();
    let lines = lines(log);
    assert_eq!(lines[0]["time"], "2026-11-27T10:00:01.500Z");
    assert_eq!(
        lines[1],
        serde_json::json!({
            "time": "2026-11-27T10:00:05.000Z",
            "event": "dropped",
            "dropped": 3,
            "detail": "the audit queue was full: these denials were not recorded"
        })
    );
}
