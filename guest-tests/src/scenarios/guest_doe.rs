//! Scenario `guest-doe`: our `vmm` (default policy) gives L2 a virtual DOE mailbox on the
//! assigned CXL function; L2 runs once with the Debian 6.12 kernel and once with the 7.x
//! kernel. The host checks that L2's CDAT equals the one L1 read from the physical
//! function before the guest started, that Discovery (and on 7.x `doe_features`) lists
//! exactly what the policy allows, that `lspci -vvv` decodes the capability, and that the
//! L2 kernel logged no DOE error. Helpers here are shared with `guest-doe-policy`.

use serde_json::Value;

use super::common::{expect, json_in, l2_passed, marker, section_in, section_rc};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-doe",
    description: "L2 (6.12 and 7.x) uses the virtual DOE via vmm: CDAT equals L1's, doe_features, lspci, no DOE errors",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &["7"],
    l1_host_programs: &[],
    l2_host_programs: &["lspci"],
    l1_modules: &[],
    l2_modules: &[],
    check,
};

/// Where `vmm` puts the assigned function in L2, and the virtual DOE's offset.
pub const GUEST_FUNCTION: &str = "0000:00:01.0";
/// The virtual (and physical) DOE capability offset.
pub const DOE_OFFSET: u64 = 0x190;
/// What the default policy lets a guest see of the CXL device's DOE (it offers Discovery
/// and CDAT; the default allows both).
pub const ALLOWED: &[&str] = &["0001:00", "1e98:02"];
/// The same as Linux 7.x's `doe_features` names them (Discovery is `doe_discovery`).
pub const ALLOWED_DOE_FEATURES: &[&str] = &["1e98:02", "doe_discovery"];

/// Words that make a kernel log line about DOE an error (Linux's DOE driver logs only
/// failures: "failed to cache features", "Issuing Abort", "busy", "timed out", ...).
const DOE_ERROR_WORDS: &[&str] = &[
    "error",
    "fail",
    "abort",
    "timeout",
    "timed out",
    "busy",
    "invalid",
    "unable",
    "warn",
];

/// The kernel log lines (of `grep -iw doe`) that report a DOE problem: lines naming DOE as
/// a word (not "does") with an error word.
pub fn doe_error_lines(dmesg: &[String]) -> Vec<String> {
    dmesg
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| word == "doe")
                && DOE_ERROR_WORDS.iter().any(|w| l.contains(w))
        })
        .cloned()
        .collect()
}

