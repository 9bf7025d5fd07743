//! Checks made before KVM is opened, so each way an assignment cannot work ends with one
//! clear line: the function exists, it is bound to vfio-pci, it has an IOMMU group, the
//! group is viable, and `/dev/vfio/vfio` and `/dev/vfio/<group>` can be opened.
//!
//! Viability follows the kernel (since 5.19, `iommu_group_dma_owner_claimed()` behind
//! `VFIO_GROUP_GET_STATUS`): every other function of the group must be unbound, or bound to
//! a driver that leaves DMA to its user (`driver_managed_dma`: the vfio drivers, `pci-stub`,
//! `pcieport`). Any other driver owns the group's DMA for the kernel.
//!
//! Everything is read relative to a root directory, so tests run against a fake tree.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use policies::Bdf;

/// Where PCI functions live in sysfs, relative to the root.
const SYSFS_PCI_DEVICES: &str = "sys/bus/pci/devices";
/// The VFIO device nodes, relative to the root.
const DEV_VFIO: &str = "dev/vfio";
/// The driver every assigned function must be bound to.
pub const VFIO_DRIVER: &str = "vfio-pci";
/// Drivers other than the vfio ones that leave the group's DMA alone (`driver_managed_dma`).
const DMA_NEUTRAL_DRIVERS: &[&str] = &["pci-stub", "pcieport"];

/// Why a function cannot be assigned (found before KVM is opened).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreflightError {
    /// No such function on the host.
    #[error("PCI device {bdf} not found (no /{SYSFS_PCI_DEVICES}/{bdf})")]
    NotFound {
        /// The function.
        bdf: String,
    },
    /// The function is bound to another driver, or to none.
    #[error(
        "PCI device {bdf} is bound to {}, not vfio-pci; bind it with: echo vfio-pci > /sys/bus/pci/devices/{bdf}/driver_override && {}echo {bdf} > /sys/bus/pci/drivers_probe",
        driver.as_deref().map_or("no driver".to_owned(), |d| format!("driver {d}")),
        if driver.is_some() { format!("echo {bdf} > /sys/bus/pci/devices/{bdf}/driver/unbind && ") } else { String::new() }
    )]
    NotBound {
        /// The function.
        bdf: String,
        /// Its driver, if any.
        driver: Option<String>,
    },
    /// The host has no IOMMU for the function.
    #[error("PCI device {bdf} has no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on) to assign it")]
    NoIommuGroup {
        /// The function.
        bdf: String,
    },
    /// Another function of the group is bound to a driver that owns DMA.
    #[error("IOMMU group {group} of PCI device {bdf} is not viable: {} must be unbound or bound to vfio-pci too", list(others))]
    GroupNotViable {
        /// The function.
        bdf: String,
        /// Its group.
        group: u32,
        /// The offending functions and their drivers.
        others: Vec<(String, String)>,
    },
    /// A VFIO device node is missing.
    #[error("{path} does not exist: load the vfio-pci module (and vfio_iommu_type1)")]
    NoNode {
        /// The node.
        path: String,
    },
    /// No permission on a VFIO device node.
    #[error("permission denied opening {path} (give the user read/write access to it)")]
    NodePermission {
        /// The node.
        path: String,
    },
    /// The group is open elsewhere.
    #[error("{path} is busy: the IOMMU group is in use by another process")]
    NodeBusy {
        /// The node.
        path: String,
    },
    /// Any other failure opening a node.
    #[error("cannot open {path}: {error}")]
    NodeOpen {
        /// The node.
        path: String,
        /// The error, as text.
        error: String,
    },
    /// The same function was given twice.
    #[error("PCI device {bdf} is assigned twice")]
    Duplicate {
        /// The function.
        bdf: String,
    },
}

