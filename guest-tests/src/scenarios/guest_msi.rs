//! Scenario `guest-msi`: our `vmm` boots L2 with QEMU's `edu` device assigned through
//! VFIO; in L2, `msi-test` programs the function's (emulated) MSI capability and raises
//! its interrupt five times. The host checks that every message reached L2's CPU on the
//! vector L2 asked for (the kernel's record and its `SPU` count), each raised bit seen and
//! acknowledged, MSI Enable read back as 1, and that in L1 the function's interrupts
//! arrived on vfio-pci's MSI line (a `PCI-MSI` chip, not the IO-APIC).

use super::common::{expect, l2_passed, marker, section_in, tool_report};
use super::edu_checks::{check_acknowledged, counted_interrupt_line};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;
use crate::msi_test::message::parse_spurious;
use crate::msi_test::Report;
use crate::proc_interrupts::counter_in;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-msi",
    description: "vmm assigns QEMU's edu device; L2 has it signal its interrupt by MSI 5 times and receives each",
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

/// How many interrupts L2 raises (`msi-test --count`).
const INTERRUPTS: u32 = 5;
/// The vector L2 asks for (msi-test's default).
const VECTOR: u8 = crate::msi_test::DEFAULT_VECTOR;
/// An x86 MSI address: `0xFEE` in bits 31:20.
const MSI_ADDRESS_MASK: u64 = 0xffff_ffff_fff0_0000;
const MSI_ADDRESS_BASE: u64 = 0xfee0_0000;
/// The chip Linux names for PCI MSI (`PCI-MSI`, or `IR-PCI-MSI-<BDF>` behind interrupt
/// remapping), and the one of a legacy line.
const MSI_CHIP: &str = "PCI-MSI";
const IOAPIC_CHIP: &str = "IO-APIC";
/// The `/proc/interrupts` counter of interrupts on vectors Linux does not use.
const SPURIOUS_COUNTER: &str = "SPU";

/// Checks the capability msi-test programmed, as read back through the vmm.
fn check_capability(report: &Report, facts: &mut Vec<String>) -> Result<(), String> {
    facts.push(expect(
        "msi-test: MSI Enable read back",
        report.msi_enabled,
        true,
    )?);
    facts.push(expect(
        "msi-test: vector",
        format!("{:#04x}", report.vector),
        format!("{VECTOR:#04x}"),
    )?);
    facts.push(expect(
        "msi-test: Message Data read back",
        format!("{:#06x}", report.msi_data),
        format!("{:#06x}", u16::from(report.vector)),
    )?);
    if report.msi_address & MSI_ADDRESS_MASK != MSI_ADDRESS_BASE {
        return Err(format!(
            "msi-test: Message Address read back {:#x}, not a local APIC address (0xfeeXXXXX)",
            report.msi_address
        ));
    }
    facts.push(format!(
        "msi-test: MSI capability at {:#x}: control {:#06x}, address {:#x} (APIC {}), data {:#06x}",
        report.msi_capability,
        report.msi_control,
        report.msi_address,
        report.apic_id,
        report.msi_data
    ));
    Ok(())
}

/// Checks msi-test's report: the capability, then `INTERRUPTS` interrupts, each one kernel
/// record on the vector with the vector in service ("Acked"), the `SPU` count one higher
/// after each, the raised bit in the status register and cleared by the acknowledge.
pub fn check_report(report: &Report, facts: &mut Vec<String>) -> Result<(), String> {
    check_capability(report, facts)?;
    facts.push(expect(
        "msi-test: interrupts received",
        report.interrupts.len(),
        INTERRUPTS as usize,
    )?);
    for (i, irq) in report.interrupts.iter().enumerate() {
        let record = parse_spurious(&irq.kernel_record);
        if !record.is_some_and(|r| r.vector == report.vector && r.acked) {
            return Err(format!(
                "msi-test: interrupt {}: kernel record `{}`, want an acknowledged interrupt on vector {:#04x}",
                i + 1,
                irq.kernel_record,
                report.vector
            ));
        }
    }
    check_acknowledged("msi-test", report.interrupts.iter().map(|i| &i.raised))?;
    facts.push(format!(
        "msi-test: each interrupt logged as an acknowledged interrupt on vector {:#04x}",
        report.vector
    ));
    let before = report.spurious_before;
    facts.push(expect(
        "msi-test: SPU counts (one more per interrupt, none lost or extra)",
        report.spurious_counts(),
        (1..=u64::from(INTERRUPTS)).map(|n| before + n).collect(),
    )?);
    facts.push("msi-test: each raised bit was in the status register and acknowledged".into());
    if let Some((lo, hi)) = report.latency_range_us() {
        facts.push(format!(
            "msi-test: raise-to-kernel-record latency {lo:.0}-{hi:.0} µs"
        ));
    }
    Ok(())
}

