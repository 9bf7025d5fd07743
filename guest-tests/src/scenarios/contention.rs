//! Scenario `contention`: one physical DOE mailbox, two users at once (issue 9).
//!
//! 1. **mediated**: `vmm --doe-socket` runs L2; while L2 reads the CDAT through its
//!    virtual DOE (150 whole reads, every exchange timed), L1 reads it and walks Discovery
//!    through the socket (60 times). Every read of both must equal L1's reference read,
//!    every Discovery walk succeed, and the guest's slowest exchange stay below Linux's 1 s
//!    DOE timeout; p50/p99/max of both sides are printed.
//! 2. **bypass**: the same, with L1 driving the physical registers itself (what
//!    `doectl --force` does): the wrong and failed reads of both sides are counted and
//!    printed, and there must be some — proof the mediated figure can fail.
//! 3. **doe-proxyd**, no guest: root's reads through the daemon's socket are all right;
//!    uid 1000 (allowed only CMA/SPDM) is denied its CDAT read, with one `denied` audit
//!    record; uid 1001 (no rule) is refused at the door with one `connection-refused`
//!    audit record; the socket is removed when the daemon stops.
//! 4. **recovery** (`contention_recovery.rs`): a raw host writer active while vmm starts
//!    (`doectl --force` in a loop, then `doe-jam` keeping the mailbox in Error); once it
//!    stops, the guest and the socket work again in the same boot.
//!
//! `doectl doctor` runs on the function bound to its driver and bound to vfio-pci under
//! vmm; both reports are printed.

use serde::Deserialize;

use super::common::{marker, section_in, section_rc};
use super::contention_recovery::{self, Writer};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "contention",
    description: "a guest and a host user on one mailbox: through vmm --doe-socket every answer is right; bypassing the mediator corrupts; doe-proxyd serves host users by policy",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &[],
    l1_host_programs: &[],
    l2_host_programs: &[],
    l1_modules: &["cxl_pci"],
    l2_modules: &[],
    check,
};

/// Linux's DOE timeout (`PCI_DOE_TIMEOUT`, 1 s), in µs.
const LINUX_DOE_TIMEOUT_US: f64 = 1_000_000.0;

/// The exchange latencies of a doe-stress report.
#[derive(Debug, Deserialize)]
struct Latency {
    exchanges: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

/// A doe-stress report (the fields this check reads).
#[derive(Debug, Deserialize)]
struct Stress {
    reads: usize,
    reads_ok: usize,
    reads_wrong: usize,
    reads_failed: usize,
    discovery_walks: usize,
    discovery_failed: usize,
    errors: std::collections::BTreeMap<String, usize>,
    first_cdat: Option<String>,
    latency: Latency,
}

impl Stress {
    fn summary(&self) -> String {
        format!(
            "{} reads: {} right, {} wrong, {} failed; Discovery walks {} ({} failed); {} exchanges p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            self.reads,
            self.reads_ok,
            self.reads_wrong,
            self.reads_failed,
            self.discovery_walks,
            self.discovery_failed,
            self.latency.exchanges,
            self.latency.p50_us,
            self.latency.p99_us,
            self.latency.max_us
        )
    }

    fn all_right(&self, reference: &str) -> Result<(), String> {
        if self.reads == 0 || self.reads_ok != self.reads || self.discovery_failed != 0 {
            return Err(format!("{} (errors: {:?})", self.summary(), self.errors));
        }
        if self.first_cdat.as_deref() != Some(reference) {
            return Err(format!(
                "the CDAT read is not L1's reference: {:?}",
                self.first_cdat
            ));
        }
        Ok(())
    }

    fn bad(&self) -> usize {
        self.reads_wrong + self.reads_failed + self.discovery_failed
    }
}

/// The doe-stress report in section `name` of `lines` (it must have exited 0).
fn stress_in(lines: &[String], name: &str) -> Result<Stress, String> {
    let body = section_in(lines, name).ok_or_else(|| format!("section `{name}` missing"))?;
    if section_rc(lines, name) != Some(0) {
        return Err(format!(
            "doe-stress `{name}` exited {:?}: {}",
            section_rc(lines, name),
            body.join(" | ")
        ));
    }
    let json = body
        .iter()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("section `{name}`: no report"))?;
    serde_json::from_str(json.trim()).map_err(|e| format!("section `{name}`: {e}"))
}

/// L2's report inside the console dump of `mode`.
fn l2_stress(lines: &[String], mode: &str) -> Result<Stress, String> {
    let console = section_in(lines, &format!("l2-console-{mode}"))
        .ok_or_else(|| format!("no L2 console for {mode}"))?;
    stress_in(console, "l2-stress").map_err(|e| format!("{mode}: L2: {e}"))
}

