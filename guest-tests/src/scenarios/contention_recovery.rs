//! Scenario `contention`, part 4: recovery of a mailbox a raw host writer holds while
//! vmm starts (issue 9). L1 runs `doectl --force cdat` in a loop on the physical mailbox,
//! starts `vmm --doe-socket` with the function assigned, and lets L2 try Discovery and a
//! CDAT read three times; then it stops the writer and tells L2 so on its console. L2
//! must then succeed (Discovery lists CDAT, the CDAT equals L1's reference) in the same
//! boot, and L1's next read through vmm's socket must be right. L2 must have kept its
//! virtual DOE capability throughout (no "no DOE mailbox" answer), and vmm must exit 0.
//! What vmm's mediator logged about the mailbox (unusable at start, retries, recovered)
//! and L2's attempts under the writer are printed, not asserted: they depend on how the
//! writer's exchanges and vmm's start interleave.

use super::common::{json_in, marker, section_in, section_rc};
use super::guest_doe::discovered;

/// doectl's exit code for "the function has no DOE mailbox (offering that protocol)".
const NO_MAILBOX_EXIT: &str = "rc=4";

/// The CDAT bytes (hex) of a `doectl cdat --json` report in section `name` of `lines`,
/// once the section shows that doectl exited 0.
fn cdat_bytes(lines: &[String], name: &str) -> Result<String, String> {
    if section_rc(lines, name) != Some(0) {
        return Err(format!(
            "`{name}` exited {:?}: {}",
            section_rc(lines, name),
            section_in(lines, name).unwrap_or_default().join(" | ")
        ));
    }
    json_in(lines, name)?["bytes"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("`{name}`: no CDAT bytes"))
}

