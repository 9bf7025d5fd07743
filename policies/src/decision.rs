//! What is asked of a policy (a request) and what it answers (a decision naming its rule).

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::ids::ProtocolId;
use crate::rate::RateLimit;
use crate::spdm::SpdmRequestCode;

/// The facts about one request object that a policy decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo {
    /// The object's protocol (header dword 0).
    pub protocol: ProtocolId,
    /// The object's length in dwords, header included (header dword 1).
    pub length_dwords: usize,
    /// For CMA/SPDM (`0001:01`), the SPDM request code; `None` for other protocols and for
    /// a CMA/SPDM object without a request code.
    pub spdm_code: Option<SpdmRequestCode>,
}

impl RequestInfo {
    /// The facts of a request for a protocol other than CMA/SPDM.
    pub fn new(protocol: ProtocolId, length_dwords: usize) -> Self {
        RequestInfo {
            protocol,
            length_dwords,
            spdm_code: None,
        }
    }

    /// The facts of a request whose DOE header the caller has decoded: its protocol, its
    /// length in dwords (header included) and its payload dwords, from which the SPDM
    /// request code is read for CMA/SPDM.
    pub fn with_payload(protocol: ProtocolId, length_dwords: usize, payload: &[u32]) -> Self {
        let spdm_code = match protocol {
            ProtocolId::CMA_SPDM => SpdmRequestCode::from_payload(payload),
            _ => None,
        };
        RequestInfo {
            protocol,
            length_dwords,
            spdm_code,
        }
    }
}

/// A rule as decisions and audit records name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleId {
    /// The `name` the admin gave the rule, if any.
    pub name: Option<String>,
    /// Its position among the rules, from 1.
    pub number: usize,
    /// The line of its `[[rule]]` header in the policy file.
    pub line: usize,
}

/// The rule that made a decision: one the admin wrote, or one of the two built in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRef {
    /// A rule of the policy file.
    Rule(Arc<RuleId>),
    /// DOE Discovery is always allowed: it is answered from the policy-filtered list.
    Discovery,
    /// No rule matched: everything not allowed is denied.
    NoMatch,
}

/// Formats as `rule "name" (#2, line 14)`, `rule #2 (line 14)`, or the built-in rule.
impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleRef::Rule(id) => match &id.name {
                Some(name) => write!(f, "rule {name:?} (#{}, line {})", id.number, id.line),
                None => write!(f, "rule #{} (line {})", id.number, id.line),
            },
            RuleRef::Discovery => f.write_str("built-in: Discovery is always allowed"),
            RuleRef::NoMatch => f.write_str("built-in: no rule matched, denied"),
        }
    }
}

/// Serialises as `{"name":…,"number":…,"line":…}` or `{"builtin":"discovery"|"no-match"}`.
impl Serialize for RuleRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            RuleRef::Rule(id) => {
                if let Some(name) = &id.name {
                    map.serialize_entry("name", name)?;
                }
                map.serialize_entry("number", &id.number)?;
                map.serialize_entry("line", &id.line)?;
            }
            RuleRef::Discovery => map.serialize_entry("builtin", "discovery")?,
            RuleRef::NoMatch => map.serialize_entry("builtin", "no-match")?,
        }
        map.end()
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// A deny rule matched the protocol.
    #[error("protocol denied")]
    ProtocolDenied,
    /// No rule matched.
    #[error("no rule allows it")]
    NoMatchingRule,
    /// The CMA/SPDM request code is not among those the rule allows.
    #[error("SPDM request {0} denied")]
    SpdmRequestDenied(SpdmRequestCode),
    /// A CMA/SPDM object under a rule with an SPDM filter carries no request code.
    #[error("CMA/SPDM object without an SPDM request code")]
    SpdmRequestMissing,
    /// The object is longer than the rule allows.
    #[error("object of {length_dwords} dwords exceeds the maximum of {max_dwords}")]
    ObjectTooLong {
        /// The object's length in dwords.
        length_dwords: usize,
        /// The rule's maximum in dwords.
        max_dwords: usize,
    },
    /// The client has used up its rate.
    #[error("rate limit exceeded")]
    RateLimited,
}

