//! SPDM leases: one requester at a time on a mailbox's CMA/SPDM responder (DESIGN §5).
//!
//! An SPDM responder keeps one connection state, whoever talks to it: a GET_VERSION
//! resets it, and every later request depends on what the earlier ones negotiated
//! (GET_CAPABILITIES needs VERSION, NEGOTIATE_ALGORITHMS needs CAPABILITIES, GET_DIGESTS,
//! GET_CERTIFICATE and CHALLENGE need ALGORITHMS; the transcripts a signature covers
//! accumulate the exchanges in order — `shared/reference/spdm-sources.md` §4.1, cited
//! below as "notes"). Two requesters that interleave their sequences on one mailbox break
//! each other: the second's GET_VERSION resets the first's connection, whose next request
//! gets ERROR UnexpectedRequest or a signature over the wrong transcript.
//! [`SpdmLeases`] is a [`Scheduler`] that serialises whole sequences:
//!
//! - **Start.** A client's GET_VERSION (0x84) on CMA/SPDM (0001:01) starts a lease for
//!   that client, the *holder*; the responder's connection is now the holder's.
//! - **While held**, every other client's CMA/SPDM request — GET_VERSION included, which
//!   would reset the holder's connection — and Secured CMA/SPDM (0001:02) request is
//!   deferred ([`Admission::Defer`]: it waits at the head of its client's queue). Other
//!   protocols (Discovery, CXL Table Access/CDAT, …) are never deferred.
//! - **End of a sequence.** The lease ends when one of the holder's requests completes
//!   with its success response (notes §1.2: the request code with bit 7 clear):
//!   - CHALLENGE (0x83) → CHALLENGE_AUTH: the end of authentication (notes §4.1: B and C
//!     are reset after CHALLENGE_AUTH).
//!   - The *last GET_MEASUREMENTS of a measurement sequence*: a GET_MEASUREMENTS (0xE0)
//!     whose Param1 bit 0 (SignatureRequested) is set → MEASUREMENTS. A measurement
//!     sequence is any number of unsigned GET_MEASUREMENTS followed by one signed one: the
//!     signature covers the whole transcript L1/L2 (VCA and every GET_MEASUREMENTS /
//!     MEASUREMENTS pair since the last reset) and the responder resets that transcript
//!     after a signed MEASUREMENTS (notes §1.4 for the Param1 bit, §4.1 for L1/L2 and its
//!     reset; spdm-emu asks the last index with SignatureRequested, notes §4.1). An
//!     unsigned GET_MEASUREMENTS never ends a lease: more of the sequence may follow.
//!   - END_SESSION (0xEC) → END_SESSION_ACK.
//!   - RESPOND_IF_READY (0xFF) → that success response, when the request above was
//!     answered ERROR ResponseNotReady (0x42) and the holder asks again (notes §1.2,
//!     §1.3, §1.4).
//!
//!   Any other outcome (an ERROR, a timeout) keeps the lease.
//! - **Idle timeout.** The lease also ends once [`LeaseConfig::idle_timeout`] has passed
//!   since the end of the holder's last exchange on CMA/SPDM or Secured CMA/SPDM (never
//!   while one runs); [`Scheduler::next_wakeup`] wakes the mediator then.
//! - **Holder gone.** [`Scheduler::client_gone`] ends it.
//! - **Resume.** A client whose GET_VERSION started the responder's current connection
//!   (no other client's GET_VERSION ran since) takes the lease again with its next SPDM
//!   request when no one holds it: e.g. GET_MEASUREMENTS after its CHALLENGE_AUTH.
//! - **Resynchronisation.** A client whose connection was reset under it — another
//!   client's GET_VERSION ran after its own — and that sends any CMA/SPDM request other
//!   than GET_VERSION is answered ERROR RequestResynch (ErrorCode 0x43, ErrorData 0, at the
//!   request's SPDMVersion) by the mediator itself ([`Admission::Answer`]): the request
//!   never reaches the responder, and the requester knows to start again with GET_VERSION
//!   (notes §1.3), which waits for the lease as any other.
//!
//! Leases read only the SPDM header (SPDMVersion, RequestResponseCode, Param1) of requests
//! and responses, so they work with any responder. A CMA/SPDM object too short to hold
//! that header (no payload dword) is run as it comes, without a lease: the responder
//! answers it as it will. Secured CMA/SPDM payloads are encrypted: they never start or
//! end a lease (an END_SESSION inside a session is not seen; the idle timeout ends such a
//! lease), but the holder's keep it alive and the others' wait.
//!
//! A client without a connection of its own (it never sent GET_VERSION) whose CMA/SPDM
//! request comes while no one holds the lease runs without one.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use log::debug;

