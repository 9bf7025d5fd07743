//! The host admin's DOE policy: which client (a guest, a host user) may use which DOE
//! protocol on which function, which CMA/SPDM request codes, how long an object and how
//! often; read from TOML with line-precise errors, swapped on reload, and an audit line for
//! every denial.
//!
//! It is the leaf of the workspace (DESIGN §2): it depends on no crate of ours, and it owns
//! the identifiers every crate shares — [`ProtocolId`] and [`Bdf`] — which `doe-proxy`
//! re-exports where DOE code names them.
//!
//! The file format is documented in `resources/policies/README.md`. On the exchange path:
//!
//! ```
//! use policies::{ClientIdentity, FunctionId, Policy, ProtocolId, RequestInfo};
//!
//! let policy = Policy::builtin_default();
//! let guest = ClientIdentity::guest("vm-a");
//! let cxl = FunctionId::new("0000:0d:00.0".parse().unwrap(), 0x8086, 0x0d93);
//! // A CMA/SPDM GET_VERSION (version 0x10, code 0x84) in a 3-dword object.
//! let request = RequestInfo::with_payload(ProtocolId::CMA_SPDM, 3, &[0x0000_8410]);
//! assert!(policy.evaluate(&guest, &cxl, &request).is_allowed());
//! ```
#![deny(missing_docs)]

pub mod audit;
mod clock;
mod compile;
mod decision;
mod error;
mod format;
mod ids;
pub mod pci_address;
mod policy;
pub mod protocol_id;
mod rate;
mod rule;
mod spdm;
mod store;

pub use audit::{AuditEvent, AuditLog, AuditOutcome, AuditQueue, ConnectionRefusal};
pub use clock::{Clock, ManualClock, SystemClock};
pub use decision::{Decision, DenyReason, RequestInfo, RuleId, RuleRef, Verdict};
pub use error::{Location, PolicyError, ValidationError};
pub use ids::{Bdf, ClientIdentity, DeviceIds, FunctionId, HostUser, ProtocolId};
pub use policy::Policy;
pub use rate::{RateLimit, RateLimiter, TokenBucket, MAX_RATE};
pub use rule::{Action, ClientMatch, FunctionMatch, Rule, Selector, SpdmFilter};
pub use spdm::{SpdmCodeError, SpdmRequestCode};
pub use store::PolicyStore;

/// The version of the policy format this crate reads (`version = 1`).
pub const FORMAT_VERSION: i64 = 1;