/// The protocol IDs of the first mailbox in a `doectl discover --json` report, with its
/// offset.
pub fn discovered(report: &Value) -> Result<(u64, Vec<String>), String> {
    let mailbox = report["mailboxes"]
        .as_array()
        .and_then(|m| m.first())
        .ok_or_else(|| format!("no mailbox in the Discovery report: {report}"))?;
    let ids = mailbox["protocols"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((mailbox["offset"].as_u64().unwrap_or(0), ids))
}

/// Checks that the CDAT `got` (a `doectl cdat --json` report) is the reference `want`:
/// same bytes and decoded structures (the `device` differs between L1 and L2).
pub fn same_cdat(what: &str, got: &Value, want: &Value) -> Result<String, String> {
    for field in ["bytes", "structures", "header"] {
        if got[field].is_null() || got[field] != want[field] {
            return Err(format!(
                "{what}: CDAT `{field}` differs from L1's physical read: got {}, want {}",
                got[field], want[field]
            ));
        }
    }
    Ok(format!(
        "{what}: CDAT identical to L1's physical read ({} bytes, {} structures, checksum {})",
        want["bytes"].as_str().map_or(0, |b| b.len() / 2),
        want["structures"].as_array().map_or(0, Vec::len),
        want["header"]["checksum"]
    ))
}

/// The lines of `lspci -vvv` output belonging to the capability at `offset`, if decoded.
pub fn lspci_capability(lspci: &[String], offset: u64) -> Option<Vec<String>> {
    let head = format!("Capabilities: [{offset:x} ");
    let start = lspci.iter().position(|l| l.contains(&head))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(&lspci[start]);
    let body = lspci[start + 1..]
        .iter()
        .take_while(|l| indent(l) > base && !l.trim().is_empty())
        .cloned();
    Some(std::iter::once(lspci[start].clone()).chain(body).collect())
}

/// Checks one L2 boot (the console of section `run`), with `major` its kernel's major.
fn check_run(
    lines: &[String],
    run: &str,
    major: &str,
    l1_cdat: &Value,
    facts: &mut Vec<String>,
) -> Result<(), String> {
    let console = section_in(lines, run).ok_or_else(|| format!("section `{run}` missing"))?;
    facts.push(expect(
        &format!("{run}: L2 script verdict 0"),
        l2_passed(console),
        true,
    )?);
    facts.push(expect(
        &format!("{run}: the assigned function in L2"),
        marker(console, "@@l2 fn "),
        Some(GUEST_FUNCTION),
    )?);
    let release = section_in(console, "l2-uname")
        .and_then(|l| l.first())
        .map(|l| l.trim().to_owned())
        .unwrap_or_default();
    if !release.starts_with(&format!("{major}.")) {
        return Err(format!(
            "{run}: L2 runs kernel `{release}`, want a {major}.x kernel"
        ));
    }
    facts.push(format!("{run}: L2 kernel {release}"));

    let (offset, ids) = discovered(&json_in(console, "l2-discover")?)?;
    facts.push(expect(
        &format!("{run}: DOE offset in L2"),
        offset,
        DOE_OFFSET,
    )?);
    facts.push(expect(
        &format!("{run}: L2 Discovery (the policy's view)"),
        ids,
        ALLOWED.iter().map(|s| (*s).to_owned()).collect(),
    )?);

    let features = section_in(console, "l2-doe-features").unwrap_or_default();
    let mut features: Vec<String> = features
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(str::to_owned)
        .collect();
    features.sort();
    if major == "6" {
        // Linux 6.12 has no doe_features in sysfs: reported, not asserted.
        facts.push(match section_rc(console, "l2-doe-features") {
            Some(0) => format!("{run}: doe_features lists {features:?}"),
            rc => format!("{run}: no doe_features directory on this kernel (ls rc {rc:?})"),
        });
    } else {
        facts.push(expect(
            &format!("{run}: /sys/bus/pci/devices/{GUEST_FUNCTION}/doe_features"),
            features,
            ALLOWED_DOE_FEATURES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        )?);
    }

    let cdat = json_in(console, "l2-cdat")?;
    facts.push(expect(
        &format!("{run}: L2 CDAT mailbox"),
        cdat["mailbox"].as_u64(),
        Some(DOE_OFFSET),
    )?);
    facts.push(same_cdat(run, &cdat, l1_cdat)?);

    let lspci = section_in(console, "l2-lspci").unwrap_or_default();
    let cap = lspci_capability(lspci, DOE_OFFSET).ok_or_else(|| {
        format!("{run}: lspci -vvv shows no capability at {DOE_OFFSET:#x}: {lspci:?}")
    })?;
    if !cap[0].contains("Data Object Exchange") || !cap.iter().any(|l| l.contains("DOESta:")) {
        return Err(format!(
            "{run}: lspci does not decode the DOE capability: {cap:?}"
        ));
    }
    facts.push(format!(
        "{run}: lspci -vvv decodes it: {}",
        cap.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" | ")
    ));

    let dmesg = section_in(console, "l2-dmesg-doe").unwrap_or_default();
    let errors = doe_error_lines(dmesg);
    if !errors.is_empty() {
        return Err(format!(
            "{run}: DOE errors in the L2 kernel log: {errors:?}"
        ));
    }
    facts.push(format!(
        "{run}: no DOE error in the L2 kernel log ({} DOE line(s))",
        dmesg.len()
    ));
    Ok(())
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = Vec::new();
    let l1_cdat = json_in(lines, "l1-cdat")?;
    facts.push(expect(
        "L1: physical CDAT checksum verified",
        l1_cdat["checksum_valid"].as_bool(),
        Some(true),
    )?);
    check_run(lines, "vmm-l2-6", "6", &l1_cdat, &mut facts)?;
    check_run(lines, "vmm-l2-7", "7", &l1_cdat, &mut facts)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn doe_errors_are_told_from_other_doe_lines() {
        let dmesg = lines(
            "[0.5] pci 0000:00:01.0: DOE: [190] failed to cache features : -110\n\
             [0.6] pci 0000:00:01.0: DOE: [190] Issuing Abort\n\
             [0.7] something about doe_features registered\n",
        );
        assert_eq!(doe_error_lines(&dmesg).len(), 2);
        assert!(doe_error_lines(&lines("[0.7] doe ok\n")).is_empty());
        // Seen in L2: "does" is not DOE.
        assert!(doe_error_lines(&lines(
            "[2.1] acpi PNP0A08:00: _OSC: platform does not support [PCIeHotplug LTR], unable"
        ))
        .is_empty());
    }

    #[test]
    fn discovery_reports_are_read() {
        let v: Value = serde_json::from_str(
            r#"{"device":"0000:00:01.0","mailboxes":[{"offset":400,"protocols":[{"id":"0001:00"},{"id":"1e98:02"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            discovered(&v).unwrap(),
            (0x190, vec!["0001:00".to_owned(), "1e98:02".to_owned()])
        );
        assert!(discovered(&serde_json::json!({"mailboxes": []})).is_err());
    }

    #[test]
    fn cdat_reports_compare_without_the_device() {
        let l1 = serde_json::json!({"device":"0000:0d:00.0","bytes":"00ff","structures":[{"type":"DSMAS"}],"header":{"checksum":1}});
        let mut l2 = l1.clone();
        l2["device"] = "0000:00:01.0".into();
        assert!(same_cdat("x", &l2, &l1).is_ok());
        l2["bytes"] = "00fe".into();
        assert!(same_cdat("x", &l2, &l1).unwrap_err().contains("`bytes`"));
        assert!(same_cdat("x", &serde_json::json!({}), &serde_json::json!({})).is_err());
    }

    #[test]
    fn lspci_doe_capability_is_found() {
        let out = lines(
            "00:01.0 CXL: Intel Corporation Device 0d93 (rev 01) (prog-if 10 [CXL Memory Device (CXL 2.x)])\n\
             \tCapabilities: [100 v1] Designated Vendor-Specific: Vendor=1e98 ID=0000 Rev=2 Len=60: CXL\n\
             \t\tCXLCap:\tCache- IO+ Mem+\n\
             \tCapabilities: [190 v1] Data Object Exchange\n\
             \t\tDOECap: IntSup-\n\
             \t\tDOECtl: IntEn-\n\
             \t\tDOESta: Busy- IntSta- Error- ObjectReady-\n\
             \tKernel driver in use: x\n",
        );
        let cap = lspci_capability(&out, 0x190).unwrap();
        assert_eq!(cap.len(), 4);
        assert!(cap[0].contains("Data Object Exchange"));
        assert!(lspci_capability(&out, 0x200).is_none());
    }
}
