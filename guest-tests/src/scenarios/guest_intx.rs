//! Scenario `guest-intx`: our `vmm` boots L2 with QEMU's `edu` device assigned through
//! VFIO; L2 binds it to `uio_pci_generic` (a module L2's init loads) and `intx-test`
//! raises its legacy INTx five times. The host checks that every interrupt reached L2
//! (uio counts 1 to 5, each raised bit seen and acknowledged) and that the kernel counted
//! them on an IO-APIC line.

use super::common::{expect, l2_passed, marker, section_in, tool_report};
use super::edu_checks::{check_acknowledged, counted_interrupt_line};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;
use crate::intx_test::Report;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-intx",
    description: "vmm assigns QEMU's edu device; L2 raises its INTx 5 times through uio_pci_generic and receives each",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &[],
    l1_host_programs: &[],
    l2_host_programs: &[],
    l1_modules: &[],
    l2_modules: &["uio_pci_generic"],
    check,
};

/// How many interrupts L2 raises (`intx-test --count`).
const INTERRUPTS: u32 = 5;
/// The interrupt controller Linux names for a GSI of the IOAPIC.
const IOAPIC_CHIP: &str = "IO-APIC";

/// Checks intx-test's report: `INTERRUPTS` interrupts, uio counts exactly 1..=N, each
/// raised bit in the status register when it arrived and cleared by the acknowledge.
pub fn check_report(report: &Report, facts: &mut Vec<String>) -> Result<(), String> {
    facts.push(expect(
        "intx-test: interrupts received",
        report.interrupts.len(),
        INTERRUPTS as usize,
    )?);
    facts.push(expect(
        "intx-test: uio interrupt counts (strictly increasing, none lost or spurious)",
        report.uio_counts(),
        (1..=INTERRUPTS).collect(),
    )?);
    check_acknowledged("intx-test", report.interrupts.iter().map(|i| &i.raised))?;
    facts.push("intx-test: each raised bit was in the status register and acknowledged".into());
    if let Some((lo, hi)) = report.latency_range_us() {
        facts.push(format!(
            "intx-test: raise-to-interrupt latency {lo:.0}-{hi:.0} µs"
        ));
    }
    Ok(())
}

