//! Helpers the scenario checks share: sections of the console, JSON in them, probe
//! reports, and `expect` for a checked fact.

use serde_json::Value;

use crate::probe::{ProbeReport, REPORT_PREFIX};

/// The lines between `@@begin <name>` and `@@end <name> ...` in `lines` (first one).
pub fn section_in<'a>(lines: &'a [String], name: &str) -> Option<&'a [String]> {
    let begin = format!("@@begin {name}");
    let end = format!("@@end {name} ");
    let start = lines.iter().position(|l| l.trim_end() == begin)? + 1;
    let len = lines[start..].iter().position(|l| l.starts_with(&end))?;
    Some(&lines[start..start + len])
}

/// The exit status `section` recorded for section `name` of `lines` (`@@end <name> rc=N`).
pub fn section_rc(lines: &[String], name: &str) -> Option<i32> {
    let begin = format!("@@begin {name}");
    let end = format!("@@end {name} rc=");
    let start = lines.iter().position(|l| l.trim_end() == begin)?;
    lines[start..]
        .iter()
        .find_map(|l| l.trim().strip_prefix(&end))
        .and_then(|rc| rc.trim().parse().ok())
}

/// The value after `prefix` on the first line (trimmed) that starts with it, e.g. the
/// function of `@@l2 fn 0000:00:01.0`.
pub fn marker<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(str::trim)
}

/// Whether L2's init reported verdict 0 in `lines`.
pub fn l2_passed(lines: &[String]) -> bool {
    lines.iter().any(|l| l.trim() == "@@l2 verdict 0")
}

/// The JSON printed in section `name` of `lines`.
pub fn json_in(lines: &[String], name: &str) -> Result<Value, String> {
    let body = section_in(lines, name).ok_or_else(|| format!("section `{name}` missing"))?;
    serde_json::from_str(&body.join("\n")).map_err(|e| format!("section `{name}`: bad JSON: {e}"))
}

/// The JSON report `tool` printed in section `name` of `lines`, once the section shows
/// that the tool exited 0 (otherwise its exit status and what it said).
pub fn tool_report<T: serde::de::DeserializeOwned>(
    lines: &[String],
    name: &str,
    tool: &str,
) -> Result<T, String> {
    let rc = section_rc(lines, name);
    if rc != Some(0) {
        let said = section_in(lines, name).unwrap_or_default().join(" | ");
        return Err(format!("{tool} exited {rc:?} in L2: {said}"));
    }
    serde_json::from_value(json_in(lines, name)?)
        .map_err(|e| format!("section `{name}`: not an {tool} report: {e}"))
}

/// The `vmm-probe` report labelled `label` in `lines`.
pub fn probe_report(lines: &[String], label: &str) -> Result<ProbeReport, String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(REPORT_PREFIX))
        .filter_map(|json| serde_json::from_str::<ProbeReport>(json).ok())
        .find(|r| r.label == label)
        .ok_or_else(|| format!("no vmm-probe report labelled `{label}`"))
}

/// A checked fact: `Ok(description)` when `got == want`.
pub fn expect<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: T,
    want: T,
) -> Result<String, String> {
    if got == want {
        Ok(format!("{what} = {want:?}"))
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn nested_sections_are_found() {
        let l = lines(
            "x\n@@begin outer\na\n@@begin inner\n{\"k\": 1}\n@@end inner rc=0\n@@end outer rc=0\n",
        );
        let outer = section_in(&l, "outer").unwrap();
        assert_eq!(json_in(outer, "inner").unwrap()["k"], 1);
        assert!(section_in(&l, "missing").is_none());
    }

    #[test]
    fn section_exit_status_and_markers_are_read() {
        let l = lines("@@begin a\r\nx\n@@end a rc=6\r\n@@l2 fn 0000:00:01.0\r\n@@l2 verdict 0\r\n");
        assert_eq!(section_rc(&l, "a"), Some(6));
        assert_eq!(section_rc(&l, "b"), None);
        assert_eq!(marker(&l, "@@l2 fn "), Some("0000:00:01.0"));
        assert!(l2_passed(&l));
    }

    #[test]
    fn an_unterminated_section_is_missing() {
        let l = lines("@@begin a\nstuff\n");
        assert!(section_in(&l, "a").is_none());
    }

    #[test]
    fn probe_reports_are_found_by_label() {
        let l = lines("@@probe {\"label\":\"vmm-1\",\"boot_to_marker_ms\":12.5,\"total_ms\":20.0,\"peak_rss_beyond_guest_kib\":3000,\"vmhwm_kib\":9000,\"samples\":4,\"exit_code\":0}\n");
        let r = probe_report(&l, "vmm-1").unwrap();
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(r.peak_rss_beyond_guest_kib, Some(3000));
        let unsampled = lines("@@probe {\"label\":\"vmm-2\",\"boot_to_marker_ms\":null,\"total_ms\":20.0,\"peak_rss_beyond_guest_kib\":null,\"vmhwm_kib\":null,\"samples\":0,\"exit_code\":0}\n");
        let r = probe_report(&unsampled, "vmm-2").unwrap();
        assert_eq!((r.peak_rss_beyond_guest_kib, r.vmhwm_kib), (None, None));
        assert!(probe_report(&l, "qemu-1").is_err());
    }

    #[test]
    fn expect_reports_both_values() {
        assert_eq!(expect("n", 1, 1).unwrap(), "n = 1");
        assert_eq!(expect("n", 1, 2).unwrap_err(), "n: got 1, want 2");
    }
}
