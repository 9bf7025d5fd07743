//! Scenario `guest-boot`: our `vmm` boots L2 in L1 with the CXL function assigned through
//! VFIO (1 and 2 vCPUs); the host checks what L2 saw, and prints the benchmark against
//! QEMU as the L1 VMM (same kernel, initramfs and device) — figures, never assertions.

use serde_json::Value;

use super::common::{expect, json_in, probe_report, section_in};
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;
use crate::probe::ProbeReport;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-boot",
    description:
        "vmm boots L2 with the CXL function via VFIO (1 and 2 vCPUs); DOE virtualised at 0x190; benchmark vs QEMU",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &[],
    l1_host_programs: &["qemu"],
    l2_host_programs: &[],
    l1_modules: &[],
    l2_modules: &[],
    check,
};

/// The assigned function as L2 must see it.
const VENDOR: &str = "0x8086";
const DEVICE: &str = "0x0d93";
const CLASS: &str = "0x050210";
/// Extended capability ID of DOE.
const EXT_CAP_ID_DOE: u64 = 0x2e;
/// Where the device's DOE is, and so where vmm's virtual DOE is.
const DOE_OFFSET: u64 = 0x190;

/// Checks one vmm run (the console of section `run`) with `cpus` vCPUs.
fn check_run(
    lines: &[String],
    run: &str,
    cpus: u32,
    facts: &mut Vec<String>,
) -> Result<(), String> {
    let report = probe_report(lines, run)?;
    facts.push(expect(
        &format!("{run}: vmm exit code"),
        report.exit_code,
        Some(0),
    )?);
    let console = section_in(lines, run).ok_or_else(|| format!("section `{run}` missing"))?;
    let seen_cpus = console
        .iter()
        .find_map(|l| l.trim().strip_prefix("@@l2 cpus "))
        .and_then(|n| n.trim().parse::<u32>().ok());
    facts.push(expect(
        &format!("{run}: L2 reached init and counted vCPUs"),
        seen_cpus,
        Some(cpus),
    )?);
    let verdict = console.iter().any(|l| l.trim() == "@@l2 verdict 0");
    facts.push(expect(
        &format!("{run}: L2 script verdict 0"),
        verdict,
        true,
    )?);

    let inventory = json_in(console, "l2-pci")?;
    let function = inventory
        .as_array()
        .and_then(|fs| {
            fs.iter()
                .find(|f| f["vendor_id"] == VENDOR && f["device_id"] == DEVICE)
        })
        .ok_or_else(|| format!("{run}: L2 has no {VENDOR}:{DEVICE} function: {inventory}"))?;
    facts.push(expect(
        &format!("{run}: class of the assigned function"),
        function["class"].as_str(),
        Some(CLASS),
    )?);
    let assigned_mem_bars = function["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["kind"] == "mem" && r["start"].as_u64().unwrap_or(0) != 0)
                .count()
        })
        .unwrap_or(0);
    if assigned_mem_bars == 0 {
        return Err(format!("{run}: no memory BAR assigned: {function}"));
    }
    facts.push(format!("{run}: {assigned_mem_bars} memory BAR(s) assigned"));
    facts.push(expect(
        &format!("{run}: ext cap walk error"),
        function["ext_caps_error"].clone(),
        Value::Null,
    )?);
    let ids: Vec<u64> = function["ext_caps"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["id"].as_u64()).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(format!(
            "{run}: the guest sees no extended capabilities at all"
        ));
    }
    // The physical DOE is virtualised by vmm at its physical offset (issue 4).
    let doe_offsets: Vec<u64> = function["ext_caps"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["id"].as_u64() == Some(EXT_CAP_ID_DOE))
                .filter_map(|c| c["offset"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    facts.push(expect(
        &format!("{run}: DOE (0x2E) offsets in the guest's chain (the virtual DOE)"),
        doe_offsets,
        vec![DOE_OFFSET],
    )?);
    facts.push(format!(
        "{run}: guest-visible extended capabilities {ids:x?}"
    ));
    Ok(())
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = Vec::new();
    check_run(lines, "vmm-1", 1, &mut facts)?;
    check_run(lines, "vmm-2", 2, &mut facts)?;

    // The benchmark: printed, never asserted. A QEMU run that hung or ended before init
    // was retried as `qemu-1-retry`.
    let vmm = probe_report(lines, "vmm-1")?;
    let qemu = probe_report(lines, "qemu-1-retry").or_else(|_| probe_report(lines, "qemu-1"))?;
    let ms = |r: &ProbeReport| {
        r.boot_to_marker_ms.ok_or_else(|| {
            format!(
                "benchmark: {}'s L2 never reached init, so there is no boot figure",
                r.label
            )
        })
    };
    let (vmm_ms, qemu_ms) = (ms(&vmm)?, ms(&qemu)?);
    let kib = |r: &ProbeReport| match (r.peak_rss_beyond_guest_kib, r.vmhwm_kib) {
        (Some(beyond), Some(hwm)) => Ok((beyond, hwm)),
        _ => Err(format!(
            "benchmark: {} was not sampled for memory (vmm-probe --no-sample?)",
            r.label
        )),
    };
    let ((vmm_beyond, vmm_hwm), (qemu_beyond, qemu_hwm)) = (kib(&vmm)?, kib(&qemu)?);
    let mib = |kib: u64| kib as f64 / 1024.0;
    facts.push(format!(
        "benchmark: L2 boot to init: vmm {vmm_ms:.0} ms, QEMU {qemu_ms:.0} ms, ratio {:.2} (goal <= 0.5)",
        vmm_ms / qemu_ms
    ));
    facts.push(format!(
        "benchmark: memory beyond guest RAM (peak): vmm {:.1} MiB, QEMU {:.1} MiB, ratio {:.3} (goal vmm <= 5 MiB); VmHWM vmm {:.1} MiB, QEMU {:.1} MiB",
        mib(vmm_beyond),
        mib(qemu_beyond),
        vmm_beyond as f64 / qemu_beyond.max(1) as f64,
        mib(vmm_hwm),
        mib(qemu_hwm),
    ));
    Ok(facts)
}