/// Checks L2's `SPU` line (section `l2-spurious`): at least `INTERRUPTS`.
pub fn check_spurious_line(lines: &[String], facts: &mut Vec<String>) -> Result<(), String> {
    let count = counter_in(&lines.join("\n"), SPURIOUS_COUNTER)
        .ok_or_else(|| format!("no {SPURIOUS_COUNTER} line in L2's /proc/interrupts: {lines:?}"))?;
    if count < u64::from(INTERRUPTS) {
        return Err(format!(
            "L2 /proc/interrupts: {SPURIOUS_COUNTER} counted {count}, want at least {INTERRUPTS}"
        ));
    }
    facts.push(format!(
        "L2 /proc/interrupts: {SPURIOUS_COUNTER} counted {count} (>= {INTERRUPTS})"
    ));
    Ok(())
}

/// Checks L1's line of the function's VFIO MSI interrupt (section `l1-vfio-msi`): on a
/// PCI-MSI chip, at least `INTERRUPTS`.
pub fn check_vfio_line(lines: &[String], edu: &str, facts: &mut Vec<String>) -> Result<(), String> {
    let action = format!("vfio-msi[0]({edu})");
    let line = counted_interrupt_line(
        lines,
        &action,
        u64::from(INTERRUPTS),
        "L1's /proc/interrupts",
    )?;
    if !line.chip.contains(MSI_CHIP) || line.chip.contains(IOAPIC_CHIP) {
        return Err(format!(
            "L1 /proc/interrupts: {action} is on `{}`, not a {MSI_CHIP} line",
            line.chip
        ));
    }
    facts.push(format!(
        "L1 /proc/interrupts: IRQ {} {action} ({}) counted {} (>= {INTERRUPTS})",
        line.irq, line.chip, line.count
    ));
    Ok(())
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = Vec::new();
    let edu = marker(lines, "@@l1 edu ").ok_or("L1 did not find edu (no `@@l1 edu` line)")?;
    facts.push(format!("L1: edu at {edu}"));
    let l2 = section_in(lines, "vmm").ok_or("section `vmm` (L2's serial) missing")?;
    match marker(l2, "@@l2 fn ") {
        Some(f) => facts.push(format!("L2: edu at {f}, bound to no driver")),
        None => return Err("L2 did not find edu (no `@@l2 fn` line)".into()),
    }
    let report: Report = tool_report(l2, "l2-msi", "msi-test")?;
    check_report(&report, &mut facts)?;
    let spurious = section_in(l2, "l2-spurious").ok_or("section `l2-spurious` missing")?;
    check_spurious_line(spurious, &mut facts)?;
    facts.push(expect("L2 script verdict 0", l2_passed(l2), true)?);
    facts.push(expect(
        "vmm exit code",
        marker(lines, "@@vmm-exit "),
        Some("0"),
    )?);
    let vfio = section_in(lines, "l1-vfio-msi").ok_or("section `l1-vfio-msi` missing")?;
    check_vfio_line(vfio, edu, &mut facts)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    /// msi-test's report as a passing run printed it (captured; one line per interrupt).
    const REPORT: &str = r#"{
  "device": "0000:00:01.0",
  "ident": 16777453,
  "msi_capability": 64,
  "msi_control": 129,
  "msi_enabled": true,
  "msi_address": 4276092928,
  "msi_data": 245,
  "vector": 245,
  "apic_id": 0,
  "command": 1286,
  "initial_status": 0,
  "timeout_ms": 1000,
  "spurious_before": 0,
  "interrupts": [
    {"bit": 1, "latency_us": 7873.745999999999, "kernel_record": "Spurious interrupt (vector 0xf5) on CPU#0. Acked", "spurious_count": 1, "status": 1, "status_after_ack": 0},
    {"bit": 2, "latency_us": 540.3059999999999, "kernel_record": "Spurious interrupt (vector 0xf5) on CPU#0. Acked", "spurious_count": 2, "status": 2, "status_after_ack": 0},
    {"bit": 4, "latency_us": 517.206, "kernel_record": "Spurious interrupt (vector 0xf5) on CPU#0. Acked", "spurious_count": 3, "status": 4, "status_after_ack": 0},
    {"bit": 8, "latency_us": 947.054, "kernel_record": "Spurious interrupt (vector 0xf5) on CPU#0. Acked", "spurious_count": 4, "status": 8, "status_after_ack": 0},
    {"bit": 16, "latency_us": 437.649, "kernel_record": "Spurious interrupt (vector 0xf5) on CPU#0. Acked", "spurious_count": 5, "status": 16, "status_after_ack": 0}
  ]
}"#;
    /// The same run's L2 `SPU` line and L1 VFIO MSI line (captured).
    const SPU: &str = "SPU:          5   Spurious interrupts";
    const VFIO: &str =
        " 27:          0          5  IR-PCI-MSI-0000:00:10.0   0-edge      vfio-msi[0](0000:00:10.0)";

    /// A run as L1's console shows it (L2's serial inside section `vmm`).
    fn console(report: &str, spu: &str, vfio: &str) -> Vec<String> {
        lines(&format!(
            "@@l1 edu 0000:00:10.0\nbound 0000:00:10.0 to vfio-pci (IOMMU group 2)\n\
             @@begin vmm\n@@l2 init\n@@l2 fn 0000:00:01.0\n\
             @@begin l2-msi\n{report}\n@@end l2-msi rc=0\n\
             @@begin l2-spurious\n{spu}\n@@end l2-spurious rc=0\n\
             @@l2 verdict 0\n[    4.815408] reboot: Power down\n@@end vmm rc=0\n@@vmm-exit 0\n\
             @@begin l1-vfio-msi\n{vfio}\n@@end l1-vfio-msi rc=0\n\
             vmm exited 0 and nothing is left running\n"
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
            log: "guest-msi.log".into(),
        };
        check(&outcome)
    }

    #[test]
    fn a_passing_run_passes() {
        let all = run_check(console(REPORT, SPU, VFIO)).unwrap().join("\n");
        assert!(all.contains("MSI Enable read back = true"), "{all}");
        assert!(all.contains("vector = \"0xf5\""), "{all}");
        assert!(all.contains("Message Data read back = \"0x00f5\""), "{all}");
        assert!(
            all.contains("address 0xfee00000 (APIC 0), data 0x00f5"),
            "{all}"
        );
        assert!(all.contains("SPU counts (one more per interrupt"), "{all}");
        assert!(all.contains("latency 438-7874 µs"), "{all}");
        assert!(all.contains("SPU counted 5"), "{all}");
        assert!(
            all.contains(
                "IRQ 27 vfio-msi[0](0000:00:10.0) (IR-PCI-MSI-0000:00:10.0 0-edge) counted 5"
            ),
            "{all}"
        );
    }

    #[test]
    fn a_wrong_report_fails() {
        let off = REPORT.replace("\"msi_enabled\": true", "\"msi_enabled\": false");
        let e = run_check(console(&off, SPU, VFIO)).unwrap_err();
        assert!(e.contains("MSI Enable read back: got false"), "{e}");

        let not_pending = REPORT.replacen("CPU#0. Acked", "CPU#0. Not pending!", 1);
        let e = run_check(console(&not_pending, SPU, VFIO)).unwrap_err();
        assert!(e.contains("interrupt 1: kernel record"), "{e}");

        let other_vector = REPORT.replace(
            "(vector 0xf5) on CPU#0. Acked\", \"spurious_count\": 3",
            "(vector 0xee) on CPU#0. Acked\", \"spurious_count\": 3",
        );
        let e = run_check(console(&other_vector, SPU, VFIO)).unwrap_err();
        assert!(e.contains("interrupt 3: kernel record"), "{e}");

        let lost = REPORT.replace("\"spurious_count\": 4", "\"spurious_count\": 5");
        let e = run_check(console(&lost, SPU, VFIO)).unwrap_err();
        assert!(e.contains("SPU counts"), "{e}");

        let unacked = REPORT.replace(
            "\"status\": 8, \"status_after_ack\": 0",
            "\"status\": 8, \"status_after_ack\": 8",
        );
        let e = run_check(console(&unacked, SPU, VFIO)).unwrap_err();
        assert!(e.contains("interrupt 4: raised 0x8"), "{e}");

        let data = REPORT.replace("\"msi_data\": 245", "\"msi_data\": 65");
        let e = run_check(console(&data, SPU, VFIO)).unwrap_err();
        assert!(e.contains("Message Data read back: got \"0x0041\""), "{e}");

        let address = REPORT.replace("4276092928", "4276092929000");
        let e = run_check(console(&address, SPU, VFIO)).unwrap_err();
        assert!(e.contains("not a local APIC address"), "{e}");
    }

    #[test]
    fn wrong_interrupt_lines_fail() {
        let few = SPU.replace("  5  ", "  3  ");
        let e = run_check(console(REPORT, &few, VFIO)).unwrap_err();
        assert!(e.contains("SPU counted 3, want at least 5"), "{e}");

        let intx = VFIO.replace("IR-PCI-MSI-0000:00:10.0   0-edge", "IO-APIC  16-fasteoi");
        let e = run_check(console(REPORT, SPU, &intx)).unwrap_err();
        assert!(e.contains("not a PCI-MSI line"), "{e}");

        let few = VFIO.replace("   5  ", "   2  ");
        let e = run_check(console(REPORT, SPU, &few)).unwrap_err();
        assert!(e.contains("counted 2, want at least 5"), "{e}");

        let e = run_check(console(REPORT, SPU, "")).unwrap_err();
        assert!(e.contains("no vfio-msi[0](0000:00:10.0) line"), "{e}");
    }

    #[test]
    fn a_timed_out_msi_test_fails() {
        let text = "@@l1 edu 0000:00:10.0\n@@begin vmm\n@@l2 fn 0000:00:01.0\n@@begin l2-msi\n\
                    msi-test: no interrupt within 1000 ms (interrupt 1 of 5; edu status 0x1, SPU count 0)\n\
                    @@end l2-msi rc=1\nFAIL: msi-test\n@@l2 verdict 1\n@@end vmm rc=0\n@@vmm-exit 0\n";
        let e = run_check(lines(text)).unwrap_err();
        assert!(e.contains("msi-test exited Some(1)"), "{e}");
        assert!(e.contains("no interrupt within 1000 ms"), "{e}");
    }
}
