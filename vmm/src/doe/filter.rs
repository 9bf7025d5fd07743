//! The [`DoeFilter`] of one virtual mailbox: the admin's policy for this guest on this
//! function, with the rate limit, the SPDM ERROR answers and the audit of every denial.
//!
//! Verdicts:
//! - allowed → the request goes to the device;
//! - a denied SPDM request code (the CMA/SPDM protocol is allowed, the code is not) → a
//!   local SPDM ERROR UnsupportedRequest (ErrorData = the request code, the request's
//!   SPDM version echoed), so the guest's SPDM stack fails that request at once;
//! - a CMA/SPDM request over its rate limit → a local SPDM ERROR Busy (ErrorData 0): SPDM
//!   defines Busy as "retry later", which is what a rate limit means, and the guest's
//!   stack does not wait a second for a timeout;
//! - anything else denied (protocol not allowed, no rule, object too long, a CMA object
//!   without a request code, another protocol over its rate) → silently discarded, as a
//!   device does with an object it does not support (see `devices::doe`): the guest's
//!   requester times out after 1 s, which also throttles a guest that keeps trying.
//!
//! Every denial leaves one audit record (rate-limited per guest by the audit log). `check`
//! runs on a vCPU thread under the register lock, so it only queues the record
//! ([`GuestAudit`]); the event loop writes it.

use std::sync::Arc;

use devices::doe::{DoeFilter, FilterVerdict};
use doe_proxy::protocol::header::HEADER_DWORDS;
use doe_proxy::protocol::{DataObject, ProtocolId};
use policies::{AuditEvent, ClientIdentity, DenyReason, FunctionId, RequestInfo, Verdict};

use doe_proxy::admin::DoeAdmin;
use doe_proxy::spdm::error::denial_response;

use super::audit::GuestAudit;

/// The policy of one guest on one mailbox of one assigned function.
#[derive(Debug)]
pub struct PolicyFilter {
    admin: Arc<DoeAdmin>,
    audit: Arc<GuestAudit>,
    client: ClientIdentity,
    function: FunctionId,
    mailbox_offset: u16,
}

impl PolicyFilter {
    /// The filter of guest `client` on the mailbox at `mailbox_offset` of `function`; its
    /// denials are queued on `audit`.
    pub fn new(
        admin: Arc<DoeAdmin>,
        audit: Arc<GuestAudit>,
        client: ClientIdentity,
        function: FunctionId,
        mailbox_offset: u16,
    ) -> Self {
        PolicyFilter {
            admin,
            audit,
            client,
            function,
            mailbox_offset,
        }
    }
}

/// The facts the policy decides on, read from a whole request object.
fn request_info(request: &DataObject) -> RequestInfo {
    RequestInfo::with_payload(
        request.protocol,
        request.payload.len() + HEADER_DWORDS,
        &request.payload,
    )
}

/// What the guest gets for a request the policy denied for `reason`: the SPDM ERROR the
/// denial has, if any, else the request is discarded.
fn denial_verdict(reason: DenyReason, request: &DataObject, info: &RequestInfo) -> FilterVerdict {
    match denial_response(reason, &request.payload, info) {
        Some(response) => FilterVerdict::DenyWithResponse(response),
        None => FilterVerdict::DenyDiscard,
    }
}

impl DoeFilter for PolicyFilter {
    fn protocols(&self, discovered: &[ProtocolId]) -> Vec<ProtocolId> {
        self.admin
            .policy()
            .allowed_protocols(&self.client, &self.function, discovered)
    }

    fn check(&self, request: &DataObject) -> FilterVerdict {
        let info = request_info(request);
        let decision = self.admin.decide(&self.client, &self.function, &info);
        let Verdict::Deny(reason) = decision.verdict else {
            return FilterVerdict::Allow;
        };
        self.audit.push(&AuditEvent {
            client: &self.client,
            function: &self.function,
            mailbox_offset: self.mailbox_offset,
            request: &info,
            decision: &decision,
        });
        denial_verdict(reason, request, &info)
    }
}
