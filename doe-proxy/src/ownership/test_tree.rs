//! A fake host for the tests: a temporary directory holding `sys`, `dev`, `proc` and
//! `boot` trees shaped like Linux's, and a registry directory beside them.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::host::HostPaths;
use super::registry::Registry;
use crate::pci_address::Bdf;

/// Size of a PCIe function's config space.
const CONFIG_SIZE: usize = 4096;
/// The first extended capability's offset.
const EXT_CAP_START: usize = 0x100;
/// PCI_EXT_CAP_ID_DOE.
const DOE_CAP_ID: u32 = 0x2e;

/// A temporary host tree, removed on drop.
pub struct FakeHost {
    root: PathBuf,
}

impl FakeHost {
    /// An empty tree under the system's temporary directory.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "doe-ownership-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
        fs::create_dir_all(root.join("dev/vfio")).unwrap();
        fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        fs::create_dir_all(root.join("boot")).unwrap();
        FakeHost { root }
    }

    /// The tree's roots.
    pub fn paths(&self) -> HostPaths {
        HostPaths::under(&self.root)
    }

    /// A registry in the tree (`run/owners`, not created yet) that checks pids in its `proc`.
    pub fn registry(&self) -> Registry {
        Registry::new(self.root.join("run/owners")).with_proc(self.paths().proc)
    }

    /// Creates (if needed) the function's sysfs directory.
    pub fn function(&self, bdf: Bdf) -> FakeFunction {
        let dir = self.paths().function_dir(bdf);
        fs::create_dir_all(&dir).unwrap();
        FakeFunction {
            dir,
            root: self.root.clone(),
        }
    }

    /// A process `pid` in the fake `/proc`, started at `start_time` clock ticks.
    pub fn process(&self, pid: u32, start_time: u64) {
        let dir = self.paths().proc.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        // Fields 3 to 22 of /proc/<pid>/stat; the command holds a space and a parenthesis.
        let rest: Vec<String> = (3..22).map(|i| i.to_string()).collect();
        fs::write(
            dir.join("stat"),
            format!("{pid} (odd) name) {} {start_time} 0 0\n", rest.join(" ")),
        )
        .unwrap();
    }

    /// The running kernel's release (`/proc/sys/kernel/osrelease`).
    pub fn kernel_release(&self, release: &str) {
        fs::write(
            self.paths().proc.join("sys/kernel/osrelease"),
            format!("{release}\n"),
        )
        .unwrap();
    }

    /// `/boot/config-<release>` with these lines.
    pub fn boot_config(&self, release: &str, lines: &str) {
        fs::write(self.paths().boot.join(format!("config-{release}")), lines).unwrap();
    }

    /// `/dev/vfio/<group>` as a plain file (opening it succeeds: a free group).
    pub fn vfio_group_node(&self, group: u32) {
        fs::write(self.paths().dev.join("vfio").join(group.to_string()), b"").unwrap();
    }

    /// A TSM device registered with the host (`/sys/class/tsm/<name>`).
    pub fn host_tsm(&self, name: &str) {
        fs::create_dir_all(self.paths().sys.join("class/tsm").join(name)).unwrap();
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// One function's sysfs directory in a [`FakeHost`].
pub struct FakeFunction {
    dir: PathBuf,
    root: PathBuf,
}

impl FakeFunction {
    /// Binds it to `driver` (the `driver` link).
    pub fn driver(&self, driver: &str) -> &Self {
        let target = self.root.join("sys/bus/pci/drivers").join(driver);
        fs::create_dir_all(&target).unwrap();
        relink(&target, &self.dir.join("driver"));
        self
    }

    /// Puts it in IOMMU group `group` (the `iommu_group` link).
    pub fn iommu_group(&self, group: u32) -> &Self {
        let target = self
            .root
            .join("sys/kernel/iommu_groups")
            .join(group.to_string());
        fs::create_dir_all(&target).unwrap();
        relink(&target, &self.dir.join("iommu_group"));
        self
    }

    /// Makes it a VF of `pf` (the `physfn` link).
    pub fn physfn(&self, pf: Bdf) -> &Self {
        let target = self.root.join("sys/bus/pci/devices").join(pf.to_string());
        fs::create_dir_all(&target).unwrap();
        relink(&target, &self.dir.join("physfn"));
        self
    }

    /// Its config space: IDs, class, and a chain of DOE capabilities at `doe` offsets
    /// (ascending, each at or above 0x100).
    pub fn config(&self, vendor: u16, device: u16, class: u32, doe: &[u16]) -> &Self {
        let mut bytes = vec![0u8; CONFIG_SIZE];
        let id = u32::from(vendor) | (u32::from(device) << 16);
        bytes[0..4].copy_from_slice(&id.to_le_bytes());
        bytes[8..12].copy_from_slice(&(class << 8 | 0x01).to_le_bytes());
        if let Some(&first) = doe.first() {
            if usize::from(first) != EXT_CAP_START {
                // A vendor-specific capability (0x0b) at 0x100 leads to the first DOE.
                let header = 0x0bu32 | (1 << 16) | (u32::from(first) << 20);
                bytes[EXT_CAP_START..EXT_CAP_START + 4].copy_from_slice(&header.to_le_bytes());
            }
        }
        for (i, &offset) in doe.iter().enumerate() {
            let next = doe.get(i + 1).map_or(0, |&n| u32::from(n));
            let header = DOE_CAP_ID | (1 << 16) | (next << 20);
            let at = usize::from(offset);
            bytes[at..at + 4].copy_from_slice(&header.to_le_bytes());
        }
        fs::write(self.dir.join("config"), bytes).unwrap();
        self
    }

    /// Its `doe_features/` directory (Linux ≥ 6.15) with these features.
    pub fn doe_features(&self, features: &[&str]) -> &Self {
        let dir = self.dir.join("doe_features");
        fs::create_dir_all(&dir).unwrap();
        for f in features {
            fs::write(dir.join(f), format!("{f}\n")).unwrap();
        }
        self
    }

    /// Its `tsm/` directory, `connect` reading `connected` (empty: not connected).
    pub fn tsm(&self, connected: &str) -> &Self {
        let dir = self.dir.join("tsm");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("connect"), format!("{connected}\n")).unwrap();
        self
    }
}

/// Points `link` at `target`, replacing an older link.
fn relink(target: &Path, link: &Path) {
    let _ = fs::remove_file(link);
    symlink(target, link).unwrap();
}
