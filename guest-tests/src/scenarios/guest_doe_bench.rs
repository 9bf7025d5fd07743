//! Scenario `guest-doe-bench`: DOE exchange latency with one tool (`doe-bench`) from L1 on
//! the physical function (sysfs), from L2 through our `vmm`'s virtual DOE, and from L2
//! through QEMU's raw VFIO passthrough (QEMU as the L1 VMM), in one bench run. The host
//! prints the table and the ratios (goal: vmm ≤ 0.5× QEMU raw); figures are never asserted,
//! only that all three runs produced them.

use super::common::{json_in, section_in};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;
use crate::doe_bench::{Report, Stats};

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-doe-bench",
    description: "benchmark: Discovery and CDAT latency from L2 via vmm's virtual DOE vs QEMU raw passthrough vs L1 sysfs",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &[],
    l1_host_programs: &["qemu"],
    l2_host_programs: &[],
    l2_modules: &[],
    check,
};

/// The `doe-bench` report in section `name` of `lines` (or of the VMM section `within`).
pub fn report(lines: &[String], within: Option<&str>, name: &str) -> Result<Report, String> {
    let lines = match within {
        Some(run) => section_in(lines, run).ok_or_else(|| format!("section `{run}` missing"))?,
        None => lines,
    };
    let value = json_in(lines, name)?;
    serde_json::from_value(value)
        .map_err(|e| format!("section `{name}`: not a doe-bench report: {e}"))
}

/// Picks one operation's statistics out of a report.
type Pick = fn(&Report) -> Option<&Stats>;

/// The comparison table: one line per operation with medians (and p90) and ratios.
pub fn table(l1: &Report, vmm: &Report, qemu: &Report) -> Vec<String> {
    let ops: [(&str, Pick); 4] = [
        ("Discovery exchange", |r| Some(&r.discovery_exchange)),
        ("Discovery walk", |r| Some(&r.discovery_walk)),
        ("CDAT exchange (entry 0)", |r| r.cdat_exchange.as_ref()),
        ("CDAT read (whole table)", |r| r.cdat_read.as_ref()),
    ];
    let cell = |s: Option<&Stats>| {
        s.map_or("-".to_owned(), |s| {
            format!("{:.0} µs (p90 {:.0})", s.median_us, s.p90_us)
        })
    };
    let ratio = |a: Option<&Stats>, b: Option<&Stats>| match (a, b) {
        (Some(a), Some(b)) if b.median_us > 0.0 => format!("{:.2}", a.median_us / b.median_us),
        _ => "-".to_owned(),
    };
    let mut out = vec![format!(
        "benchmark (median of {} per operation, doe-bench spinning on Status): operation | L1 sysfs | L2 via vmm | L2 via QEMU raw | vmm/QEMU (goal <= 0.5) | vmm/L1",
        vmm.discovery_exchange.iterations
    )];
    let accesses: [(&str, Pick); 4] = [
        ("Vendor ID read", |r| {
            r.register_access.as_ref().map(|a| &a.vendor_read)
        }),
        ("DOE Status read", |r| {
            r.register_access.as_ref().map(|a| &a.status_read)
        }),
        ("DOE Control write (no-op)", |r| {
            r.register_access.as_ref().map(|a| &a.control_write)
        }),
        ("DOE Read Data Mailbox write (pop)", |r| {
            r.register_access.as_ref().map(|a| &a.read_mailbox_write)
        }),
    ];
    for (name, get) in ops {
        let (a, b, c) = (get(l1), get(vmm), get(qemu));
        out.push(format!(
            "benchmark: {name} ({} exchange(s)) | {} | {} | {} | {} | {}",
            b.or(c).or(a).map_or(0, |s| s.exchanges),
            cell(a),
            cell(b),
            cell(c),
            ratio(b, c),
            ratio(b, a)
        ));
    }
    for (name, get) in accesses {
        let (a, b, c) = (get(l1), get(vmm), get(qemu));
        if a.or(b).or(c).is_none() {
            continue;
        }
        out.push(format!(
            "benchmark: one access: {name} | {} | {} | {} | {} | {}",
            cell(a),
            cell(b),
            cell(c),
            ratio(b, c),
            ratio(b, a)
        ));
    }
    out
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let l1 = report(lines, None, "l1-bench")?;
    let vmm = report(lines, Some("vmm-bench"), "l2-bench")?;
    let qemu = report(lines, Some("qemu-bench"), "l2-bench")?;
    let mut facts = vec![format!(
        "doe-bench ran on {} (L1, mailbox {:#x}), {} (L2 via vmm, {:#x}), {} (L2 via QEMU, {:#x})",
        l1.device, l1.mailbox, vmm.device, vmm.mailbox, qemu.device, qemu.mailbox
    )];
    facts.extend(table(&l1, &vmm, &qemu));
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doe_bench::RegisterAccess;

    fn report_with(median: f64, cdat: bool) -> Report {
        let s = Stats {
            iterations: 50,
            exchanges: 1,
            min_us: median,
            median_us: median,
            p90_us: median,
            mean_us: median,
            samples_us: Vec::new(),
            after_go: None,
        };
        Report {
            label: "x".into(),
            device: "d".into(),
            mailbox: 0x190,
            poll_us: 0,
            discovery_exchange: s.clone(),
            discovery_walk: s.clone(),
            cdat_exchange: cdat.then(|| s.clone()),
            cdat_read: cdat.then(|| s.clone()),
            register_access: cdat.then(|| RegisterAccess {
                vendor_read: s.clone(),
                status_read: s.clone(),
                control_write: s.clone(),
                read_mailbox_write: s,
            }),
        }
    }

    #[test]
    fn the_table_prints_ratios() {
        let t = table(
            &report_with(60.0, true),
            &report_with(400.0, true),
            &report_with(1600.0, false),
        );
        assert_eq!(t.len(), 9);
        assert!(t[1].contains("| 0.25 | 6.67"), "{}", t[1]);
        assert!(t[3].ends_with("| - | 6.67"), "{}", t[3]);
        // Single accesses: QEMU's report has none here.
        assert!(t[6].contains("one access: DOE Status read"), "{}", t[6]);
        assert!(t[6].ends_with("| - | - | 6.67"), "{}", t[6]);
    }

    #[test]
    fn reports_are_read_from_vmm_sections() {
        let json = serde_json::to_string_pretty(&report_with(5.0, true)).unwrap();
        let text = format!("@@begin vmm-bench\n@@begin l2-bench\n{json}\n@@end l2-bench rc=0\n@@end vmm-bench rc=0\n");
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert_eq!(
            report(&lines, Some("vmm-bench"), "l2-bench")
                .unwrap()
                .mailbox,
            0x190
        );
        assert!(report(&lines, Some("qemu-bench"), "l2-bench").is_err());
    }
}
