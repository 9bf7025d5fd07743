//! Bench topologies as data: each is a TOML file in `resources/bench/topologies/` naming
//! the L1 machine, its devices (as QEMU arguments), the kernel command line and the kernel
//! modules L1 loads. Adding a topology is adding a file.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::error::BenchError;

/// One L1 machine layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The topology's name (the file's stem).
    #[serde(skip)]
    pub name: String,
    /// What the topology is for.
    pub description: String,
    /// QEMU `-machine` value.
    pub machine: String,
    /// L1 memory (QEMU `-m`).
    pub memory: String,
    /// L1 vCPUs.
    pub cpus: u32,
    /// Extra QEMU arguments: IOMMU, buses, devices.
    #[serde(default)]
    pub qemu_args: Vec<String>,
    /// Appended to L1's kernel command line.
    #[serde(default)]
    pub cmdline: String,
    /// Kernel modules L1 loads at start-up (dependencies are added automatically).
    #[serde(default)]
    pub modules: Vec<String>,
    /// Services the host must run before QEMU starts (none known yet; later an SPDM
    /// responder for `nvme` with `spdm_port`).
    #[serde(default)]
    pub host_services: Vec<String>,
}

impl Topology {
    /// Loads `name` from the topology directory.
    pub fn load(dir: &Path, name: &str) -> Result<Topology, BenchError> {
        let err = |reason: String| BenchError::Topology {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(err("topology names are letters, digits and '-'".into()));
        }
        let path = dir.join(format!("{name}.toml"));
        let text = fs::read_to_string(&path).map_err(|e| {
            err(format!(
                "cannot read {}: {e} (available: {})",
                path.display(),
                Self::available(dir).join(", ")
            ))
        })?;
        let mut topology: Topology =
            toml::from_str(&text).map_err(|e| err(format!("{}: {e}", path.display())))?;
        if !topology.host_services.is_empty() {
            return Err(err(format!(
                "host services {:?} are not supported by this bench yet",
                topology.host_services
            )));
        }
        topology.name = name.to_owned();
        Ok(topology)
    }

    /// Names of the topologies in `dir`.
    pub fn available(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".toml")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topologies_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../resources/bench/topologies")
    }

    #[test]
    fn shipped_cxl_topology_loads() {
        let t = Topology::load(&topologies_dir(), "cxl").unwrap();
        assert!(t.machine.contains("cxl=on"));
        assert!(t.qemu_args.iter().any(|a| a.starts_with("cxl-type3")));
        assert!(t.modules.iter().any(|m| m == "vfio-pci"));
        // guest-intx and guest-msi assign QEMU's edu device (INTx, MSI) from pcie.0.
        assert!(t.qemu_args.iter().any(|a| a.starts_with("edu,")));
    }

    #[test]
    fn unknown_topology_lists_the_available_ones() {
        let e = Topology::load(&topologies_dir(), "nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("available: cxl"), "{e}");
    }

    #[test]
    fn path_like_names_are_refused() {
        assert!(Topology::load(&topologies_dir(), "../cxl").is_err());
    }
}
