//! Scenario `guest-doe-bench`: DOE exchange latency with one tool (`doe-bench`) from L1 on
//! the physical function (sysfs), and from L2 through our `vmm`'s virtual DOE and through
//! QEMU's raw VFIO passthrough (QEMU as the L1 VMM), alternating 3 rounds of each in one L1
//! boot, both under `vmm-probe --no-sample`; each spinning on Status and Linux-like (a 4 ms
//! pause between Status reads). The host prints the tables (medians pooled over the
//! rounds), vmm's exits per exchange, the exchanges not ready at the first Status read and
//! the must-show figures; figures are never asserted, only that every report and
//! every vmm counter snapshot is there and well-formed.

mod console;
mod table;
mod vmm_stats;

use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;
use console::{completion_wait_arg, Bench, Mode};

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-doe-bench",
    description: "benchmark: Discovery and CDAT latency from L2 via vmm's virtual DOE vs QEMU raw passthrough vs L1 sysfs, spinning and Linux-like, 3 rounds each",
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

/// The `--doe-completion-wait` in force, as VMM_ARGS sets it and as vmm reports it.
fn completion_wait_fact(bench: &Bench) -> String {
    let from_args = match completion_wait_arg(&bench.vmm_args) {
        Some(v) => format!("{v} µs (VMM_ARGS `{}`)", bench.vmm_args),
        None if bench.vmm_args.is_empty() => "vmm's default (no VMM_ARGS)".to_owned(),
        None => format!("vmm's default (VMM_ARGS `{}`)", bench.vmm_args),
    };
    let reported = bench
        .modes
        .iter()
        .flat_map(|m| &m.vmm)
        .flat_map(|r| &r.stats)
        .find_map(|(_, s)| s.doe_completion_wait)
        .map_or("doectl stats reports no completion wait".to_owned(), |c| {
            format!("doectl stats reports bound_us {}", c.bound_us)
        });
    format!("vmm --doe-completion-wait in force: {from_args}; {reported}")
}

/// Every line the check prints about `bench`.
fn facts(bench: &Bench) -> Result<Vec<String>, String> {
    let first = &bench.modes[0];
    let (l1, vmm, qemu) = (&first.l1, &first.vmm[0].report, &first.qemu[0].report);
    let mut facts = vec![
        format!(
            "doe-bench ran on {} (L1, mailbox {:#x}), {} (L2 via vmm, {:#x}), {} (L2 via QEMU, {:#x}); {} rounds of each VMM, both under vmm-probe --no-sample",
            l1.device, l1.mailbox, vmm.device, vmm.mailbox, qemu.device, qemu.mailbox, first.vmm.len()
        ),
        completion_wait_fact(bench),
    ];
    for m in &bench.modes {
        facts.extend(table::mode_lines(m)?);
    }
    if let Some(m) = bench.modes.iter().find(|m| m.mode == Mode::Spinning) {
        facts.extend(table::access_lines(m));
    }
    facts.extend(table::must_show(bench));
    Ok(facts)
}

/// `@@retried` lines: L2 boots run once more because L2 reset or ended mid-run (nested
/// bench flakiness, either VMM); each round's figures come from its last boot.
fn retried_fact(lines: &[String]) -> String {
    let retried: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("@@retried "))
        .collect();
    if retried.is_empty() {
        "L2 boots retried: none".to_owned()
    } else {
        format!("L2 boots retried: {}", retried.join("; "))
    }
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = facts(&console::parse(lines)?)?;
    facts.push(retried_fact(lines));
    Ok(facts)
}

#[cfg(test)]
mod tests;
