//! First match wins: the order of rules, what a rule matches on, and what an allow limits.

mod common;

use common::*;
use policies::{
    ClientIdentity, DenyReason, FunctionId, HostUser, Policy, ProtocolId, RequestInfo, RuleRef,
};

fn policy(text: &str) -> Policy {
    Policy::parse(text, "test.toml").unwrap_or_else(|err| panic!("{err}"))
}

/// The number of the rule that decided, 0 for a built-in one.
fn rule_number(
    policy: &Policy,
    client: &ClientIdentity,
    function: &FunctionId,
    request: &RequestInfo,
) -> usize {
    match policy.evaluate(client, function, request).rule {
        RuleRef::Rule(id) => id.number,
        RuleRef::Discovery | RuleRef::NoMatch => 0,
    }
}

const TWO_RULES: &str = r#"
version = 1

[[rule]]
action = "deny"
guests = "vm-a"
protocols = "1e98:02"

[[rule]]
action = "allow"
guests = "*"
protocols = "*"
"#;

#[test]
fn the_first_matching_rule_decides() {
    let policy = policy(TWO_RULES);
    let decision = policy.evaluate(&guest("vm-a"), &cxl_function(), &cdat());
    assert_eq!(decision.deny_reason(), Some(DenyReason::ProtocolDenied));
    assert_eq!(decision.rule.to_string(), "rule #1 (line 4)");
    // The first rule does not match vm-b, or vm-a's other protocols: the last one does.
    assert_eq!(
        rule_number(&policy, &guest("vm-b"), &cxl_function(), &cdat()),
        2
    );
    assert_eq!(
        rule_number(&policy, &guest("vm-a"), &cxl_function(), &spdm(0xee, 4)),
        2
    );
}

#[test]
fn a_later_rule_never_overrides_an_earlier_one() {
    // The same two rules the other way round: the broad allow shadows the deny.
    let swapped = r#"
version = 1
[[rule]]
action = "allow"
guests = "*"
protocols = "*"
[[rule]]
action = "deny"
guests = "vm-a"
protocols = "1e98:02"
"#;
    let policy = policy(swapped);
    assert!(policy
        .evaluate(&guest("vm-a"), &cxl_function(), &cdat())
        .is_allowed());
}

#[test]
fn nothing_matched_is_denied_by_the_builtin_rule() {
    let policy = policy(TWO_RULES);
    let root = ClientIdentity::host_user(0, 0);
    let decision = policy.evaluate(&root, &cxl_function(), &cdat());
    assert_eq!(decision.deny_reason(), Some(DenyReason::NoMatchingRule));
    assert_eq!(decision.rule, RuleRef::NoMatch);
    let empty = policy_text_without_rules();
    assert_eq!(
        empty
            .evaluate(&guest("vm-a"), &cxl_function(), &cdat())
            .rule,
        RuleRef::NoMatch
    );
}

fn policy_text_without_rules() -> Policy {
    policy("version = 1\n")
}

#[test]
fn discovery_is_always_allowed_even_with_no_rule() {
    let policy = policy_text_without_rules();
    let discovery = RequestInfo::new(ProtocolId::DISCOVERY, 3);
    let decision = policy.evaluate(&guest("anyone"), &cxl_function(), &discovery);
    assert!(decision.is_allowed());
    assert_eq!(decision.rule, RuleRef::Discovery);
    assert_eq!(
        policy.allowed_protocols(&guest("anyone"), &cxl_function(), &ALL_PROTOCOLS),
        [ProtocolId::DISCOVERY]
    );
}

#[test]
fn functions_match_by_address_or_by_ids() {
    let text = r#"
version = 1
[[rule]]
name = "by-address"
action = "allow"
guests = "*"
functions = ["0000:01:00.1"]
protocols = "0001:01"
[[rule]]
name = "by-ids"
action = "allow"
guests = "*"
functions = "8086:0d93"
protocols = "1e98:02"
"#;
    let policy = policy(text);
    let vm = guest("vm-a");
    assert!(policy
        .evaluate(&vm, &nvme_vf(), &spdm(0x84, 3))
        .is_allowed());
    assert!(!policy
        .evaluate(&vm, &cxl_function(), &spdm(0x84, 3))
        .is_allowed());
    assert!(policy.evaluate(&vm, &cxl_function(), &cdat()).is_allowed());
    assert!(!policy.evaluate(&vm, &nvme_vf(), &cdat()).is_allowed());
    assert_eq!(
        policy.allowed_protocols(&vm, &nvme_vf(), &ALL_PROTOCOLS),
        [ProtocolId::DISCOVERY, ProtocolId::CMA_SPDM]
    );
}

#[test]
fn host_users_match_by_uid_or_any_group() {
    let text = r#"
version = 1
[[rule]]
action = "allow"
uids = [1000, 1001]
gids = 990
protocols = "*"
"#;
    let policy = policy(text);
    let member = ClientIdentity::HostUser(HostUser {
        uid: 5,
        gid: 5,
        groups: vec![4, 990],
    });
    for (client, allowed) in [
        (ClientIdentity::host_user(1001, 5), true),
        (ClientIdentity::host_user(5, 990), true),
        (member, true),
        (ClientIdentity::host_user(5, 5), false),
        (guest("1000"), false),
    ] {
        assert_eq!(
            policy
                .evaluate(&client, &cxl_function(), &cdat())
                .is_allowed(),
            allowed,
            "{client}"
        );
    }
}

