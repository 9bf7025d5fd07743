//! What the DOE socket serves and how one request is judged before it reaches a
//! mediator: the mailboxes on offer, the policy of the connection's host user, Discovery
//! answered from the policy-filtered list, denials answered and audited.

use std::sync::Arc;

use policies::{AuditEvent, ClientIdentity, FunctionId, RequestInfo, Verdict};

use super::client::ServedFunction;
use super::wire::Status;
use crate::admin::DoeAdmin;
use crate::mediator::{ExchangeError, Mediator};
use crate::pci_address::Bdf;
use crate::protocol::discovery::{self, DiscoveryRequest};
use crate::protocol::header::HEADER_DWORDS;
use crate::protocol::{DataObject, ProtocolId};
use crate::spdm::error::denial_response;

/// One mailbox on offer: its function and the mediator that owns it.
#[derive(Debug, Clone)]
pub struct ServedMailbox {
    /// The function (address and IDs), as the policy names it.
    pub function: FunctionId,
    /// Its class code (config offset 0x09, three bytes), for listings.
    pub class: u32,
    /// The mailbox's owner (its capability offset is `mediator.cap_offset()`).
    pub mediator: Arc<Mediator>,
}

/// An answer given without the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAnswer {
    /// The reply's status.
    pub status: Status,
    /// The object it carries (a Discovery response, an SPDM ERROR).
    pub object: Vec<u32>,
    /// Its explanation.
    pub message: String,
}

/// What becomes of one EXCHANGE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Answered here (Discovery, a denial, a malformed object, no such mailbox).
    Answer(LocalAnswer),
    /// Goes to the mediator of mailbox number `index` (in [`DoeService::mailboxes`]).
    Submit {
        /// The mailbox's index.
        index: usize,
    },
}

/// The mailboxes a socket serves and the admin whose policy applies to its users.
#[derive(Debug)]
pub struct DoeService {
    admin: Arc<DoeAdmin>,
    mailboxes: Vec<ServedMailbox>,
}

impl DoeService {
    /// A service over `mailboxes` under `admin`'s policy.
    pub fn new(admin: Arc<DoeAdmin>, mailboxes: Vec<ServedMailbox>) -> Self {
        DoeService { admin, mailboxes }
    }

    /// The admin (policy, rate limiter, audit log).
    pub fn admin(&self) -> &Arc<DoeAdmin> {
        &self.admin
    }

    /// The mailboxes served, in the order of their indices.
    pub fn mailboxes(&self) -> &[ServedMailbox] {
        &self.mailboxes
    }

    /// The index of the mailbox at `offset` of `bdf`.
    pub fn find(&self, bdf: Bdf, offset: u16) -> Option<usize> {
        self.mailboxes
            .iter()
            .position(|m| m.function.bdf == bdf && m.mediator.cap_offset() == offset)
    }

    /// LIST's answer: each function once, with its mailboxes.
    pub fn listing(&self) -> Vec<ServedFunction> {
        let mut out: Vec<ServedFunction> = Vec::new();
        for m in &self.mailboxes {
            let device = m.function.bdf.to_string();
            let offset = m.mediator.cap_offset();
            match out.iter_mut().find(|f| f.device == device) {
                Some(f) => f.mailboxes.push(offset),
                None => out.push(ServedFunction {
                    device,
                    vendor_id: m.function.ids.vendor,
                    device_id: m.function.ids.device,
                    class: m.class,
                    mailboxes: vec![offset],
                }),
            }
        }
        out
    }

    /// Whether the policy allows `client` some protocol other than Discovery on a
    /// function served here ([`Policy::allows_client`](policies::Policy::allows_client):
    /// rule order counts; whether the function offers that protocol does not, as its list
    /// may not be known yet): a host user the policy allows nothing is refused at the door. Every request of an admitted client is
    /// still judged on its own (a protocol not allowed is denied and audited).
    pub fn admits(&self, client: &ClientIdentity) -> bool {
        let policy = self.admin.policy();
        self.mailboxes
            .iter()
            .any(|m| policy.allows_client(client, &m.function))
    }

    /// Judges an EXCHANGE of `object` by `client` on the mailbox at `offset` of `bdf`.
    pub fn judge(
        &self,
        client: &ClientIdentity,
        bdf: Bdf,
        offset: u16,
        object: &[u32],
    ) -> Judgement {
        let Some(index) = self.find(bdf, offset) else {
            return answer(
                Status::NoSuchMailbox,
                format!("no DOE mailbox at {offset:#x} of {bdf} is served here"),
            );
        };
        let request = match DataObject::decode(object) {
            Ok(request) => request,
            Err(e) => return answer(Status::BadRequest, format!("malformed request: {e}")),
        };
        let served = &self.mailboxes[index];
        if request.protocol == ProtocolId::DISCOVERY {
            return self.discovery(client, served, object);
        }
        let info = RequestInfo::with_payload(
            request.protocol,
            request.payload.len() + HEADER_DWORDS,
            &request.payload,
        );
        let decision = self.admin.decide(client, &served.function, &info);
        let Verdict::Deny(reason) = decision.verdict else {
            return Judgement::Submit { index };
        };
        self.admin.audit(&AuditEvent {
            client,
            function: &served.function,
            mailbox_offset: offset,
            request: &info,
            decision: &decision,
        });
        let object = denial_response(reason, &request.payload, &info).unwrap_or_default();
        Judgement::Answer(LocalAnswer {
            status: Status::Denied,
            object,
            message: format!("denied by {}: {reason}", decision.rule),
        })
    }

    /// Discovery, answered from the protocols the policy lets `client` see.
    fn discovery(
        &self,
        client: &ClientIdentity,
        served: &ServedMailbox,
        object: &[u32],
    ) -> Judgement {
        let asked = match DiscoveryRequest::decode(object) {
            Ok(asked) => asked,
            Err(e) => return answer(Status::BadRequest, format!("malformed Discovery: {e}")),
        };
        let discovered = served.mediator.discovered();
        if discovered.is_empty() {
            return answer(
                Status::MailboxDead,
                "the mailbox is not usable yet (another requester left it busy or in \
                 Error); retrying"
                    .to_owned(),
            );
        }
        let allowed = self
            .admin
            .policy()
            .allowed_protocols(client, &served.function, &discovered);
        Judgement::Answer(LocalAnswer {
            status: Status::Ok,
            object: discovery::respond(&allowed, &asked).encode(),
            message: String::new(),
        })
    }
}

fn answer(status: Status, message: String) -> Judgement {
    Judgement::Answer(LocalAnswer {
        status,
        object: Vec::new(),
        message,
    })
}

/// The reply status of a mediator's error.
pub fn status_of(error: &ExchangeError) -> Status {
    match error {
        ExchangeError::Denied => Status::Denied,
        ExchangeError::TimedOut => Status::TimedOut,
        ExchangeError::DeviceError(_) => Status::DeviceError,
        ExchangeError::Cancelled => Status::Cancelled,
        ExchangeError::MailboxDead => Status::MailboxDead,
        ExchangeError::Malformed(_) => Status::BadRequest,
        ExchangeError::ShuttingDown => Status::ShuttingDown,
        ExchangeError::QueueFull(_) => Status::Busy,
        ExchangeError::Internal(_) => Status::Internal,
    }
}
