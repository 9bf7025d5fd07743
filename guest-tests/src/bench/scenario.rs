//! Scenarios: a named job (topology + scripts from `resources/bench/scenarios/<name>/`)
//! plus a host-side check of what came back. The registry is in `crate::scenarios`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::initramfs::FileMapping;
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
    /// More L2 kernels carried into L1, each at `/l2/vmlinuz-<selector>` (e.g. `&["7"]` puts
    /// the 7.x kernel at `/l2/vmlinuz-7`); the run stops with a clear message if one is not
    /// set up.
    pub extra_l2_kernels: &'static [&'static str],
    /// Host programs L1 needs (e.g. `qemu` for comparisons).
    pub l1_host_programs: &'static [&'static str],
    /// Host programs L2 needs (e.g. `lspci`).
    pub l2_host_programs: &'static [&'static str],
    /// Kernel modules of the L1 kernel that L1's init loads after the topology's (e.g.
    /// `cxl_pci`, to have the function bound to its own driver), with their dependencies.
    pub l1_modules: &'static [&'static str],
    /// Kernel modules L2's init loads, in order, before the L2 script runs (e.g.
    /// `uio_pci_generic`); resolved with their dependencies against the L2 kernel.
    pub l2_modules: &'static [&'static str],
    /// The host-side check.
    pub check: Check,
}

impl Scenario {
    /// The job that runs this scenario. Every file of the scenario's directory other than
    /// `l1.sh` and `l2.sh` (e.g. a policy) is carried into L1's `/root`.
    pub fn job(&self, layout: &Layout, timeout: Duration, echo: bool) -> Job {
        let dir = layout.resources().join("scenarios").join(self.name);
        let l2 = dir.join("l2.sh");
        let owned = |list: &[&str]| list.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        let mut files: Vec<FileMapping> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| n != "l1.sh" && n != "l2.sh")
            .map(|n| FileMapping {
                source: dir.join(&n),
                dest: format!("/root/{n}"),
            })
            .collect();
        files.sort_by(|a, b| a.dest.cmp(&b.dest));
        Job {
            name: self.name.to_owned(),
            topology: self.topology.to_owned(),
            kernel: self.kernel.map(str::to_owned),
            l2_kernel: self.l2_kernel.map(str::to_owned),
            extra_l2_kernels: owned(self.extra_l2_kernels),
            l1_script: dir.join("l1.sh"),
            l1_env: Vec::new(),
            l2_script: Path::new(&l2).is_file().then_some(l2),
            files,
            l2_files: Vec::new(),
            l1_host_programs: owned(self.l1_host_programs),
            l2_host_programs: owned(self.l2_host_programs),
            l1_modules: owned(self.l1_modules),
            l2_modules: owned(self.l2_modules),
            timeout,
            echo,
        }
    }
}
