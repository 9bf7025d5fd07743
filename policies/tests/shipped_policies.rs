//! The files in `resources/policies/`: they parse, and the default does what it says.

mod common;

use common::*;
use policies::{
    ClientIdentity, DenyReason, HostUser, Policy, ProtocolId, RequestInfo, RuleRef, SpdmRequestCode,
};

fn rule_name(rule: &RuleRef) -> Option<&str> {
    match rule {
        RuleRef::Rule(id) => id.name.as_deref(),
        _ => None,
    }
}

#[test]
fn every_shipped_file_parses() {
    let mut count = 0;
    for entry in std::fs::read_dir(policies_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            Policy::from_file(&path).unwrap_or_else(|err| panic!("{err}"));
            count += 1;
        }
    }
    assert!(count >= 3, "found {count} policies");
}

#[test]
fn builtin_default_is_the_shipped_file() {
    let file = Policy::from_file(&policies_dir().join("default.toml")).unwrap();
    let builtin = Policy::builtin_default();
    assert_eq!(builtin.rules(), file.rules());
    assert_eq!(builtin.origin(), "<builtin>/default.toml");
}

const GUEST_SPDM: [&str; 9] = [
    "GET_VERSION",
    "GET_CAPABILITIES",
    "NEGOTIATE_ALGORITHMS",
    "GET_DIGESTS",
    "GET_CERTIFICATE",
    "CHALLENGE",
    "GET_MEASUREMENTS",
    "RESPOND_IF_READY",
    "CHUNK_GET",
];

#[test]
fn default_gives_guests_authentication_and_measurements_only() {
    let policy = Policy::builtin_default();
    let vm = guest("any-guest");
    for code in SpdmRequestCode::named() {
        let decision = policy.evaluate(&vm, &cxl_function(), &spdm(code.code(), 4));
        let name = code.name().unwrap();
        if GUEST_SPDM.contains(&name) {
            assert!(decision.is_allowed(), "{name}");
        } else {
            assert_eq!(
                decision.deny_reason(),
                Some(DenyReason::SpdmRequestDenied(code)),
                "{name}"
            );
            assert_eq!(rule_name(&decision.rule), Some("guest-default"));
        }
    }
    // A code added after 1.2 (here 0xEF) is not in the list.
    assert!(!policy
        .evaluate(&vm, &cxl_function(), &spdm(0xef, 4))
        .is_allowed());
}

#[test]
fn default_gives_guests_cdat_and_discovery_with_limits() {
    let policy = Policy::builtin_default();
    let vm = guest("vm-a");
    let decision = policy.evaluate(&vm, &cxl_function(), &cdat());
    assert!(decision.is_allowed());
    let rate = decision.rate_limit.unwrap();
    assert_eq!((rate.per_second.get(), rate.burst.get()), (20, 64));
    let too_long = RequestInfo::new(ProtocolId::CXL_TABLE_ACCESS, 65);
    assert_eq!(
        policy
            .evaluate(&vm, &cxl_function(), &too_long)
            .deny_reason(),
        Some(DenyReason::ObjectTooLong {
            length_dwords: 65,
            max_dwords: 64
        })
    );
    let discovery = RequestInfo::new(ProtocolId::DISCOVERY, 3);
    assert_eq!(
        policy.evaluate(&vm, &cxl_function(), &discovery).rule,
        RuleRef::Discovery
    );
}

#[test]
fn default_keeps_sessions_and_compliance_for_the_host() {
    let policy = Policy::builtin_default();
    let vm = guest("vm-a");
    for protocol in [ProtocolId::SECURED_CMA_SPDM, ProtocolId::CXL_COMPLIANCE] {
        let decision = policy.evaluate(&vm, &nvme_vf(), &RequestInfo::new(protocol, 8));
        assert_eq!(decision.deny_reason(), Some(DenyReason::ProtocolDenied));
        assert_eq!(rule_name(&decision.rule), Some("host-only-protocols"));
    }
    // An unknown protocol matches no rule.
    let vendor = RequestInfo::new(ProtocolId::new(0x8086, 0x42), 4);
    let decision = policy.evaluate(&vm, &nvme_vf(), &vendor);
    assert_eq!(decision.rule, RuleRef::NoMatch);
}

