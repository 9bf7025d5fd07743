//! Every way a policy file can be wrong, each reported as `<file>:<line>:<col>: <message>`.

use policies::{Location, Policy, PolicyError};

/// A valid rule header and body, to which each case adds one line.
const RULE: &str = "version = 1\n\n[[rule]]\nname = \"r\"\naction = \"allow\"\nguests = \"*\"\nprotocols = [\"0001:01\", \"1e98:02\"]\n";

/// The error for `text` as `line:column: message`.
fn error(text: &str) -> String {
    match Policy::parse(text, "p.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(err) => {
            let text = err.to_string();
            text.strip_prefix("p.toml:")
                .unwrap_or_else(|| panic!("no origin in {text:?}"))
                .to_owned()
        }
    }
}

/// The error for the valid rule plus `line` (which is line 8).
fn rule_error(line: &str) -> String {
    error(&format!("{RULE}{line}\n"))
}

#[test]
fn the_base_rule_is_valid() {
    Policy::parse(RULE, "p.toml").unwrap();
}

#[test]
fn syntax_errors() {
    assert_eq!(
        error("version = 1\n[[rule]\n"),
        "2:7: invalid table header: expected `.`, `]]`"
    );
    assert_eq!(
        // The parser gives no message for a value missing at the very end.
        error("version = 1\n[[rule]]\nprotocols ="),
        "3:12: invalid TOML: a value or a closing bracket is missing here"
    );
    assert!(error("version = 1\nversion = 1\n").starts_with("2:1: "));
}

#[test]
fn version() {
    assert_eq!(error(""), "1:1: missing field `version`");
    assert_eq!(
        error("version = 2\n"),
        "1:11: unsupported policy format version 2; this build reads version 1"
    );
    assert_eq!(
        error("version = \"1\"\n"),
        "1:11: invalid type: string \"1\", expected i64"
    );
}

#[test]
fn unknown_keys() {
    assert_eq!(
        error("version = 1\nrules = []\n"),
        "2:1: unknown field `rules`, expected `version` or `rule`"
    );
    assert!(rule_error("proto = \"*\"").starts_with("8:1: unknown field `proto`, expected one of"));
    assert_eq!(
        rule_error("rate = { per_second = 1, burst = 1, jitter = 2 }"),
        "8:37: unknown field `jitter`, expected `per_second` or `burst`"
    );
    assert_eq!(
        rule_error("spdm = { allowed = [\"GET_VERSION\"] }"),
        "8:10: unknown field `allowed`, expected `allow` or `deny`"
    );
}

#[test]
fn missing_or_mistyped_fields() {
    assert_eq!(
        error("version = 1\n[[rule]]\nguests = \"*\"\nprotocols = \"*\"\n"),
        "2:1: missing field `action`"
    );
    assert_eq!(
        error("version = 1\n[[rule]]\naction = \"allow\"\nguests = \"*\"\n"),
        "2:1: missing field `protocols`"
    );
    assert_eq!(
        error("version = 1\n[[rule]]\naction = \"permit\"\n"),
        "3:10: unknown variant `permit`, expected `allow` or `deny`"
    );
    assert_eq!(
        rule_error("rate = { per_second = 1 }"),
        "8:8: missing field `burst`"
    );
    assert_eq!(
        rule_error("uids = [0, -1]"),
        "8:12: invalid value: integer `-1`, expected u32"
    );
    assert_eq!(
        error("version = 1\n[rule]\naction = \"allow\"\n"),
        "2:1: invalid type: map, expected a sequence"
    );
}

#[test]
fn bad_values() {
    assert_eq!(
        rule_error("gids = []"),
        "8:8: empty list for `gids` matches nothing; remove the key or the rule, or write \"*\""
    );
    assert_eq!(
        rule_error("functions = [\"0000:0d:00.0\", \"8086:d93\"]"),
        "8:30: \"8086:d93\" is not a function: write a PCI address (\"0000:0d:00.0\") or vendor:device as 4 and 4 hex digits (\"8086:0d93\")"
    );
    assert_eq!(
        rule_error("functions = \"0000:0d:20.0\""),
        "8:13: bad function address: PCI device number 0x20 is out of range (must be below 0x20)"
    );
    assert_eq!(
        error("version = 1\n[[rule]]\naction = \"allow\"\nguests = [\"vm a\"]\n"),
        "4:11: \"vm a\" is not a guest name: use the --name given to vmm (no spaces; \"*\" alone means every guest)"
    );
    assert_eq!(
        error("version = 1\n[[rule]]\naction = \"deny\"\nguests = \"*\"\nprotocols = [\"1e98:2\"]\n"),
        "5:14: \"1e98:2\" is not a DOE protocol: write vendor:type as 4 and 2 hex digits, e.g. \"0001:01\""
    );
}

