//! One compiled rule: what it matches (clients, functions, protocols) and, for an allow
//! rule, the limits it sets (SPDM request codes, object length, rate).

use std::sync::Arc;

use serde::Deserialize;

use crate::decision::RuleId;
use crate::ids::{Bdf, ClientIdentity, DeviceIds, FunctionId, ProtocolId};
use crate::rate::RateLimit;
use crate::spdm::SpdmRequestCode;

/// What a rule does with the exchanges it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let them through, within the rule's limits.
    Allow,
    /// Refuse them.
    Deny,
}

/// Every value, or the listed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector<T> {
    /// `"*"`: every value.
    Any,
    /// Only these values.
    List(Vec<T>),
}

impl<T> Selector<T> {
    /// True if the selector takes every value or one of its values satisfies `pred`.
    pub fn matches(&self, pred: impl Fn(&T) -> bool) -> bool {
        match self {
            Selector::Any => true,
            Selector::List(values) => values.iter().any(pred),
        }
    }
}

/// A function as a policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionMatch {
    /// By host address, `0000:0d:00.0`.
    Address(Bdf),
    /// By vendor and device ID, `8086:0d93`: every function with those IDs.
    Ids(DeviceIds),
}

impl FunctionMatch {
    /// True if `function` is this one.
    pub fn matches(&self, function: &FunctionId) -> bool {
        match self {
            FunctionMatch::Address(bdf) => *bdf == function.bdf,
            FunctionMatch::Ids(ids) => *ids == function.ids,
        }
    }
}

/// The clients a rule applies to: a client matches if any present selector takes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientMatch {
    /// Guests by name.
    pub guests: Option<Selector<String>>,
    /// Host users by uid.
    pub uids: Option<Selector<u32>>,
    /// Host users by primary or supplementary gid.
    pub gids: Option<Selector<u32>>,
}

impl ClientMatch {
    /// True if the rule applies to `client`.
    pub fn matches(&self, client: &ClientIdentity) -> bool {
        match client {
            ClientIdentity::Guest(name) => self
                .guests
                .as_ref()
                .is_some_and(|guests| guests.matches(|g| g == name)),
            ClientIdentity::HostUser(user) => {
                self.uids
                    .as_ref()
                    .is_some_and(|uids| uids.matches(|uid| *uid == user.uid))
                    || self
                        .gids
                        .as_ref()
                        .is_some_and(|gids| gids.matches(|gid| user.in_group(*gid)))
            }
        }
    }
}

/// Number of SPDM request codes (0x80..=0xFF), one bit each in [`SpdmFilter`].
const REQUEST_CODES: u32 = 128;
/// The lowest request code.
const FIRST_REQUEST_CODE: u8 = 0x80;

/// The SPDM request codes an allow rule lets through, as one bit per request code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpdmFilter {
    allowed: u128,
}

impl SpdmFilter {
    /// Every request code.
    pub const ALL: SpdmFilter = SpdmFilter { allowed: u128::MAX };
    /// No request code.
    pub const NONE: SpdmFilter = SpdmFilter { allowed: 0 };

    fn bit(code: SpdmRequestCode) -> u128 {
        let index = u32::from(code.code() - FIRST_REQUEST_CODE);
        debug_assert!(index < REQUEST_CODES);
        1u128 << index
    }

    /// The filter with `code` let through.
    #[must_use]
    pub fn with(self, code: SpdmRequestCode) -> Self {
        SpdmFilter {
            allowed: self.allowed | Self::bit(code),
        }
    }

    /// The filter with `code` refused.
    #[must_use]
    pub fn without(self, code: SpdmRequestCode) -> Self {
        SpdmFilter {
            allowed: self.allowed & !Self::bit(code),
        }
    }

    /// True if `code` is let through.
    pub fn allows(&self, code: SpdmRequestCode) -> bool {
        self.allowed & Self::bit(code) != 0
    }
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name, number and line, quoted in every decision it makes.
    pub id: Arc<RuleId>,
    /// Allow or deny.
    pub action: Action,
    /// The clients it applies to.
    pub clients: ClientMatch,
    /// The functions it applies to.
    pub functions: Selector<FunctionMatch>,
    /// The DOE protocols it applies to.
    pub protocols: Selector<ProtocolId>,
    /// Allow rules: the CMA/SPDM request codes let through (`None`: all).
    pub spdm: Option<SpdmFilter>,
    /// Allow rules: the longest request object, in dwords, header included (`None`: the
    /// DOE maximum, 2^18).
    pub max_object_dwords: Option<usize>,
    /// Allow rules: the rate limit (`None`: unlimited).
    pub rate: Option<RateLimit>,
}

impl Rule {
    /// True if the rule applies to this client, function and protocol.
    pub fn matches(
        &self,
        client: &ClientIdentity,
        function: &FunctionId,
        protocol: ProtocolId,
    ) -> bool {
        self.protocols.matches(|p| *p == protocol)
            && self.functions.matches(|f| f.matches(function))
            && self.clients.matches(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdm_filter_bits() {
        let get_version = SpdmRequestCode::GET_VERSION;
        let respond_if_ready = SpdmRequestCode::new(0xff).unwrap();
        let first = SpdmRequestCode::new(0x80).unwrap();
        let filter = SpdmFilter::NONE.with(get_version).with(respond_if_ready);
        assert!(filter.allows(get_version));
        assert!(filter.allows(respond_if_ready));
        assert!(!filter.allows(first));
        assert!(!SpdmFilter::ALL.without(first).allows(first));
        assert!(SpdmFilter::ALL.without(first).allows(respond_if_ready));
    }

    #[test]
    fn clients_match_by_any_selector() {
        let clients = ClientMatch {
            guests: Some(Selector::List(vec!["vm-a".into()])),
            uids: None,
            gids: Some(Selector::List(vec![27])),
        };
        assert!(clients.matches(&ClientIdentity::guest("vm-a")));
        assert!(!clients.matches(&ClientIdentity::guest("vm-b")));
        assert!(clients.matches(&ClientIdentity::host_user(1000, 27)));
        assert!(!clients.matches(&ClientIdentity::host_user(0, 0)));
        let nobody = ClientMatch::default();
        assert!(!nobody.matches(&ClientIdentity::guest("vm-a")));
        assert!(!nobody.matches(&ClientIdentity::host_user(0, 0)));
    }

    #[test]
    fn functions_match_by_address_or_ids() {
        let function = FunctionId::new("0d:00.0".parse().unwrap(), 0x8086, 0x0d93);
        let other = FunctionId::new("0e:00.0".parse().unwrap(), 0x1b36, 0x0010);
        let by_ids = FunctionMatch::Ids(function.ids);
        let by_address = FunctionMatch::Address(function.bdf);
        assert!(by_ids.matches(&function) && !by_ids.matches(&other));
        assert!(by_address.matches(&function) && !by_address.matches(&other));
    }
}
