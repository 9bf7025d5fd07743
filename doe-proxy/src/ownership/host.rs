//! Where the host's facts are read: `/sys`, `/dev`, `/proc` and `/boot`, each a root that
//! tests replace with a temporary tree, and the per-function sysfs entries read from them
//! (`driver`, `iommu_group`, `physfn`, `config`).

use std::path::{Path, PathBuf};

use crate::pci_address::Bdf;

/// The roots of the host's file systems this module reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// sysfs (`/sys`).
    pub sys: PathBuf,
    /// Device nodes (`/dev`).
    pub dev: PathBuf,
    /// procfs (`/proc`).
    pub proc: PathBuf,
    /// Kernel images and their configs (`/boot`).
    pub boot: PathBuf,
}

impl HostPaths {
    /// The running system's roots.
    pub fn system() -> Self {
        Self::under(Path::new("/"))
    }

    /// `sys`, `dev`, `proc` and `boot` under `root` (tests build a fake tree there).
    pub fn under(root: &Path) -> Self {
        HostPaths {
            sys: root.join("sys"),
            dev: root.join("dev"),
            proc: root.join("proc"),
            boot: root.join("boot"),
        }
    }

    /// The function's sysfs directory, `/sys/bus/pci/devices/<bdf>`.
    pub fn function_dir(&self, bdf: Bdf) -> PathBuf {
        self.sys.join("bus/pci/devices").join(bdf.to_string())
    }

    /// The name of the kernel driver bound to `bdf` (its `driver` link), if any.
    pub fn bound_driver(&self, bdf: Bdf) -> Option<String> {
        link_name(&self.function_dir(bdf).join("driver"))
    }

    /// The function's IOMMU group number (its `iommu_group` link), if it has one.
    pub fn iommu_group(&self, bdf: Bdf) -> Option<u32> {
        link_name(&self.function_dir(bdf).join("iommu_group"))?
            .parse()
            .ok()
    }

    /// The physical function of a virtual function (its `physfn` link); `None` for a
    /// function that is not a VF.
    pub fn physical_function(&self, bdf: Bdf) -> Option<Bdf> {
        link_name(&self.function_dir(bdf).join("physfn"))?
            .parse()
            .ok()
    }
}

/// The last component of the symbolic link at `link`'s target.
fn link_name(link: &Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::test_tree::FakeHost;

    #[test]
    fn links_are_read_by_their_target_names() {
        let host = FakeHost::new();
        let bdf: Bdf = "0000:0d:00.0".parse().unwrap();
        host.function(bdf).driver("vfio-pci").iommu_group(7);
        let paths = host.paths();
        assert_eq!(paths.bound_driver(bdf).as_deref(), Some("vfio-pci"));
        assert_eq!(paths.iommu_group(bdf), Some(7));
        assert_eq!(paths.physical_function(bdf), None);
    }

    #[test]
    fn a_function_without_links_has_nothing() {
        let host = FakeHost::new();
        let bdf: Bdf = "0000:0d:00.1".parse().unwrap();
        host.function(bdf);
        let paths = host.paths();
        assert_eq!(paths.bound_driver(bdf), None);
        assert_eq!(paths.iommu_group(bdf), None);
    }

    #[test]
    fn a_virtual_function_names_its_physical_function() {
        let host = FakeHost::new();
        let vf: Bdf = "0000:0d:00.4".parse().unwrap();
        host.function(vf).physfn("0000:0d:00.0".parse().unwrap());
        assert_eq!(
            host.paths().physical_function(vf),
            Some("0000:0d:00.0".parse().unwrap())
        );
    }

    #[test]
    fn the_system_roots_are_the_real_ones() {
        let paths = HostPaths::system();
        assert_eq!(paths.sys, Path::new("/sys"));
        assert_eq!(
            paths.function_dir("0000:0d:00.0".parse().unwrap()),
            Path::new("/sys/bus/pci/devices/0000:0d:00.0")
        );
    }
}
