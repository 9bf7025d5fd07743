//! Scenario `contention`, part 4: recovery of a mailbox a raw host writer holds while
//! vmm starts (issue 9). In each round L1 starts the writer on the physical mailbox,
//! starts `vmm --doe-socket` with the function assigned, and lets L2 try Discovery and a
//! CDAT read three times; then it stops the writer and tells L2 so on its console. L2
//! must then succeed (Discovery lists CDAT, the CDAT equals L1's reference) in the same
//! boot, and L1's next read through vmm's socket must be right. L2 must have kept its
//! virtual DOE capability throughout (no "no DOE mailbox" answer), and vmm must exit 0.
//!
//! - `recovery`: the writer is `doectl --force cdat` in a loop. Whether it disturbs
//!   anything depends on how its exchanges and vmm's start interleave: printed.
//! - `recovery-jam`: the writer is `doe-jam` (garbage and Go, never an abort), whose Gos
//!   discard the others' requests. It must have disturbed something — vmm's mediator found the
//!   mailbox unusable, or an attempt of L2 failed — or the round proves nothing.

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

/// Which writer a round ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// `doectl --force cdat` in a loop; its report is "runs failed".
    ForceLoop,
    /// `doe-jam`; its report is its JSON line.
    Jam,
}

/// What vmm's mediator logs about a mailbox it cannot use, and about its recovery.
const MEDIATOR_WORDS: [&str; 5] = [
    "not usable yet",
    "usable again",
    "still unusable",
    "abort timed out",
    "is unusable",
];

/// Checks the recovery round `mode` in L1's console `lines` against L1's `reference` CDAT
/// (hex).
pub fn check(
    lines: &[String],
    reference: &str,
    mode: &str,
    writer: Writer,
) -> Result<Vec<String>, String> {
    let mut facts = Vec::new();
    let report = marker(lines, &format!("@@writer {mode} "))
        .ok_or_else(|| format!("{mode}: no report from the raw writer"))?;
    facts.push(writer_fact(mode, writer, report)?);

    let console = section_in(lines, &format!("l2-console-{mode}"))
        .ok_or_else(|| format!("{mode}: no L2 console"))?;
    let attempts: Vec<&str> = console
        .iter()
        .filter_map(|l| l.trim().strip_prefix("@@l2 attempt "))
        .collect();
    if let Some(gone) = attempts.iter().find(|a| a.contains(NO_MAILBOX_EXIT)) {
        return Err(format!(
            "{mode}: L2 lost its virtual DOE capability: `{gone}`"
        ));
    }
    let under: Vec<&str> = attempts
        .iter()
        .copied()
        .filter(|a| a.starts_with("under-writer "))
        .collect();
    if under.is_empty() {
        return Err(format!("{mode}: L2 made no attempt while the writer ran"));
    }
    facts.push(format!(
        "{mode}: L2 while the writer ran: {}",
        under.join("; ")
    ));
    let recovered_at = marker(console, "@@l2 recovered-at-attempt ").ok_or_else(|| {
        format!(
            "{mode}: L2 never succeeded after the writer stopped: {}",
            attempts.join("; ")
        )
    })?;
    let after: Vec<&str> = attempts
        .iter()
        .copied()
        .filter(|a| a.starts_with("after-stop "))
        .collect();
    facts.push(format!(
        "{mode}: after the writer stopped L2 succeeded at attempt {recovered_at} (same boot, same vmm): {}",
        after.join("; ")
    ));
    let (_, listed) = discovered(&json_in(console, "l2-recovered-discover")?)?;
    if !listed.iter().any(|p| p == "1e98:02") {
        return Err(format!(
            "{mode}: L2's Discovery after recovery lists no CDAT: {listed:?}"
        ));
    }
    if cdat_bytes(console, "l2-recovered-cdat")? != reference {
        return Err(format!(
            "{mode}: L2's CDAT after recovery differs from L1's reference"
        ));
    }
    facts.push(format!(
        "{mode}: L2's Discovery lists {listed:?}; its CDAT equals L1's reference"
    ));
    if cdat_bytes(lines, &format!("l1-after-{mode}"))? != reference {
        return Err(format!(
            "{mode}: L1's CDAT through the socket differs from the reference"
        ));
    }
    facts.push(format!(
        "{mode}: L1's next read through vmm's socket is right"
    ));

    let log = section_in(lines, &format!("vmm-{mode}-log"))
        .ok_or_else(|| format!("{mode}: no vmm log"))?;
    let about: Vec<&str> = log
        .iter()
        .map(|l| l.trim())
        .filter(|l| MEDIATOR_WORDS.iter().any(|k| l.contains(k)))
        .collect();
    let failed_under = under.iter().any(|a| !a.ends_with(" ok"));
    if writer == Writer::Jam && about.is_empty() && !failed_under {
        return Err(format!(
            "{mode}: the jam disturbed nothing (vmm found the mailbox usable, every L2 attempt worked): the round proves no recovery"
        ));
    }
    facts.push(if about.is_empty() {
        format!("{mode}: vmm's mediator found the mailbox usable at start and never lost it")
    } else {
        format!("{mode}: vmm's log: {}", about.join(" / "))
    });
    match marker(lines, &format!("@@vmm-exit {mode} ")) {
        Some("0") => Ok(facts),
        other => Err(format!("{mode}: vmm exited {other:?}")),
    }
}