const LIMITED: &str = r#"
version = 1
[[rule]]
action = "allow"
guests = "*"
protocols = ["0001:01", "1e98:02"]
max_object_dwords = 16
[rule.spdm]
deny = ["SET_CERTIFICATE"]
"#;

#[test]
fn an_allow_rule_limits_length_and_spdm_codes() {
    let policy = policy(LIMITED);
    let vm = guest("vm-a");
    assert!(policy
        .evaluate(&vm, &cxl_function(), &spdm(0x84, 16))
        .is_allowed());
    assert_eq!(
        policy
            .evaluate(&vm, &cxl_function(), &spdm(0x84, 17))
            .deny_reason(),
        Some(DenyReason::ObjectTooLong {
            length_dwords: 17,
            max_dwords: 16
        })
    );
    let denied = policy.evaluate(&vm, &cxl_function(), &spdm(0xee, 8));
    let reason = denied.deny_reason().unwrap();
    assert!(reason.answer_with_spdm_error());
    assert_eq!(
        reason.to_string(),
        "SPDM request SET_CERTIFICATE (0xee) denied"
    );
    // Only 'deny' given: every other code passes, names known or not.
    assert!(policy
        .evaluate(&vm, &cxl_function(), &spdm(0xef, 8))
        .is_allowed());
    // The filter is for CMA/SPDM only; CDAT has no request code.
    assert!(policy.evaluate(&vm, &cxl_function(), &cdat()).is_allowed());
}

#[test]
fn a_cma_object_without_a_request_code_is_denied_under_a_filter() {
    let policy = policy(LIMITED);
    let headerless = RequestInfo::new(ProtocolId::CMA_SPDM, 2);
    assert_eq!(
        policy
            .evaluate(&guest("vm-a"), &cxl_function(), &headerless)
            .deny_reason(),
        Some(DenyReason::SpdmRequestMissing)
    );
    // Without a filter the device answers it (or not) itself.
    let open = policy_open_cma();
    assert!(open
        .evaluate(&guest("vm-a"), &cxl_function(), &headerless)
        .is_allowed());
}

fn policy_open_cma() -> Policy {
    policy("version = 1\n[[rule]]\naction = \"allow\"\nguests = \"*\"\nprotocols = \"0001:01\"\n")
}

#[test]
fn evaluation_from_a_cma_payload() {
    let policy = Policy::builtin_default();
    // SET_CERTIFICATE (0xEE) at version 0x12, slot 0, in a 4-dword object.
    let request = RequestInfo::with_payload(policies::ProtocolId::CMA_SPDM, 4, &[0x0000_ee12, 0]);
    let decision = policy.evaluate(&guest("vm-a"), &cxl_function(), &request);
    assert_eq!(
        decision.deny_reason().unwrap().code(),
        "spdm-request-denied"
    );
}

#[test]
fn allows_client_asks_whether_any_allow_rule_names_the_client_and_function() {
    let policy = policy(
        r#"
version = 1

[[rule]]
action = "deny"
uids = [1000]
protocols = "*"
functions = "0000:0e:00.0"

[[rule]]
action = "allow"
uids = [1000]
protocols = ["0001:01"]
functions = "8086:0d93"
"#,
    );
    let cxl = cxl_function();
    let other = FunctionId::new("0000:0e:00.0".parse().unwrap(), 0x1b36, 0x0010);
    // Allowed CMA/SPDM on the CXL function, whatever that function offers.
    assert!(policy.allows_client(&ClientIdentity::host_user(1000, 1000), &cxl));
    // Only denied on the other function; nobody else is named at all.
    assert!(!policy.allows_client(&ClientIdentity::host_user(1000, 1000), &other));
    assert!(!policy.allows_client(&ClientIdentity::host_user(1001, 1001), &cxl));
    assert!(!policy.allows_client(&ClientIdentity::guest("vm-a"), &cxl));
}

#[test]
fn allows_client_follows_rule_order() {
    let cases = [
        // A deny-all first: the allow after it never decides anything.
        (
            r#"
[[rule]]
action = "deny"
uids = [1000]
protocols = "*"

[[rule]]
action = "allow"
uids = [1000]
protocols = ["0001:01"]
"#,
            false,
        ),
        // Only Discovery allowed (always answered anyway): nothing to admit for.
        (
            r#"
[[rule]]
action = "allow"
uids = [1000]
protocols = ["0001:00"]
"#,
            false,
        ),
        // A denied protocol before an allow-all: the others stay allowed.
        (
            r#"
[[rule]]
action = "deny"
uids = [1000]
protocols = ["1e98:02"]

[[rule]]
action = "allow"
uids = [1000]
protocols = "*"
"#,
            true,
        ),
    ];
    for (rules, admitted) in cases {
        let policy = policy(&format!("version = 1\n{rules}"));
        assert_eq!(
            policy.allows_client(&ClientIdentity::host_user(1000, 1000), &cxl_function()),
            admitted,
            "{rules}"
        );
    }
}
