//! The registry of end-to-end scenarios. Names are contracts: add, never rename.

pub mod common;
mod contention;
mod contention_recovery;
mod edu_checks;
mod guest_boot;
mod guest_boot_errors;
mod guest_doe;
mod guest_doe_bench;
mod guest_doe_policy;
mod guest_intx;
mod guest_msi;
mod host_cxl;

use crate::bench::scenario::Scenario;

/// Every scenario that must pass, in the order `bench run --all` runs them.
pub fn all() -> Vec<Scenario> {
    vec![
        host_cxl::SCENARIO,
        guest_boot::SCENARIO,
        guest_boot_errors::SCENARIO,
        guest_doe::SCENARIO,
        guest_doe_policy::SCENARIO,
        guest_doe_bench::SCENARIO,
        guest_intx::SCENARIO,
        guest_msi::SCENARIO,
        contention::SCENARIO,
    ]
}

/// Scenarios whose feature is still being built: runnable by name, not part of `--all`
/// (and so not of CI) until they pass.
pub fn in_progress() -> Vec<Scenario> {
    Vec::new()
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all()
        .into_iter()
        .chain(in_progress())
        .find(|s| s.name == name)
}