#[test]
fn spdm_codes() {
    assert_eq!(
        rule_error("spdm = { allow = [\"GET_VERSION\", \"GET_VERSON\"] }"),
        "8:34: unknown SPDM request code name \"GET_VERSON\"; use a 1.2 name such as GET_VERSION or a hex code such as \"0x84\""
    );
    assert_eq!(
        rule_error("spdm = { deny = [0x04] }"),
        "8:18: 0x04 is the response code VERSION, not a request: SPDM request codes are 0x80 to 0xff"
    );
    assert_eq!(
        rule_error("spdm = { deny = [0x100] }"),
        "8:18: 0x100 does not fit in the one-byte SPDM request code"
    );
    assert_eq!(
        rule_error("spdm = { allow = [\"CHALLENGE\"], deny = [\"GET_CSR\", 0x83] }"),
        "8:52: SPDM request CHALLENGE (0x83) is both allowed and denied"
    );
    assert_eq!(
        rule_error("spdm = { allow = [\"CHALLENGE\", \"0x83\"] }"),
        "8:32: SPDM request CHALLENGE (0x83) is listed twice"
    );
    assert_eq!(
        rule_error("spdm = { allow = [] }"),
        "8:8: empty list for `spdm.allow` matches nothing; remove the key or the rule, or write \"*\""
    );
    assert_eq!(
        rule_error("spdm = {}"),
        "8:8: `spdm` needs `allow`, `deny` or both"
    );
    assert_eq!(
        error("version = 1\n[[rule]]\naction = \"allow\"\nguests = \"*\"\nprotocols = \"1e98:02\"\n[rule.spdm]\ndeny = [\"GET_CSR\"]\n"),
        "6:1: `spdm` filters CMA/SPDM (0001:01) request codes, a protocol this rule does not list"
    );
}

#[test]
fn limits() {
    assert_eq!(
        rule_error("max_object_dwords = 1"),
        "8:21: max_object_dwords 1 is out of range: a DOE object is 2 (header) to 262144 (2^18) dwords"
    );
    assert!(rule_error("max_object_dwords = 262145").starts_with("8:21: max_object_dwords 262145"));
    assert_eq!(
        rule_error("rate = { per_second = 0, burst = 4 }"),
        "8:23: rate.per_second 0 is out of range: it must be 1 to 1000000"
    );
    assert_eq!(
        rule_error("rate = { per_second = 5, burst = -1 }"),
        "8:34: rate.burst -1 is out of range: it must be 1 to 1000000"
    );
    assert_eq!(
        rule_error("rate = { per_second = 5, burst = 1000001 }"),
        "8:34: rate.burst 1000001 is out of range: it must be 1 to 1000000"
    );
}

#[test]
fn rule_consistency() {
    assert_eq!(
        error("version = 1\n\n[[rule]]\naction = \"allow\"\nprotocols = \"*\"\n"),
        "3:1: rule applies to no client: give it `guests`, `uids` or `gids`"
    );
    assert_eq!(
        error("version = 1\n[[rule]]\nname = \"\"\naction = \"allow\"\nguests = \"*\"\nprotocols = \"*\"\n"),
        "3:8: rule name is empty"
    );
    assert_eq!(
        error(&format!(
            "{RULE}\n[[rule]]\nname = \"r\"\naction = \"deny\"\nuids = 0\nprotocols = \"*\"\n"
        )),
        "10:8: duplicate rule name \"r\" (first used on line 3)"
    );
    let deny = "version = 1\n[[rule]]\naction = \"deny\"\nguests = \"*\"\nprotocols = [\"1e98:02\", \"0001:00\"]\n";
    assert_eq!(
        error(deny),
        "5:25: Discovery (0001:00) cannot be denied: it is answered from the list this policy filters"
    );
    let deny_with = |line: &str| {
        error(&format!(
            "version = 1\n[[rule]]\naction = \"deny\"\nguests = \"*\"\nprotocols = \"*\"\n{line}\n"
        ))
    };
    assert_eq!(
        deny_with("rate = { per_second = 1, burst = 1 }"),
        "6:8: `rate` applies only to allow rules; a deny rule refuses everything it matches"
    );
    assert_eq!(
        deny_with("max_object_dwords = 8"),
        "6:21: `max_object_dwords` applies only to allow rules; a deny rule refuses everything it matches"
    );
    assert_eq!(
        deny_with("spdm = { deny = [\"GET_CSR\"] }"),
        "6:8: `spdm` applies only to allow rules; a deny rule refuses everything it matches"
    );
}

#[test]
fn the_error_carries_its_parts() {
    match Policy::parse("version = 3\n", "x.toml") {
        Err(PolicyError::Invalid {
            origin,
            location,
            message,
        }) => {
            assert_eq!(origin, "x.toml");
            assert_eq!(
                location,
                Location {
                    line: 1,
                    column: 11
                }
            );
            assert!(message.starts_with("unsupported policy format version 3"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = Policy::from_file(std::path::Path::new("/nonexistent/policy.toml")).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert!(err
        .to_string()
        .starts_with("cannot read policy /nonexistent/policy.toml: "));
}