/// The writer's report as a fact; an error if it never wrote.
fn writer_fact(mode: &str, writer: Writer, report: &str) -> Result<String, String> {
    match writer {
        Writer::ForceLoop => {
            let (runs, failed) = report
                .split_once(' ')
                .and_then(|(r, f)| Some((r.parse::<u32>().ok()?, f.parse::<u32>().ok()?)))
                .ok_or_else(|| format!("{mode}: bad writer report `{report}`"))?;
            if runs == 0 {
                return Err(format!("{mode}: the raw writer never ran"));
            }
            Ok(format!(
                "{mode}: raw writer (doectl --force cdat) ran {runs} times while vmm started and L2 tried, {failed} failed"
            ))
        }
        Writer::Jam => {
            let json: serde_json::Value = serde_json::from_str(report)
                .map_err(|e| format!("{mode}: bad doe-jam report `{report}`: {e}"))?;
            let rounds = json["rounds"].as_u64().unwrap_or(0);
            if rounds == 0 {
                return Err(format!("{mode}: doe-jam never wrote: {report}"));
            }
            Ok(format!(
                "{mode}: doe-jam wrote garbage and Go {rounds} times in {:.1} s while vmm started and L2 tried",
                json["seconds"].as_f64().unwrap_or(0.0)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    const GOOD: &str = r#"@@writer recovery 40 12
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
        let facts = check(&lines(GOOD), "abcd", "recovery", Writer::ForceLoop).unwrap();
        assert!(
            facts.iter().any(|f| f.contains("usable again (retry 3)")),
            "{facts:?}"
        );
    }

    #[test]
    fn each_failure_is_caught() {
        assert!(
            check(&lines(GOOD), "abce", "recovery", Writer::ForceLoop).is_err(),
            "a wrong CDAT passes"
        );
        let lost = GOOD.replace(
            "under-writer 1 discover rc=8",
            "under-writer 1 discover rc=4",
        );
        assert!(check(&lines(&lost), "abcd", "recovery", Writer::ForceLoop)
            .unwrap_err()
            .contains("lost its virtual DOE"));
        let never = GOOD.replace("@@l2 recovered-at-attempt 1\n", "");
        assert!(check(&lines(&never), "abcd", "recovery", Writer::ForceLoop)
            .unwrap_err()
            .contains("never succeeded"));
        let host = GOOD.replace(
            "@@end l1-after-recovery rc=0",
            "@@end l1-after-recovery rc=8",
        );
        assert!(check(&lines(&host), "abcd", "recovery", Writer::ForceLoop).is_err());
        let exit = GOOD.replace("@@vmm-exit recovery 0", "@@vmm-exit recovery 1");
        assert!(check(&lines(&exit), "abcd", "recovery", Writer::ForceLoop).is_err());
        let idle = GOOD.replace("@@writer recovery 40 12", "@@writer 0 0");
        assert!(check(&lines(&idle), "abcd", "recovery", Writer::ForceLoop).is_err());
    }

    #[test]
    fn a_jam_that_disturbed_nothing_proves_nothing() {
        let jam = GOOD.replace("recovery", "recovery-jam").replace(
            "@@writer recovery-jam 40 12",
            r#"@@writer recovery-jam {"rounds": 5000, "seconds": 9.5}"#,
        );
        assert!(check(&lines(&jam), "abcd", "recovery-jam", Writer::Jam).is_ok());
        let quiet: String = jam
            .lines()
            .filter(|l| !l.contains("usable"))
            .map(|l| {
                l.replace("rc=8 device error", "ok")
                    .replace("rc=6 timeout", "ok")
                    + "\n"
            })
            .collect();
        let err = check(&lines(&quiet), "abcd", "recovery-jam", Writer::Jam).unwrap_err();
        assert!(err.contains("disturbed nothing"), "{err}");
    }
}