use super::completion::ExchangeResult;
use super::ids::ClientId;
use super::scheduler::{Admission, Candidate, Scheduler};
use super::spdm::{
    request_resynch_response, success_response_code, SpdmHeader, CHALLENGE, END_SESSION, ERROR,
    GET_MEASUREMENTS, GET_VERSION, MEASUREMENTS_SIGNATURE_REQUESTED, RESPOND_IF_READY,
    RESPONSE_NOT_READY,
};
use crate::protocol::ProtocolId;

/// How long a holder may stay silent before its lease ends, by default: well above the
/// pauses of a requester that works between exchanges (a certificate chain to parse, a
/// signature to check), well below what makes another requester give up.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How SPDM leases behave; [`MediatorConfig::spdm_leases`](super::MediatorConfig) switches
/// them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// A lease ends when its holder has had no CMA/SPDM exchange for this long (2 s by
    /// default).
    pub idle_timeout: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Where a lease reads the time (a fake clock in tests).
pub(super) type Clock = Box<dyn Fn() -> Instant + Send>;

/// The [`Scheduler`] that gives one client at a time the mailbox's SPDM responder (see the
/// module documentation for the rules).
pub struct SpdmLeases {
    config: LeaseConfig,
    clock: Clock,
    /// The current lease. A `Cell` because [`Scheduler::next_wakeup`] (`&self`) forgets a
    /// lease whose idle timeout passed.
    lease: Cell<Option<Lease>>,
    /// The responder's current connection: how many GET_VERSION requests ran (0: none).
    connection: u64,
    /// The connection each client's last GET_VERSION started.
    started: BTreeMap<ClientId, u64>,
}

/// One client's hold on the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lease {
    holder: ClientId,
    /// One of the holder's requests is on the device: the lease does not lapse meanwhile.
    running: bool,
    /// When the holder's last exchange ended (or its lease started).
    last_exchange: Instant,
    /// The response code that ends the sequence when RESPOND_IF_READY gets it: set when the
    /// request that would have ended it was answered ResponseNotReady.
    ends_when_ready: Option<u8>,
}

/// Which SPDM traffic a request is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// CMA/SPDM: a plain SPDM message whose header the lease reads.
    Plain,
    /// Secured CMA/SPDM: an encrypted SPDM message of a session.
    Secured,
}

impl Traffic {
    fn of(protocol: ProtocolId) -> Option<Self> {
        match protocol {
            ProtocolId::CMA_SPDM => Some(Traffic::Plain),
            ProtocolId::SECURED_CMA_SPDM => Some(Traffic::Secured),
            _ => None,
        }
    }
}

impl fmt::Debug for SpdmLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpdmLeases")
            .field("config", &self.config)
            .field("lease", &self.lease.get())
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl SpdmLeases {
    /// Leases as `config` says, on the monotonic clock.
    pub fn new(config: LeaseConfig) -> Self {
        Self::with_clock(config, Box::new(Instant::now))
    }

    /// Leases that read the time from `clock`.
    pub(super) fn with_clock(config: LeaseConfig, clock: Clock) -> Self {
        SpdmLeases {
            config,
            clock,
            lease: Cell::new(None),
            connection: 0,
            started: BTreeMap::new(),
        }
    }

    /// The client holding the lease, if any (a lapsed lease still shows until the next
    /// call that reads the clock).
    pub fn holder(&self) -> Option<ClientId> {
        self.lease.get().map(|lease| lease.holder)
    }

    /// When `lease` lapses unless its holder acts; `None` while one of its requests runs.
    fn expiry(&self, lease: &Lease) -> Option<Instant> {
        if lease.running {
            return None;
        }
        // An idle timeout too large to add never ends a lease.
        lease.last_exchange.checked_add(self.config.idle_timeout)
    }

    /// Forgets the lease if it lapsed by `now`.
    fn forget_lapsed(&self, now: Instant) {
        if let Some(lease) = self.lease.get() {
            if self.expiry(&lease).is_some_and(|at| now >= at) {
                debug!("SPDM lease of {}: idle timeout", lease.holder);
                self.lease.set(None);
            }
        }
    }

    /// Whether a client other than `client` holds the lease.
    fn held_by_other(&self, client: ClientId) -> bool {
        self.holder().is_some_and(|holder| holder != client)
    }

    /// Whether another client's GET_VERSION reset the connection `client` had started.
    fn lost_connection(&self, client: ClientId) -> bool {
        self.started
            .get(&client)
            .is_some_and(|&connection| connection != self.connection)
    }

    /// Whether the responder's current connection is the one `client` started.
    fn owns_connection(&self, client: ClientId) -> bool {
        self.started.get(&client) == Some(&self.connection)
    }

    /// `client`'s GET_VERSION runs: a new connection, and the lease is its own.
    fn start_connection(&mut self, client: ClientId, now: Instant) {
        self.connection += 1;
        self.started.insert(client, self.connection);
        self.hold(client, now);
    }

    /// One of `client`'s requests runs under its lease, taken now if it had none.
    fn hold(&mut self, client: ClientId, now: Instant) {
        let lease = self.lease.get_mut();
        match lease {
            Some(lease) if lease.holder == client => lease.running = true,
            _ => {
                debug!("SPDM lease of {client}: starts");
                *lease = Some(Lease {
                    holder: client,
                    running: true,
                    last_exchange: now,
                    ends_when_ready: None,
                });
            }
        }
    }

    fn end_lease(&mut self, why: &str) {
        if let Some(lease) = self.lease.get_mut().take() {
            debug!("SPDM lease of {}: ends ({why})", lease.holder);
        }
    }
}

