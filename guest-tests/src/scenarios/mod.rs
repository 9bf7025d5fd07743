//! The registry of end-to-end scenarios. Names are contracts: add, never rename.

mod host_cxl;

use crate::bench::scenario::Scenario;

/// Every scenario, in the order `bench run --all` runs them.
pub fn all() -> Vec<Scenario> {
    vec![host_cxl::SCENARIO]
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}