fn list(others: &[(String, String)]) -> String {
    others
        .iter()
        .map(|(bdf, driver)| format!("{bdf} (driver {driver})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A function that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The function.
    pub bdf: Bdf,
    /// Its sysfs directory (what `vfio-ioctls` opens the device by).
    pub sysfs: PathBuf,
    /// Its IOMMU group.
    pub group: u32,
}

/// Whether a function bound to `driver` may share a group with an assigned one.
fn dma_neutral(driver: Option<&str>) -> bool {
    match driver {
        None => true,
        Some(d) => d.contains("vfio") || DMA_NEUTRAL_DRIVERS.contains(&d),
    }
}

/// The last path component of the symlink `link`, if it is one.
fn link_name(link: &Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Opens a VFIO node read/write (and closes it) to report what stops vmm from using it.
fn check_node(path: &Path) -> Result<(), PreflightError> {
    let shown = path.display().to_string();
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::NotFound => PreflightError::NoNode { path: shown },
            ErrorKind::PermissionDenied => PreflightError::NodePermission { path: shown },
            _ if e.raw_os_error() == Some(libc::EBUSY) => PreflightError::NodeBusy { path: shown },
            _ => PreflightError::NodeOpen {
                path: shown,
                error: e.to_string(),
            },
        }),
    }
}

/// Checks one function under `root` (`/` on a real host).
pub fn check(root: &Path, bdf: &Bdf) -> Result<Checked, PreflightError> {
    let name = bdf.to_string();
    let dir = root.join(SYSFS_PCI_DEVICES).join(&name);
    if !dir.exists() {
        return Err(PreflightError::NotFound { bdf: name });
    }
    let driver = link_name(&dir.join("driver"));
    if driver.as_deref() != Some(VFIO_DRIVER) {
        return Err(PreflightError::NotBound { bdf: name, driver });
    }
    let group = link_name(&dir.join("iommu_group"))
        .and_then(|g| g.parse::<u32>().ok())
        .ok_or_else(|| PreflightError::NoIommuGroup { bdf: name.clone() })?;
    let mut others: Vec<(String, String)> = std::fs::read_dir(dir.join("iommu_group/devices"))
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let other = entry.file_name().to_string_lossy().into_owned();
            let driver = link_name(&root.join(SYSFS_PCI_DEVICES).join(&other).join("driver"));
            (!dma_neutral(driver.as_deref())).then(|| (other, driver.unwrap_or_default()))
        })
        .collect();
    if !others.is_empty() {
        others.sort();
        return Err(PreflightError::GroupNotViable {
            bdf: name,
            group,
            others,
        });
    }
    check_node(&root.join(DEV_VFIO).join("vfio"))?;
    check_node(&root.join(DEV_VFIO).join(group.to_string()))?;
    Ok(Checked {
        bdf: *bdf,
        sysfs: dir,
        group,
    })
}