fn overlapped(lines: &[String], mode: &str) -> Result<(), String> {
    match marker(lines, &format!("@@overlap {mode} ")) {
        Some("yes") => Ok(()),
        other => Err(format!(
            "{mode}: L2's workload had ended before L1's began ({other:?}): no contention"
        )),
    }
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let reference = marker(lines, "@@reference ")
        .ok_or("no reference CDAT from L1")?
        .trim()
        .to_owned();
    let mut facts = vec![format!("reference CDAT: {} bytes", reference.len() / 2)];

    // 1. mediated
    overlapped(lines, "mediated")?;
    let guest = l2_stress(lines, "mediated")?;
    let host = stress_in(lines, "l1-mediated")?;
    guest
        .all_right(&reference)
        .map_err(|e| format!("mediated: L2: {e}"))?;
    host.all_right(&reference)
        .map_err(|e| format!("mediated: L1: {e}"))?;
    if guest.latency.max_us >= LINUX_DOE_TIMEOUT_US {
        return Err(format!(
            "mediated: the guest's slowest exchange took {:.0} µs, past Linux's 1 s DOE timeout",
            guest.latency.max_us
        ));
    }
    facts.push(format!("mediated: L2 (virtual DOE): {}", guest.summary()));
    facts.push(format!(
        "mediated: L1 (doe-stress --socket): {}",
        host.summary()
    ));
    facts.push(format!(
        "mediated: every answer right on both sides; the guest's slowest exchange {:.0} µs < 1 s",
        guest.latency.max_us
    ));
    if marker(lines, "@@l2-ended-before-l1 mediated ") == Some("no") {
        facts.push("mediated: L2 was still reading when L1 finished".to_owned());
    }

    // 2. bypass
    overlapped(lines, "bypass")?;
    let guest = l2_stress(lines, "bypass")?;
    let host = stress_in(lines, "l1-bypass")?;
    facts.push(format!("bypass: L2 (virtual DOE): {}", guest.summary()));
    facts.push(format!("bypass: L1 (raw registers): {}", host.summary()));
    let bad = guest.bad() + host.bad();
    if bad == 0 {
        return Err(
            "bypass: no wrong or failed exchange with the mediator bypassed: the scenario would not catch a broken mediator"
                .to_owned(),
        );
    }
    facts.push(format!(
        "bypass: {bad} wrong or failed reads and walks (errors: L2 {:?}; L1 {:?})",
        guest.errors, host.errors
    ));

    // 3. doe-proxyd
    let root = stress_in(lines, "proxyd-root")?;
    root.all_right(&reference)
        .map_err(|e| format!("doe-proxyd: root: {e}"))?;
    facts.push(format!("doe-proxyd: root: {}", root.summary()));
    let denied = stress_in(lines, "proxyd-1000")?;
    let denial = refusal(&denied, "denied: ", "uid 1000's CDAT read was not denied")?;
    facts.push(format!(
        "doe-proxyd: uid 1000 (CMA/SPDM only) denied CDAT: {denial}"
    ));
    let refused = stress_in(lines, "proxyd-1001")?;
    let refusal = refusal(&refused, "not-allowed: ", "uid 1001 was not refused")?;
    facts.push(format!("doe-proxyd: uid 1001 (no rule) refused: {refusal}"));
    let audit: Vec<serde_json::Value> = section_in(lines, "proxyd-audit")
        .ok_or("section `proxyd-audit` missing")?
        .iter()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str(l.trim()).map_err(|e| format!("audit line: {e}")))
        .collect::<Result<_, _>>()?;
    for (uid, event) in [
        (0, None),
        (1000, Some("denied")),
        (1001, Some("connection-refused")),
    ] {
        let records = records_of(&audit, uid);
        match event {
            None if records.is_empty() => {}
            Some(event) if records.len() == 1 && records[0]["event"] == event => {
                facts.push(format!("doe-proxyd: audit for uid {uid}: {}", records[0]));
            }
            _ => {
                return Err(format!(
                    "doe-proxyd: want {} audit record for uid {uid}, got {records:?}",
                    event.map_or("no".to_owned(), |e| format!("one `{e}`"))
                ))
            }
        }
    }
    if marker(lines, "@@proxyd-exit ") != Some("0") {
        return Err(format!(
            "doe-proxyd exited {:?} on SIGTERM",
            marker(lines, "@@proxyd-exit ")
        ));
    }
    facts.push("doe-proxyd: stopped by SIGTERM with exit 0, its socket removed".to_owned());

    // 4. recovery
    facts.extend(contention_recovery::check(
        lines,
        &reference,
        "recovery",
        Writer::ForceLoop,
    )?);
    facts.extend(contention_recovery::check(
        lines,
        &reference,
        "recovery-jam",
        Writer::Jam,
    )?);

    // doectl doctor, bound to the driver and to vfio-pci under vmm.
    for name in ["doctor-driver", "doctor-vfio"] {
        let report = section_in(lines, name).ok_or_else(|| format!("section `{name}` missing"))?;
        if section_rc(lines, name) != Some(0) {
            return Err(format!(
                "`{name}` exited {:?}: {}",
                section_rc(lines, name),
                report.join(" | ")
            ));
        }
        facts.push(format!("{name}: {}", report.join(" | ")));
    }
    Ok(facts)
}

/// The one failed read of `report`, refused with an error starting with `prefix`.
fn refusal<'a>(report: &'a Stress, prefix: &str, what: &str) -> Result<&'a str, String> {
    report
        .errors
        .keys()
        .find(|e| e.starts_with(prefix))
        .filter(|_| report.reads_failed == 1 && report.reads_ok == 0)
        .map(String::as_str)
        .ok_or_else(|| {
            format!(
                "doe-proxyd: {what}: {} (errors: {:?})",
                report.summary(),
                report.errors
            )
        })
}

/// The audit records of host user `uid`.
fn records_of(audit: &[serde_json::Value], uid: u32) -> Vec<&serde_json::Value> {
    let prefix = format!("host:uid={uid},");
    audit
        .iter()
        .filter(|r| r["client"].as_str().is_some_and(|c| c.starts_with(&prefix)))
        .collect()
}
