//! The policy file as it is written: TOML tables deserialised with their spans, before the
//! checks that need more than one value (see `compile`). Unknown keys are errors.
//!
//! The format itself is documented for admins in `resources/policies/README.md`.

mod values;

use serde::Deserialize;
use toml::Spanned;

pub(crate) use values::{GuestName, ProtocolValue, RawSelector, SpdmCodeValue};

use crate::rule::{Action, FunctionMatch};

/// A whole policy file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// The format version; only [`crate::FORMAT_VERSION`] is understood.
    pub(crate) version: Spanned<i64>,
    /// The rules, in file order (`[[rule]]` tables).
    #[serde(default)]
    pub(crate) rule: Vec<Spanned<RawRule>>,
}

/// One `[[rule]]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    /// The admin's name for the rule, quoted in decisions and audit records.
    pub(crate) name: Option<Spanned<String>>,
    /// `"allow"` or `"deny"`.
    pub(crate) action: Action,
    /// Guests by `vmm --name`.
    pub(crate) guests: Option<Spanned<RawSelector<GuestName>>>,
    /// Host users by uid.
    pub(crate) uids: Option<Spanned<RawSelector<u32>>>,
    /// Host users by primary or supplementary gid.
    pub(crate) gids: Option<Spanned<RawSelector<u32>>>,
    /// Functions by address or vendor:device; every function when absent.
    pub(crate) functions: Option<Spanned<RawSelector<FunctionMatch>>>,
    /// DOE protocols by vendor:type.
    pub(crate) protocols: Spanned<RawSelector<ProtocolValue>>,
    /// CMA/SPDM request codes allowed and denied.
    pub(crate) spdm: Option<Spanned<RawSpdm>>,
    /// Longest request object, in dwords, header included.
    pub(crate) max_object_dwords: Option<Spanned<i64>>,
    /// Exchanges per second and burst.
    pub(crate) rate: Option<Spanned<RawRate>>,
}

/// The `spdm` table of a rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpdm {
    /// Only these request codes (all when absent).
    pub(crate) allow: Option<Vec<Spanned<SpdmCodeValue>>>,
    /// Never these request codes.
    pub(crate) deny: Option<Vec<Spanned<SpdmCodeValue>>>,
}

/// The `rate` table of a rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRate {
    /// Sustained exchanges per second.
    pub(crate) per_second: Spanned<i64>,
    /// Exchanges allowed back to back after a quiet period.
    pub(crate) burst: Spanned<i64>,
}
