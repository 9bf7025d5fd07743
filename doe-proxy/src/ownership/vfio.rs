//! Owners that never registered (QEMU, another VMM): a function bound to a VFIO driver
//! whose IOMMU group is open. The kernel lets one process at a time open a VFIO group
//! (`/dev/vfio/<group>`; a second open fails with `EBUSY`), so opening it and closing it at
//! once tells whether a VFIO user holds it. The probe holds the group for the length of
//! one `open` and `close`: a VMM that opens it in that instant fails and must be retried.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::host::HostPaths;
use crate::pci_address::Bdf;

/// Whether a driver hands its functions to user space through VFIO: `vfio-pci` and its
/// variant drivers (`mlx5_vfio_pci`, `nvgrace_gpu_vfio_pci`, ...).
pub fn is_vfio_driver(driver: &str) -> bool {
    driver.contains("vfio")
}

/// What the probe found about a function's VFIO group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum VfioGroup {
    /// The function is not bound to a VFIO driver.
    NotVfio,
    /// The group is open elsewhere: a VFIO user (a VMM) holds the function.
    InUse {
        /// The IOMMU group.
        group: u32,
    },
    /// Nobody has the group open.
    Free {
        /// The IOMMU group.
        group: u32,
    },
    /// The probe could not tell.
    Unknown {
        /// The IOMMU group, if the function has one.
        group: Option<u32>,
        /// Why.
        reason: String,
    },
}

/// Probes the VFIO group of `bdf` by opening its device node read-write.
pub fn probe(host: &HostPaths, bdf: Bdf) -> VfioGroup {
    probe_with(host, bdf, |node| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(node)
            .map(drop)
    })
}

/// [`probe`] with the open-and-close of the group's node given (tests fake `EBUSY`).
pub fn probe_with(
    host: &HostPaths,
    bdf: Bdf,
    open_and_close: impl Fn(&Path) -> io::Result<()>,
) -> VfioGroup {
    match host.bound_driver(bdf) {
        Some(driver) if is_vfio_driver(&driver) => {}
        _ => return VfioGroup::NotVfio,
    }
    let Some(group) = host.iommu_group(bdf) else {
        return VfioGroup::Unknown {
            group: None,
            reason: "bound to VFIO but has no iommu_group link".to_owned(),
        };
    };
    let node = group_node(host, group);
    match open_and_close(&node) {
        Ok(()) => VfioGroup::Free { group },
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => VfioGroup::InUse { group },
        Err(e) => VfioGroup::Unknown {
            group: Some(group),
            reason: match e.kind() {
                io::ErrorKind::NotFound => format!("{} does not exist", node.display()),
                io::ErrorKind::PermissionDenied => {
                    format!("not permitted to open {} (root can)", node.display())
                }
                _ => format!("cannot open {}: {e}", node.display()),
            },
        },
    }
}

/// The group's device node: `/dev/vfio/<group>`, or `/dev/vfio/noiommu-<group>` for a
/// group of the no-IOMMU mode when only that exists.
fn group_node(host: &HostPaths, group: u32) -> PathBuf {
    let vfio = host.dev.join("vfio");
    let plain = vfio.join(group.to_string());
    let noiommu = vfio.join(format!("noiommu-{group}"));
    if !plain.exists() && noiommu.exists() {
        noiommu
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::test_tree::FakeHost;

    fn bdf() -> Bdf {
        "0000:0d:00.0".parse().unwrap()
    }

    #[test]
    fn a_function_not_bound_to_vfio_is_not_probed() {
        let host = FakeHost::new();
        host.function(bdf()).driver("cxl_pci").iommu_group(7);
        let probed = probe_with(&host.paths(), bdf(), |_| panic!("must not open"));
        assert_eq!(probed, VfioGroup::NotVfio);
        host.function("0000:0d:00.1".parse().unwrap());
        assert_eq!(
            probe(&host.paths(), "0000:0d:00.1".parse().unwrap()),
            VfioGroup::NotVfio
        );
    }

    #[test]
    fn a_group_that_opens_is_free() {
        let host = FakeHost::new();
        host.function(bdf()).driver("vfio-pci").iommu_group(7);
        host.vfio_group_node(7);
        assert_eq!(probe(&host.paths(), bdf()), VfioGroup::Free { group: 7 });
    }

    #[test]
    fn ebusy_means_a_vfio_user_holds_it() {
        let host = FakeHost::new();
        host.function(bdf()).driver("vfio-pci").iommu_group(7);
        host.vfio_group_node(7);
        let opened = std::cell::RefCell::new(None);
        let probed = probe_with(&host.paths(), bdf(), |node| {
            *opened.borrow_mut() = Some(node.to_path_buf());
            Err(io::Error::from_raw_os_error(libc::EBUSY))
        });
        assert_eq!(probed, VfioGroup::InUse { group: 7 });
        assert_eq!(opened.into_inner(), Some(host.paths().dev.join("vfio/7")));
    }

    #[test]
    fn a_missing_node_or_no_permission_is_unknown() {
        let host = FakeHost::new();
        host.function(bdf()).driver("vfio-pci").iommu_group(9);
        match probe(&host.paths(), bdf()) {
            VfioGroup::Unknown { group, reason } => {
                assert_eq!(group, Some(9));
                assert!(reason.contains("does not exist"), "{reason}");
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
        let denied = probe_with(&host.paths(), bdf(), |_| {
            Err(io::Error::from_raw_os_error(libc::EACCES))
        });
        assert!(
            matches!(&denied, VfioGroup::Unknown { reason, .. } if reason.contains("not permitted")),
            "{denied:?}"
        );
    }

    #[test]
    fn a_vfio_function_without_a_group_is_unknown() {
        let host = FakeHost::new();
        host.function(bdf()).driver("vfio-pci");
        assert!(matches!(
            probe(&host.paths(), bdf()),
            VfioGroup::Unknown { group: None, .. }
        ));
    }

    #[test]
    fn the_no_iommu_node_is_used_when_it_is_the_only_one() {
        let host = FakeHost::new();
        host.function(bdf()).driver("vfio-pci").iommu_group(3);
        std::fs::write(host.paths().dev.join("vfio/noiommu-3"), "").unwrap();
        let opened = std::cell::RefCell::new(None);
        probe_with(&host.paths(), bdf(), |node| {
            *opened.borrow_mut() = Some(node.to_path_buf());
            Ok(())
        });
        assert_eq!(
            opened.into_inner(),
            Some(host.paths().dev.join("vfio/noiommu-3"))
        );
    }

    #[test]
    fn variant_drivers_count_as_vfio() {
        assert!(is_vfio_driver("vfio-pci"));
        assert!(is_vfio_driver("mlx5_vfio_pci"));
        assert!(!is_vfio_driver("cxl_pci"));
        assert!(!is_vfio_driver("pci-stub"));
    }
}