#[test]
fn default_gives_root_everything_and_other_users_nothing() {
    let policy = Policy::builtin_default();
    let root = ClientIdentity::host_user(0, 0);
    let user = ClientIdentity::HostUser(HostUser {
        uid: 1000,
        gid: 1000,
        groups: vec![0],
    });
    for protocol in ALL_PROTOCOLS {
        let request = RequestInfo::new(protocol, 1024);
        let decision = policy.evaluate(&root, &cxl_function(), &request);
        assert!(decision.is_allowed(), "{protocol}");
        assert_eq!(decision.rate_limit, None);
    }
    assert!(policy
        .evaluate(&root, &cxl_function(), &spdm(0xee, 100))
        .is_allowed());
    // Group 0 is not uid 0.
    let decision = policy.evaluate(&user, &cxl_function(), &cdat());
    assert_eq!(decision.deny_reason(), Some(DenyReason::NoMatchingRule));
    assert_eq!(
        policy.allowed_protocols(&user, &cxl_function(), &ALL_PROTOCOLS),
        [ProtocolId::DISCOVERY]
    );
}

#[test]
fn default_discovery_lists_what_guests_may_use() {
    let policy = Policy::builtin_default();
    assert_eq!(
        policy.allowed_protocols(&guest("vm-a"), &nvme_vf(), &ALL_PROTOCOLS),
        [
            ProtocolId::DISCOVERY,
            ProtocolId::CMA_SPDM,
            ProtocolId::CXL_TABLE_ACCESS
        ]
    );
}

#[test]
fn deny_cdat_example_hides_cdat_from_vm_a_only() {
    let policy = Policy::from_file(&policies_dir().join("deny-cdat.toml")).unwrap();
    let cxl_protocols = [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS];
    assert_eq!(
        policy.allowed_protocols(&guest("vm-a"), &cxl_function(), &cxl_protocols),
        [ProtocolId::DISCOVERY]
    );
    assert_eq!(
        policy.allowed_protocols(&guest("vm-b"), &cxl_function(), &cxl_protocols),
        cxl_protocols
    );
    let decision = policy.evaluate(&guest("vm-a"), &cxl_function(), &cdat());
    assert_eq!(decision.deny_reason(), Some(DenyReason::ProtocolDenied));
    assert_eq!(
        decision.rule.to_string(),
        "rule \"no-cdat-for-vm-a\" (#1, line 10)"
    );
    // The rest of the default still holds for vm-a.
    assert!(policy
        .evaluate(&guest("vm-a"), &cxl_function(), &spdm(0x84, 3))
        .is_allowed());
}

#[test]
fn host_users_example() {
    let policy = Policy::from_file(&policies_dir().join("host-users.toml")).unwrap();
    let doe_member = ClientIdentity::HostUser(HostUser {
        uid: 1001,
        gid: 1001,
        groups: vec![990],
    });
    // By vendor:device, wherever the device sits.
    let moved = policies::FunctionId::new("0000:0e:00.0".parse().unwrap(), 0x8086, 0x0d93);
    assert!(policy.evaluate(&doe_member, &moved, &cdat()).is_allowed());
    assert!(policy
        .evaluate(&doe_member, &moved, &spdm(0x83, 12))
        .is_allowed());
    assert!(!policy
        .evaluate(&doe_member, &moved, &spdm(0xee, 12))
        .is_allowed());
    assert!(!policy
        .evaluate(&doe_member, &nvme_vf(), &cdat())
        .is_allowed());

    let user = ClientIdentity::host_user(1000, 1000);
    assert!(policy
        .evaluate(&user, &cxl_function(), &cdat())
        .is_allowed());
    assert!(!policy.evaluate(&user, &moved, &cdat()).is_allowed());

    let vm_b = guest("vm-b");
    assert!(policy
        .evaluate(&vm_b, &nvme_vf(), &spdm(0x84, 3))
        .is_allowed());
    assert!(!policy
        .evaluate(&vm_b, &nvme_vf(), &spdm(0xff, 3))
        .is_allowed());
    assert!(!policy
        .evaluate(&vm_b, &cxl_function(), &spdm(0x84, 3))
        .is_allowed());
}