/// Checks every function, in order; the first failure wins.
pub fn check_all(root: &Path, bdfs: &[Bdf]) -> Result<Vec<Checked>, PreflightError> {
    let mut checked: Vec<Checked> = Vec::with_capacity(bdfs.len());
    for bdf in bdfs {
        if checked.iter().any(|c| c.bdf == *bdf) {
            return Err(PreflightError::Duplicate {
                bdf: bdf.to_string(),
            });
        }
        checked.push(check(root, bdf)?);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const DEV: Bdf = Bdf {
        domain: 0,
        bus: 0x0d,
        device: 0,
        function: 0,
    };

    /// A fake root with functions `(bdf, driver)` all in IOMMU group 7.
    fn tree(functions: &[(&str, Option<&str>)], nodes: bool) -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        let root = dir.path();
        let group = root.join("sys/kernel/iommu_groups/7");
        std::fs::create_dir_all(group.join("devices")).unwrap();
        for (bdf, driver) in functions {
            let dev = root.join(SYSFS_PCI_DEVICES).join(bdf);
            std::fs::create_dir_all(&dev).unwrap();
            symlink(&group, dev.join("iommu_group")).unwrap();
            symlink(&dev, group.join("devices").join(bdf)).unwrap();
            if let Some(d) = driver {
                let drv = root.join("sys/bus/pci/drivers").join(d);
                std::fs::create_dir_all(&drv).unwrap();
                symlink(&drv, dev.join("driver")).unwrap();
            }
        }
        if nodes {
            std::fs::create_dir_all(root.join(DEV_VFIO)).unwrap();
            std::fs::write(root.join("dev/vfio/vfio"), b"").unwrap();
            std::fs::write(root.join("dev/vfio/7"), b"").unwrap();
        }
        dir
    }

    mod tempdir {
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicU32, Ordering};

        /// A directory removed on drop.
        pub struct Dir(PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "vmm-preflight-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
            pub fn path(&self) -> &Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_bound_function_in_a_clean_group_passes() {
        let t = tree(
            &[
                ("0000:0d:00.0", Some("vfio-pci")),
                ("0000:0d:00.1", None),
                ("0000:0c:00.0", Some("pcieport")),
            ],
            true,
        );
        let c = check(t.path(), &DEV).unwrap();
        assert_eq!(c.group, 7);
        assert!(c.sysfs.ends_with("sys/bus/pci/devices/0000:0d:00.0"));
    }

    #[test]
    fn a_missing_function_is_named() {
        let t = tree(&[], true);
        let e = check(t.path(), &Bdf { bus: 0x77, ..DEV }).unwrap_err();
        assert!(e.to_string().contains("0000:77:00.0 not found"), "{e}");
    }

    #[test]
    fn an_unbound_or_wrongly_bound_function_says_how_to_bind() {
        let t = tree(&[("0000:0d:00.0", None)], true);
        let e = check(t.path(), &DEV).unwrap_err().to_string();
        assert!(e.contains("bound to no driver, not vfio-pci"), "{e}");
        assert!(
            e.contains("driver_override") && !e.contains("unbind"),
            "{e}"
        );
        let t = tree(&[("0000:0d:00.0", Some("cxl_pci"))], true);
        let e = check(t.path(), &DEV).unwrap_err().to_string();
        assert!(e.contains("driver cxl_pci, not vfio-pci"), "{e}");
        assert!(e.contains("driver/unbind"), "{e}");
    }

    #[test]
    fn a_group_with_a_kernel_driver_is_not_viable() {
        let t = tree(
            &[
                ("0000:0d:00.0", Some("vfio-pci")),
                ("0000:0d:00.1", Some("nvme")),
                ("0000:0d:00.2", Some("pci-stub")),
            ],
            true,
        );
        let e = check(t.path(), &DEV).unwrap_err();
        assert_eq!(
            e,
            PreflightError::GroupNotViable {
                bdf: "0000:0d:00.0".into(),
                group: 7,
                others: vec![("0000:0d:00.1".into(), "nvme".into())],
            }
        );
        assert!(e.to_string().contains("0000:0d:00.1 (driver nvme)"));
    }

    #[test]
    fn missing_nodes_and_groups_are_reported() {
        let t = tree(&[("0000:0d:00.0", Some("vfio-pci"))], false);
        let e = check(t.path(), &DEV).unwrap_err().to_string();
        assert!(e.contains("dev/vfio/vfio does not exist"), "{e}");
        std::fs::create_dir_all(t.path().join(DEV_VFIO)).unwrap();
        std::fs::write(t.path().join("dev/vfio/vfio"), b"").unwrap();
        let e = check(t.path(), &DEV).unwrap_err().to_string();
        assert!(e.contains("dev/vfio/7 does not exist"), "{e}");
        std::fs::remove_file(
            t.path()
                .join(SYSFS_PCI_DEVICES)
                .join("0000:0d:00.0/iommu_group"),
        )
        .unwrap();
        let e = check(t.path(), &DEV).unwrap_err().to_string();
        assert!(e.contains("no IOMMU group"), "{e}");
    }

    #[test]
    fn duplicates_are_refused() {
        let t = tree(&[("0000:0d:00.0", Some("vfio-pci"))], true);
        assert_eq!(check_all(t.path(), &[DEV]).unwrap().len(), 1);
        let e = check_all(t.path(), &[DEV, DEV]).unwrap_err();
        assert!(e.to_string().contains("assigned twice"));
    }
}
