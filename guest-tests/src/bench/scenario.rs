//! Scenarios: a named job (topology + scripts from `resources/bench/scenarios/<name>/`)
//! plus a host-side check of what came back. The registry is in `crate::scenarios`.

use std::path::Path;
use std::time::Duration;

use super::job::{Job, Outcome};
use super::layout::Layout;

/// The host-side check of a scenario: the facts it verified, or why it failed.
pub type Check = fn(&Outcome) -> Result<Vec<String>, String>;

/// One end-to-end scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The name users call it by (a contract: never rename).
    pub name: &'static str,
    /// One line on what it proves.
    pub description: &'static str,
    /// The topology it boots.
    pub topology: &'static str,
    /// L1's kernel (`None`: the default 6.12).
    pub kernel: Option<&'static str>,
    /// L2's kernel (`None`: the default 6.12).
    pub l2_kernel: Option<&'static str>,
    /// Host programs L1 needs (e.g. `qemu` for comparisons).
    pub l1_host_programs: &'static [&'static str],
    /// The host-side check.
    pub check: Check,
}

impl Scenario {
    /// The job that runs this scenario.
    pub fn job(&self, layout: &Layout, timeout: Duration, echo: bool) -> Job {
        let dir = layout.resources().join("scenarios").join(self.name);
        let l2 = dir.join("l2.sh");
        Job {
            name: self.name.to_owned(),
            topology: self.topology.to_owned(),
            kernel: self.kernel.map(str::to_owned),
            l2_kernel: self.l2_kernel.map(str::to_owned),
            l1_script: dir.join("l1.sh"),
            l2_script: Path::new(&l2).is_file().then_some(l2),
            files: Vec::new(),
            l2_files: Vec::new(),
            l1_host_programs: self
                .l1_host_programs
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            timeout,
            echo,
        }
    }
}
