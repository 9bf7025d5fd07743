//! Scenario `guest-boot-errors`: each `vmm` failure the bench can provoke gives its one
//! clear line and a non-zero exit (never a usage error or a panic), and nothing is left
//! running. The L1 script checks the message; the host checks the exit codes.

use super::common::expect;
use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "guest-boot-errors",
    description: "vmm's failures: missing kernel, not a bzImage, memory, wrong BDF, not vfio-pci, no /dev/kvm",
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

/// The cases the L1 script provokes.
const CASES: &[&str] = &[
    "missing-kernel",
    "not-a-bzimage",
    "too-little-memory",
    "wrong-bdf",
    "not-bound-to-vfio",
    "no-kvm",
];
/// clap's exit code for a bad command line: a case ending so never reached vmm's checks.
const EXIT_USAGE: i32 = 2;
/// Rust's exit code after a panic.
const EXIT_PANIC: i32 = 101;

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let mut facts = Vec::new();
    for case in CASES {
        let prefix = format!("@@error-case {case} rc=");
        let line = outcome
            .console
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .ok_or_else(|| format!("error case `{case}` did not run"))?;
        let (rc, message) = line.split_once(" stderr=").unwrap_or((line, ""));
        let rc: i32 = rc
            .parse()
            .map_err(|_| format!("{case}: bad exit code `{rc}`"))?;
        let sane = rc != 0 && rc != EXIT_USAGE && rc != EXIT_PANIC && rc < 128;
        facts.push(expect(
            &format!("{case}: failed cleanly (exit {rc}: {message})"),
            sane,
            true,
        )?);
    }
    Ok(facts)
}