/// Checks part 4 in L1's console `lines` against L1's `reference` CDAT (hex).
pub fn check(lines: &[String], reference: &str) -> Result<Vec<String>, String> {
    let mut facts = Vec::new();
    let writer = marker(lines, "@@writer ").ok_or("recovery: no report from the raw writer")?;
    let (runs, failed) = writer
        .split_once(' ')
        .and_then(|(r, f)| Some((r.parse::<u32>().ok()?, f.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("recovery: bad writer report `{writer}`"))?;
    if runs == 0 {
        return Err("recovery: the raw writer never ran".to_owned());
    }
    facts.push(format!(
        "recovery: raw writer (doectl --force cdat) ran {runs} times while vmm started and L2 tried, {failed} failed"
    ));

    let console = section_in(lines, "l2-console-recovery").ok_or("recovery: no L2 console")?;
    let attempts: Vec<&str> = console
        .iter()
        .filter_map(|l| l.trim().strip_prefix("@@l2 attempt "))
        .collect();
    if let Some(gone) = attempts.iter().find(|a| a.contains(NO_MAILBOX_EXIT)) {
        return Err(format!(
            "recovery: L2 lost its virtual DOE capability: `{gone}`"
        ));
    }
    let under: Vec<&&str> = attempts
        .iter()
        .filter(|a| a.starts_with("under-writer "))
        .collect();
    if under.is_empty() {
        return Err("recovery: L2 made no attempt while the writer ran".to_owned());
    }
    facts.push(format!(
        "recovery: L2 while the writer ran: {}",
        under
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let recovered_at = marker(console, "@@l2 recovered-at-attempt ").ok_or_else(|| {
        format!(
            "recovery: L2 never succeeded after the writer stopped: {}",
            attempts.join("; ")
        )
    })?;
    let after: Vec<&&str> = attempts
        .iter()
        .filter(|a| a.starts_with("after-stop "))
        .collect();
    facts.push(format!(
        "recovery: after the writer stopped L2 succeeded at attempt {recovered_at} (same boot, same vmm): {}",
        after.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("; ")
    ));
    let (_, discovered) = discovered(&json_in(console, "l2-recovered-discover")?)?;
    if !discovered.iter().any(|p| p == "1e98:02") {
        return Err(format!(
            "recovery: L2's Discovery after recovery lists no CDAT: {discovered:?}"
        ));
    }
    let l2_cdat = cdat_bytes(console, "l2-recovered-cdat")?;
    if l2_cdat != reference {
        return Err("recovery: L2's CDAT after recovery differs from L1's reference".to_owned());
    }
    facts.push(format!(
        "recovery: L2's Discovery lists {discovered:?}; its CDAT equals L1's reference"
    ));
    let host = cdat_bytes(lines, "l1-after-recovery")?;
    if host != reference {
        return Err("recovery: L1's CDAT through the socket differs from the reference".to_owned());
    }
    facts.push("recovery: L1's next read through vmm's socket is right".to_owned());

    let log = section_in(lines, "vmm-recovery-log").ok_or("recovery: no vmm log")?;
    let about: Vec<&str> = log
        .iter()
        .map(|l| l.trim())
        .filter(|l| {
            [
                "not usable yet",
                "usable again",
                "still unusable",
                "abort timed out",
                "is dead",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .collect();
    facts.push(if about.is_empty() {
        "recovery: vmm's mediator found the mailbox usable at start (the writer did not leave it busy or in Error then)".to_owned()
    } else {
        format!("recovery: vmm's log: {}", about.join(" / "))
    });
    match marker(lines, "@@vmm-exit recovery ") {
        Some("0") => Ok(facts),
        other => Err(format!("recovery: vmm exited {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    const GOOD: &str = r#"@@writer 40 12
@@begin l2-console-recovery
@@l2 attempt under-writer 1 discover rc=8 device error
@@l2 attempt under-writer 2 discover ok
@@l2 attempt under-writer 2 cdat rc=6 timeout
@@l2 attempt after-stop 1 discover ok
@@l2 attempt after-stop 1 cdat ok
@@l2 recovered-at-attempt 1
@@begin l2-recovered-discover
{"mailboxes": [{"offset": 400, "protocols": [{"id": "0001:00"}, {"id": "1e98:02"}]}]}
@@end l2-recovered-discover rc=0
@@begin l2-recovered-cdat
{"bytes": "abcd"}
@@end l2-recovered-cdat rc=0
@@end l2-console-recovery rc=0
@@begin l1-after-recovery
{"bytes": "abcd"}
@@end l1-after-recovery rc=0
@@begin vmm-recovery-log
[WARN] DOE mediator [0x190]: the mailbox is not usable yet (x); its exchanges fail until a retry works
[INFO] DOE mediator [0x190]: the mailbox is usable again (retry 3)
@@end vmm-recovery-log rc=0
@@vmm-exit recovery 0"#;

    #[test]
    fn a_recovered_run_passes_and_reports_the_log() {
        let facts = check(&lines(GOOD), "abcd").unwrap();
        assert!(
            facts.iter().any(|f| f.contains("usable again (retry 3)")),
            "{facts:?}"
        );
    }

    #[test]
    fn each_failure_is_caught() {
        assert!(check(&lines(GOOD), "abce").is_err(), "a wrong CDAT passes");
        let lost = GOOD.replace(
            "under-writer 1 discover rc=8",
            "under-writer 1 discover rc=4",
        );
        assert!(check(&lines(&lost), "abcd")
            .unwrap_err()
            .contains("lost its virtual DOE"));
        let never = GOOD.replace("@@l2 recovered-at-attempt 1\n", "");
        assert!(check(&lines(&never), "abcd")
            .unwrap_err()
            .contains("never succeeded"));
        let host = GOOD.replace(
            "@@end l1-after-recovery rc=0",
            "@@end l1-after-recovery rc=8",
        );
        assert!(check(&lines(&host), "abcd").is_err());
        let exit = GOOD.replace("@@vmm-exit recovery 0", "@@vmm-exit recovery 1");
        assert!(check(&lines(&exit), "abcd").is_err());
        let idle = GOOD.replace("@@writer 40 12", "@@writer 0 0");
        assert!(check(&lines(&idle), "abcd").is_err());
    }
}
