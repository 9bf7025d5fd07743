//! Scenario `guest-doe-policy`: `vmm --policy` with a policy that denies CXL Table Access
//! (`1e98:02`) to this guest. L2's Discovery lists only `0001:00`; a CDAT request sent
//! anyway (`doectl cdat --no-discovery`) is silently discarded, so doectl times out
//! (exit 6); exactly one audit record appears in L1; L1 rewrites the policy to allow CDAT
//! and reloads it through the control socket (then SIGHUP), and a CDAT read in the same L2
//! boot succeeds and equals L1's physical read.

use serde_json::Value;

use super::common::{expect, json_in, l2_passed, marker, section_in, section_rc};
use super::guest_doe::{discovered, same_cdat, ALLOWED, DOE_OFFSET, GUEST_FUNCTION};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-doe-policy",
    description: "a policy denying 1e98:02: Discovery hides it, requests are discarded and audited once; reload allows it in the same boot",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &[],
    l1_host_programs: &[],
    l2_host_programs: &[],
    l1_modules: &[],
    l2_modules: &[],
    check,
};

/// The guest name L1 passes to `vmm --name`, and the deny rule naming it.
const GUEST: &str = "guest-doe-policy";
const DENY_RULE: &str = "no-cdat-for-guest-doe-policy";
/// doectl's exit code for a timeout (the mailbox never answered).
const EXIT_TIMEOUT: i32 = 6;

/// The audit records (JSON lines) of a denial of `protocol`; other lines (e.g.
/// `suppressed` events) are skipped, unparsable ones are an error.
pub fn denials(audit: &[String], protocol: &str) -> Result<Vec<Value>, String> {
    let mut found = Vec::new();
    for line in audit.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let record: Value = serde_json::from_str(line)
            .map_err(|e| format!("audit line is not JSON ({e}): {line}"))?;
        if record["event"] == "denied" && record["protocol"] == protocol {
            found.push(record);
        }
    }
    Ok(found)
}

/// Checks the fields of the one audit record of the denied CDAT request.
pub fn check_denial(record: &Value) -> Result<Vec<String>, String> {
    let field = |path: &[&str]| {
        path.iter()
            .fold(record, |v, k| &v[*k])
            .as_str()
            .map(str::to_owned)
    };
    let mut facts = Vec::new();
    for (path, want) in [
        (&["client"][..], format!("guest:{GUEST}")),
        (&["function"][..], "0000:0d:00.0".to_owned()),
        (&["mailbox"][..], format!("{DOE_OFFSET:#x}")),
        (&["protocol"][..], "1e98:02".to_owned()),
        (&["decision"][..], "deny".to_owned()),
        (&["reason"][..], "protocol-denied".to_owned()),
        (&["rule", "name"][..], DENY_RULE.to_owned()),
    ] {
        facts.push(expect(
            &format!("audit: {}", path.join(".")),
            field(path),
            Some(want),
        )?);
    }
    if field(&["time"]).is_none_or(|t| t.is_empty()) {
        return Err(format!("audit record has no time: {record}"));
    }
    Ok(facts)
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = Vec::new();
    let l1_cdat = json_in(lines, "l1-cdat")?;
    let l2 = section_in(lines, "l2-console").ok_or("section `l2-console` (L2's serial) missing")?;
    facts.push(expect(
        "the assigned function in L2",
        marker(l2, "@@l2 fn "),
        Some(GUEST_FUNCTION),
    )?);

    // Denied: Discovery hides 1e98:02, and a request sent anyway goes unanswered.
    let (offset, ids) = discovered(&json_in(l2, "l2-discover-denied")?)?;
    facts.push(expect("denied: DOE offset", offset, DOE_OFFSET)?);
    facts.push(expect(
        "denied: L2 Discovery",
        ids,
        vec!["0001:00".to_owned()],
    )?);
    facts.push(expect(
        "denied: doectl cdat --no-discovery exit code (silent discard, 1 s timeout)",
        section_rc(l2, "l2-cdat-denied"),
        Some(EXIT_TIMEOUT),
    )?);
    if let Some(after) = marker(l2, "@@l2 cdat-denied-rc ") {
        facts.push(format!("denied: doectl cdat returned {after}"));
    }

    // One audit record in L1, with the fields the README documents.
    let audit = section_in(lines, "l1-audit").ok_or("section `l1-audit` missing")?;
    let records = denials(audit, "1e98:02")?;
    facts.push(expect("audit: records for 1e98:02", records.len(), 1)?);
    facts.extend(check_denial(&records[0])?);

    // Reloaded: allowed in the same boot.
    facts.push(expect(
        "doectl policy reload exit code",
        section_rc(lines, "l1-reload"),
        Some(0),
    )?);
    if let Some(waited) = marker(l2, "@@l2 reload seen after ") {
        facts.push(format!("L2 saw the reload after {waited}"));
    }
    let (_, ids) = discovered(&json_in(l2, "l2-discover-allowed")?)?;
    facts.push(expect(
        "allowed: L2 Discovery after the reload",
        ids,
        ALLOWED.iter().map(|s| (*s).to_owned()).collect(),
    )?);
    let cdat = json_in(l2, "l2-cdat-allowed")?;
    facts.push(same_cdat(
        "allowed: L2 CDAT after the reload",
        &cdat,
        &l1_cdat,
    )?);
    facts.push(expect(
        "same L2 boot: `@@l2 init` lines in L2's console",
        l2.iter().filter(|l| l.trim() == "@@l2 init").count(),
        1,
    )?);
    facts.push(expect("L2 script verdict 0", l2_passed(l2), true)?);
    facts.push(expect(
        "vmm exit code",
        marker(lines, "@@vmm-exit "),
        Some("0"),
    )?);
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"time":"2026-11-27T10:00:00.250Z","event":"denied","client":"guest:guest-doe-policy","function":"0000:0d:00.0","device":"8086:0d93","mailbox":"0x190","protocol":"1e98:02","decision":"deny","reason":"protocol-denied","detail":"x","rule":{"name":"no-cdat-for-guest-doe-policy","number":1,"line":9}}"#;

    #[test]
    fn audit_denials_are_picked_and_checked() {
        let audit = vec![
            RECORD.to_owned(),
            r#"{"time":"t","event":"suppressed","client":"guest:x","suppressed":3}"#.to_owned(),
            String::new(),
        ];
        let found = denials(&audit, "1e98:02").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(check_denial(&found[0]).unwrap().len(), 7);
        assert!(denials(&audit, "0001:01").unwrap().is_empty());
    }

    #[test]
    fn a_wrong_audit_field_is_named() {
        let mut record: Value = serde_json::from_str(RECORD).unwrap();
        record["rule"] = serde_json::json!({"builtin": "no-match"});
        assert!(check_denial(&record).unwrap_err().contains("rule.name"));
        assert!(denials(&["not json".to_owned()], "1e98:02").is_err());
    }
}