impl DenyReason {
    /// A stable word for logs and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::ProtocolDenied => "protocol-denied",
            DenyReason::NoMatchingRule => "no-matching-rule",
            DenyReason::SpdmRequestDenied(_) => "spdm-request-denied",
            DenyReason::SpdmRequestMissing => "spdm-request-missing",
            DenyReason::ObjectTooLong { .. } => "object-too-long",
            DenyReason::RateLimited => "rate-limited",
        }
    }

    /// True if the guest should get an SPDM ERROR (UnsupportedRequest) for it rather than a
    /// discarded object: the protocol is allowed, only the request code is not (issue 4).
    pub fn answer_with_spdm_error(&self) -> bool {
        matches!(self, DenyReason::SpdmRequestDenied(_))
    }
}

/// Allowed, or denied and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The exchange may go to the device.
    Allow,
    /// The exchange must not reach the device.
    Deny(DenyReason),
}

/// A policy's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The rule that decided.
    pub rule: RuleRef,
    /// The rate limit of the allow rule that decided, for [`crate::RateLimiter::admit`].
    pub rate_limit: Option<RateLimit>,
}

impl Decision {
    /// An allow decision by `rule`.
    pub fn allow(rule: RuleRef, rate_limit: Option<RateLimit>) -> Self {
        Decision {
            verdict: Verdict::Allow,
            rule,
            rate_limit,
        }
    }

    /// A deny decision by `rule`.
    pub fn deny(reason: DenyReason, rule: RuleRef) -> Self {
        Decision {
            verdict: Verdict::Deny(reason),
            rule,
            rate_limit: None,
        }
    }

    /// True if allowed.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// The reason, if denied.
    pub fn deny_reason(&self) -> Option<DenyReason> {
        match self.verdict {
            Verdict::Allow => None,
            Verdict::Deny(reason) => Some(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_from_cma_object_reads_the_spdm_code() {
        // CMA/SPDM, 3 dwords: GET_VERSION at version 0x10.
        let info = RequestInfo::with_payload(ProtocolId::CMA_SPDM, 3, &[0x0000_8410]);
        assert_eq!(info.protocol, ProtocolId::CMA_SPDM);
        assert_eq!(info.length_dwords, 3);
        assert_eq!(info.spdm_code, Some(SpdmRequestCode::GET_VERSION));
    }

    #[test]
    fn request_from_other_objects_has_no_spdm_code() {
        let info = RequestInfo::with_payload(ProtocolId::CXL_TABLE_ACCESS, 3, &[0x0000_8410]);
        assert_eq!(info, RequestInfo::new(ProtocolId::CXL_TABLE_ACCESS, 3));
        let header_only = RequestInfo::with_payload(ProtocolId::CMA_SPDM, 2, &[]);
        assert_eq!(header_only.spdm_code, None);
    }

    #[test]
    fn rule_refs_display_and_serialise() {
        let named = RuleRef::Rule(Arc::new(RuleId {
            name: Some("no-cdat".into()),
            number: 2,
            line: 14,
        }));
        assert_eq!(named.to_string(), "rule \"no-cdat\" (#2, line 14)");
        assert_eq!(
            serde_json::to_string(&named).unwrap(),
            r#"{"name":"no-cdat","number":2,"line":14}"#
        );
        let unnamed = RuleRef::Rule(Arc::new(RuleId {
            name: None,
            number: 1,
            line: 3,
        }));
        assert_eq!(unnamed.to_string(), "rule #1 (line 3)");
        assert_eq!(
            serde_json::to_string(&RuleRef::NoMatch).unwrap(),
            r#"{"builtin":"no-match"}"#
        );
    }

    #[test]
    fn only_spdm_code_denials_get_an_spdm_error() {
        let code = SpdmRequestCode::new(0xee).unwrap();
        assert!(DenyReason::SpdmRequestDenied(code).answer_with_spdm_error());
        assert!(!DenyReason::ProtocolDenied.answer_with_spdm_error());
        assert!(!DenyReason::RateLimited.answer_with_spdm_error());
    }
}
