//! The JSON lines of the audit log: one per denial, and one per burst of suppressed denials.

use serde::Serialize;

use crate::decision::{Decision, RequestInfo, RuleRef};
use crate::ids::{ClientIdentity, FunctionId};
use crate::spdm::SpdmRequestCode;

/// The facts of one decided exchange, as the caller knows them.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    /// Who asked.
    pub client: &'a ClientIdentity,
    /// The function asked.
    pub function: &'a FunctionId,
    /// Config-space offset of the DOE capability addressed.
    pub mailbox_offset: u16,
    /// The request.
    pub request: &'a RequestInfo,
    /// What the policy (and the rate limiter) decided.
    pub decision: &'a Decision,
}

/// `"event"` of a denial line.
const EVENT_DENIED: &str = "denied";
/// `"event"` of a summary of suppressed denials.
const EVENT_SUPPRESSED: &str = "suppressed";
/// `"decision"` of a denial line.
const DECISION_DENY: &str = "deny";

/// One denial.
#[derive(Serialize)]
pub(crate) struct DenialLine<'a> {
    time: String,
    event: &'static str,
    client: String,
    function: String,
    device: String,
    mailbox: String,
    protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    spdm: Option<SpdmField>,
    decision: &'static str,
    reason: &'static str,
    detail: String,
    rule: &'a RuleRef,
    /// Denials of this client left out since its last line.
    #[serde(skip_serializing_if = "is_zero")]
    suppressed: u64,
}

/// An SPDM request code: its name, when it has one, and its hex value.
#[derive(Serialize)]
struct SpdmField {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    code: String,
}

impl From<SpdmRequestCode> for SpdmField {
    fn from(code: SpdmRequestCode) -> Self {
        SpdmField {
            name: code.name(),
            code: format!("{:#04x}", code.code()),
        }
    }
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl<'a> DenialLine<'a> {
    /// The line for a denial; `None` if the event is not one.
    pub(crate) fn new(time: String, event: &AuditEvent<'a>, suppressed: u64) -> Option<Self> {
        let reason = event.decision.deny_reason()?;
        Some(DenialLine {
            time,
            event: EVENT_DENIED,
            client: event.client.to_string(),
            function: event.function.bdf.to_string(),
            device: event.function.ids.to_string(),
            mailbox: format!("{:#x}", event.mailbox_offset),
            protocol: event.request.protocol.to_string(),
            spdm: event.request.spdm_code.map(SpdmField::from),
            decision: DECISION_DENY,
            reason: reason.code(),
            detail: reason.to_string(),
            rule: &event.decision.rule,
            suppressed,
        })
    }
}

/// `"event"` of a refused connection.
const EVENT_CONNECTION_REFUSED: &str = "connection-refused";

/// Why a host user was refused at the door of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// A DOE socket: no rule of the policy allows the peer anything there.
    NoMatchingRule,
    /// An admin socket (`vmm`'s control socket): the peer's uid is not one allowed to
    /// use it.
    PeerNotAllowed,
}

impl ConnectionRefusal {
    /// The `"reason"` of the audit line.
    pub fn code(self) -> &'static str {
        match self {
            ConnectionRefusal::NoMatchingRule => "no-matching-rule",
            ConnectionRefusal::PeerNotAllowed => "peer-not-allowed",
        }
    }
}

/// A host user refused at the door of a socket.
#[derive(Serialize)]
pub(crate) struct RefusedConnectionLine<'a> {
    time: String,
    event: &'static str,
    client: String,
    socket: &'a str,
    decision: &'static str,
    reason: &'static str,
    detail: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    suppressed: u64,
}

impl<'a> RefusedConnectionLine<'a> {
    pub(crate) fn new(
        time: String,
        client: &ClientIdentity,
        socket: &'a str,
        reason: ConnectionRefusal,
        detail: &'a str,
        suppressed: u64,
    ) -> Self {
        RefusedConnectionLine {
            time,
            event: EVENT_CONNECTION_REFUSED,
            client: client.to_string(),
            socket,
            decision: DECISION_DENY,
            reason: reason.code(),
            detail,
            suppressed,
        }
    }
}

/// `"event"` of a count of records lost before they reached the log.
const EVENT_DROPPED: &str = "dropped";

/// Records lost on their way to the log: a full [`crate::audit::AuditQueue`].
#[derive(Serialize)]
pub(crate) struct DroppedLine {
    time: String,
    event: &'static str,
    dropped: u64,
    detail: &'static str,
}

impl DroppedLine {
    pub(crate) fn new(time: String, dropped: u64) -> Self {
        DroppedLine {
            time,
            event: EVENT_DROPPED,
            dropped,
            detail: "the audit queue was full: these denials were not recorded",
        }
    }
}

/// The count of a client's denials left out of the log.
#[derive(Serialize)]
pub(crate) struct SuppressedLine {
    time: String,
    event: &'static str,
    client: String,
    suppressed: u64,
}

impl SuppressedLine {
    pub(crate) fn new(time: String, client: &ClientIdentity, suppressed: u64) -> Self {
        SuppressedLine {
            time,
            event: EVENT_SUPPRESSED,
            client: client.to_string(),
            suppressed,
        }
    }
}