/// Checks the `/proc/interrupts` line of uio_pci_generic (section `l2-interrupts`).
pub fn check_interrupt_line(lines: &[String], facts: &mut Vec<String>) -> Result<(), String> {
    let line = counted_interrupt_line(
        lines,
        "uio_pci_generic",
        u64::from(INTERRUPTS),
        "/proc/interrupts",
    )?;
    if !line.chip.starts_with(IOAPIC_CHIP) {
        return Err(format!(
            "/proc/interrupts: uio_pci_generic is on `{}`, not an {IOAPIC_CHIP} line",
            line.chip
        ));
    }
    facts.push(format!(
        "/proc/interrupts: IRQ {} ({}) counted {} interrupts (>= {INTERRUPTS})",
        line.irq, line.chip, line.count
    ));
    Ok(())
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = Vec::new();
    if let Some(edu) = marker(lines, "@@l1 edu ") {
        facts.push(format!("L1: edu at {edu}"));
    }
    let l2 = section_in(lines, "vmm").ok_or("section `vmm` (L2's serial) missing")?;
    facts.push(expect(
        "L2 loaded uio_pci_generic",
        marker(l2, "@@l2 modules loaded:").is_some_and(|m| m.contains("uio_pci_generic")),
        true,
    )?);
    match marker(l2, "@@l2 bound ") {
        Some(bound) => facts.push(format!("L2: bound {bound}")),
        None => return Err("L2 did not bind edu to uio_pci_generic".into()),
    }
    let report: Report = tool_report(l2, "l2-intx", "intx-test")?;
    check_report(&report, &mut facts)?;
    let interrupts = section_in(l2, "l2-interrupts").ok_or("section `l2-interrupts` missing")?;
    check_interrupt_line(interrupts, &mut facts)?;
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

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    /// intx-test's report as a passing run printed it (captured; one line per interrupt).
    const REPORT: &str = r#"{
  "device": "0000:00:01.0",
  "uio": "uio0",
  "ident": 16777453,
  "initial_status": 0,
  "timeout_ms": 1000,
  "interrupts": [
    {"bit": 1, "uio_count": 1, "latency_us": 12360.924, "status": 1, "status_after_ack": 0},
    {"bit": 2, "uio_count": 2, "latency_us": 1550.16, "status": 2, "status_after_ack": 0},
    {"bit": 4, "uio_count": 3, "latency_us": 1267.256, "status": 4, "status_after_ack": 0},
    {"bit": 8, "uio_count": 4, "latency_us": 996.381, "status": 8, "status_after_ack": 0},
    {"bit": 16, "uio_count": 5, "latency_us": 977.213, "status": 16, "status_after_ack": 0}
  ]
}"#;
    /// The same run's `/proc/interrupts` line (captured).
    const LINE: &str = " 25:          5   IO-APIC  17-fasteoi   uio_pci_generic";

    /// A run as L1's console shows it (L2's serial inside section `vmm`).
    fn console(report: &str, interrupts: &str) -> Vec<String> {
        lines(&format!(
            "@@l1 edu 0000:00:10.0\nbound 0000:00:10.0 to vfio-pci (IOMMU group 2)\n\
             @@begin vmm\n@@l2 init\n@@l2 modules loaded: uio uio_pci_generic\n\
             @@l2 fn 0000:00:01.0\n@@l2 bound 0000:00:01.0 to uio_pci_generic: uio0, IRQ 25\n\
             @@begin l2-intx\n{report}\n@@end l2-intx rc=0\n\
             @@begin l2-interrupts\n{interrupts}\n@@end l2-interrupts rc=0\n\
             @@l2 verdict 0\n[    3.671535] reboot: Power down\n@@end vmm rc=0\n@@vmm-exit 0\n"
        ))
    }

    fn run_check(lines: Vec<String>) -> Result<Vec<String>, String> {
        use crate::bench::qemu::Console;
        use crate::bench::report::Timings;
        let outcome = Outcome {
            console: Console {
                lines,
                verdict: Some(0),
                phases: Vec::new(),
                total: std::time::Duration::ZERO,
                timed_out: false,
                stalled: false,
                exit: "exit status: 0".into(),
            },
            timings: Timings::default(),
            log: "guest-intx.log".into(),
        };
        check(&outcome)
    }

    #[test]
    fn a_passing_run_passes() {
        let all = run_check(console(REPORT, LINE)).unwrap().join("\n");
        assert!(all.contains("uio interrupt counts"), "{all}");
        assert!(
            all.contains("IRQ 25 (IO-APIC 17-fasteoi) counted 5"),
            "{all}"
        );
        assert!(all.contains("latency 977-12361 µs"), "{all}");
        assert!(
            all.contains("bound 0000:00:01.0 to uio_pci_generic"),
            "{all}"
        );
    }

    #[test]
    fn lost_interrupts_or_a_wrong_line_fail() {
        let lost = REPORT.replace("\"uio_count\": 4", "\"uio_count\": 5");
        let e = run_check(console(&lost, LINE)).unwrap_err();
        assert!(e.contains("uio interrupt counts"), "{e}");

        let msi = LINE.replace("IO-APIC  17-fasteoi", "PCI-MSI  65536-edge");
        let e = run_check(console(REPORT, &msi)).unwrap_err();
        assert!(e.contains("not an IO-APIC line"), "{e}");

        let few = LINE.replace("   5   ", "   3   ");
        let e = run_check(console(REPORT, &few)).unwrap_err();
        assert!(e.contains("want at least 5"), "{e}");

        let unacked = REPORT.replace(
            "\"status\": 8, \"status_after_ack\": 0",
            "\"status\": 8, \"status_after_ack\": 8",
        );
        let e = run_check(console(&unacked, LINE)).unwrap_err();
        assert!(e.contains("interrupt 4"), "{e}");
    }

    #[test]
    fn a_timed_out_intx_test_fails() {
        let text = "@@begin vmm\n@@l2 modules loaded: uio uio_pci_generic\n\
                    @@l2 bound 0000:00:01.0 to uio_pci_generic: uio0, IRQ 25\n@@begin l2-intx\n\
                    intx-test: no interrupt within 1000 ms (interrupt 1 of 5; edu status 0x1)\n\
                    @@end l2-intx rc=1\nFAIL: intx-test\n@@l2 verdict 1\n@@end vmm rc=0\n@@vmm-exit 0\n";
        let e = run_check(lines(text)).unwrap_err();
        assert!(e.contains("intx-test exited Some(1)"), "{e}");
        assert!(e.contains("no interrupt within 1000 ms"), "{e}");
    }
}