/// The success response code that ends a sequence when `request` gets it, if it is one of
/// the requests that end a sequence (see the module documentation).
fn ending_response(request: &SpdmHeader) -> Option<u8> {
    match request.code {
        CHALLENGE | END_SESSION => Some(success_response_code(request.code)),
        GET_MEASUREMENTS if request.param1 & MEASUREMENTS_SIGNATURE_REQUESTED != 0 => {
            Some(success_response_code(request.code))
        }
        _ => None,
    }
}

impl Scheduler for SpdmLeases {
    fn admit(&mut self, candidate: &Candidate<'_>) -> Admission {
        let Some(traffic) = Traffic::of(candidate.protocol) else {
            return Admission::Run;
        };
        let client = candidate.client;
        let header = match traffic {
            Traffic::Secured => None,
            Traffic::Plain => match SpdmHeader::of_object(candidate.request) {
                Some(header) => Some(header),
                // Too short for an SPDM header: the responder answers it as it will.
                None => return Admission::Run,
            },
        };
        let now = (self.clock)();
        self.forget_lapsed(now);
        let get_version = header.is_some_and(|h| h.code == GET_VERSION);
        if let Some(header) = header {
            if !get_version && self.lost_connection(client) {
                debug!(
                    "SPDM lease: {client}'s connection was reset by another client; {} \
                     answered RequestResynch",
                    header
                        .request_code()
                        .map_or_else(|| format!("code {:#04x}", header.code), |c| c.to_string())
                );
                return Admission::Answer(request_resynch_response(header.version));
            }
        }
        if self.held_by_other(client) {
            return Admission::Defer;
        }
        if get_version {
            self.start_connection(client, now);
        } else if self.owns_connection(client) {
            self.hold(client, now);
        }
        Admission::Run
    }

    fn completed(&mut self, candidate: &Candidate<'_>, outcome: &ExchangeResult) {
        let Some(traffic) = Traffic::of(candidate.protocol) else {
            return;
        };
        let now = (self.clock)();
        let Some(lease) = self.lease.get_mut() else {
            return;
        };
        if lease.holder != candidate.client {
            return;
        }
        lease.running = false;
        lease.last_exchange = now;
        let waiting_for = lease.ends_when_ready.take();
        if traffic == Traffic::Secured {
            return;
        }
        let Some(request) = SpdmHeader::of_object(candidate.request) else {
            return;
        };
        let ending = match request.code {
            RESPOND_IF_READY => waiting_for,
            _ => ending_response(&request),
        };
        let Some(ending) = ending else {
            return;
        };
        let response = outcome
            .as_ref()
            .ok()
            .and_then(|response| SpdmHeader::of_object(response));
        match response {
            Some(response) if response.code == ending => self.end_lease("end of its sequence"),
            Some(response) if response.code == ERROR && response.param1 == RESPONSE_NOT_READY => {
                lease.ends_when_ready = Some(ending);
            }
            _ => {}
        }
    }

    fn client_gone(&mut self, client: ClientId) {
        self.started.remove(&client);
        if self.holder() == Some(client) {
            self.end_lease("holder gone");
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let lease = self.lease.get()?;
        let at = self.expiry(&lease)?;
        let now = (self.clock)();
        if now < at {
            return Some(at);
        }
        // Lapsed while nothing asked: forget it and have the mediator look again now, for
        // the requests it deferred.
        self.forget_lapsed(now);
        Some(now)
    }
}
