//! What a guest may send: the policy hook of the virtual mailbox.

use doe_proxy::protocol::{DataObject, ProtocolId};

/// The decision on one request object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterVerdict {
    /// Send it to the device.
    Allow,
    /// Drop it without an answer, as a device does with an object it does not support;
    /// the guest's requester times out (see the module documentation).
    DenyDiscard,
    /// Answer it with this whole response object (header included) without touching
    /// the device, e.g. an SPDM ERROR (UnsupportedRequest) for a denied request code.
    DenyWithResponse(Vec<u32>),
}

/// The admin's policy for one guest on one mailbox. Consulted on every Discovery
/// request and every request object, so a reloaded policy applies to the next one.
/// Denials are the implementation's to audit.
pub trait DoeFilter: Send + Sync {
    /// Which of the physically `discovered` protocols the guest may see. The virtual
    /// mailbox lists their intersection with `discovered`, in physical order, with
    /// Discovery always first.
    fn protocols(&self, discovered: &[ProtocolId]) -> Vec<ProtocolId>;

    /// The verdict on `request` (never a Discovery request: those are answered
    /// locally from [`DoeFilter::protocols`]).
    fn check(&self, request: &DataObject) -> FilterVerdict;
}

/// Lets everything through; for tests and for running without a policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl DoeFilter for AllowAll {
    fn protocols(&self, discovered: &[ProtocolId]) -> Vec<ProtocolId> {
        discovered.to_vec()
    }

    fn check(&self, _request: &DataObject) -> FilterVerdict {
        FilterVerdict::Allow
    }
}

/// The protocols Discovery lists to the guest: Discovery, then each protocol the
/// device listed that `filter` allows, in the device's order.
pub(super) fn guest_protocols(
    filter: &dyn DoeFilter,
    discovered: &[ProtocolId],
) -> Vec<ProtocolId> {
    let allowed = filter.protocols(discovered);
    let mut listed = vec![ProtocolId::DISCOVERY];
    listed.extend(
        discovered
            .iter()
            .copied()
            .filter(|&p| p != ProtocolId::DISCOVERY && allowed.contains(&p)),
    );
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims protocols the device does not have and leaves out Discovery.
    struct Sloppy;

    impl DoeFilter for Sloppy {
        fn protocols(&self, _discovered: &[ProtocolId]) -> Vec<ProtocolId> {
            vec![ProtocolId::CXL_COMPLIANCE, ProtocolId::CXL_TABLE_ACCESS]
        }

        fn check(&self, _request: &DataObject) -> FilterVerdict {
            FilterVerdict::DenyDiscard
        }
    }

    #[test]
    fn the_guest_sees_the_intersection_with_discovery_first() {
        let discovered = [
            ProtocolId::DISCOVERY,
            ProtocolId::CMA_SPDM,
            ProtocolId::CXL_TABLE_ACCESS,
        ];
        assert_eq!(guest_protocols(&AllowAll, &discovered), discovered);
        assert_eq!(
            guest_protocols(&Sloppy, &discovered),
            [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
        );
        assert_eq!(guest_protocols(&Sloppy, &[]), [ProtocolId::DISCOVERY]);
    }
}
