//! `doectl doctor <BDF>`: everything that may use a function's DOE mailboxes, gathered
//! without touching a register (sysfs, the owner registry, the VFIO group, the kernel's
//! config): the bound driver, the host kernel's own mailboxes, a TSM, a registered
//! mediator, a VFIO user; then, for each mailbox, who may use it and whether `doectl`
//! would refuse to drive it. Rendered by `doectl` (`doe-proxy/src/bin/doectl/doctor.rs`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::driver::DriverDoe;
use super::host::HostPaths;
use super::kernel::{kernel_doe, KernelDoe};
use super::registry::{Entry, Registry};
use super::tsm::{tsm_state, TsmState};
use super::users::{conclusion, mailbox_users};
use super::vfio::{self, VfioGroup};
use super::{entry_warning, Owner, OwnerRecord};
use crate::config_space::{Access, ConfigError, SysfsConfig};
use crate::ext_cap::{self, ExtCapError, EXT_CAP_START};
use crate::pci_address::Bdf;
use crate::sysfs_scan;

/// The report on one function.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The function.
    pub device: Bdf,
    /// Vendor ID, if config space was readable.
    pub vendor_id: Option<u16>,
    /// Device ID, if config space was readable.
    pub device_id: Option<u16>,
    /// Class code (24 bits), if config space was readable.
    pub class: Option<u32>,
    /// The bound driver and whether it may use DOE.
    pub driver: DriverDoe,
    /// Whether the host kernel has mailboxes of its own for the function.
    pub kernel: KernelDoe,
    /// Its TSM state.
    pub tsm: TsmState,
    /// The owner registry's directory.
    pub registry: PathBuf,
    /// What the registry holds for the function.
    pub mediator: Mediator,
    /// Its VFIO group.
    pub vfio: VfioGroup,
    /// Its owner, as `doectl` finds it: `doectl` refuses to drive the registers when set.
    pub owner: Option<Owner>,
    /// Whether `doectl` without `--socket` (and without `--force`) refuses the function.
    pub doectl_refuses: bool,
    /// Its DOE mailboxes and who may use each; `None` when they could not be read.
    pub mailboxes: Option<Vec<MailboxUsers>>,
    /// Why the mailboxes could not be read.
    pub mailbox_error: Option<String>,
    /// The verdict, one sentence.
    pub conclusion: String,
    /// Anything ignored or worth knowing, one line each.
    pub notes: Vec<String>,
}

/// What the registry holds for a function.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Mediator {
    /// No registration.
    None,
    /// A running mediator.
    Registered {
        /// Its registration.
        owner: OwnerRecord,
    },
    /// A registration whose process is gone (ignored).
    Stale {
        /// The registration.
        owner: OwnerRecord,
    },
    /// A file that is not a registration (ignored).
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One mailbox and who may use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxUsers {
    /// Its config-space offset.
    pub offset: u16,
    /// Everyone who may exchange on it, in words; empty when nobody but `doectl` would.
    pub users: Vec<String>,
}

/// The function does not exist.
#[derive(Debug, thiserror::Error)]
#[error("no such device: {} does not exist", .0.display())]
pub struct NoSuchFunction(pub PathBuf);

/// The function's IDs and DOE offsets, as far as its config space could be read.
struct ConfigFacts {
    ids: Option<sysfs_scan::DoeFunction>,
    mailboxes: Result<Vec<u16>, String>,
}

/// Examines `bdf` and builds its report.
pub fn diagnose(
    host: &HostPaths,
    registry: &Registry,
    bdf: Bdf,
) -> Result<DoctorReport, NoSuchFunction> {
    let dir = host.function_dir(bdf);
    if !dir.is_dir() {
        return Err(NoSuchFunction(dir));
    }
    let config = read_config(&dir.join("config"), bdf);
    let has_doe = config.mailboxes.as_ref().ok().map(|m| !m.is_empty());
    let driver = DriverDoe::of(host.bound_driver(bdf).as_deref());
    let kernel = kernel_doe(host, bdf, has_doe);
    let tsm = tsm_state(host, bdf);
    let entry = registry.entry(bdf);
    let vfio = vfio::probe(host, bdf);
    let owner = Owner::from_facts(&entry, &vfio);
    let mut notes: Vec<String> = entry_warning(&entry).into_iter().collect();
    if let Entry::Stale(record) = &entry {
        notes.push(format!(
            "ignoring the registration of {record}: the process is gone"
        ));
    }
    let mailboxes = config.mailboxes.as_ref().ok().map(|offsets| {
        offsets
            .iter()
            .map(|&offset| MailboxUsers {
                offset,
                users: mailbox_users(offset, &driver, &kernel, &tsm, &vfio, owner.as_ref()),
            })
            .collect::<Vec<_>>()
    });
    let conclusion = conclusion(owner.as_ref(), mailboxes.as_deref());
    Ok(DoctorReport {
        device: bdf,
        vendor_id: config.ids.as_ref().map(|f| f.vendor_id),
        device_id: config.ids.as_ref().map(|f| f.device_id),
        class: config.ids.as_ref().map(|f| f.class),
        driver,
        kernel,
        tsm,
        registry: registry.dir().to_path_buf(),
        mediator: match entry {
            Entry::Absent => Mediator::None,
            Entry::Live(owner) => Mediator::Registered { owner },
            Entry::Stale(owner) => Mediator::Stale { owner },
            Entry::Invalid { path, reason } => Mediator::Invalid { path, reason },
        },
        vfio,
        doectl_refuses: owner.is_some(),
        owner,
        mailbox_error: config.mailboxes.err(),
        mailboxes,
        conclusion,
        notes,
    })
}

/// Reads the IDs and DOE offsets from the config file at `path`, read-only.
fn read_config(path: &Path, bdf: Bdf) -> ConfigFacts {
    let cfg = match SysfsConfig::open_path(path, Access::ReadOnly) {
        Ok(cfg) => cfg,
        Err(e) => {
            return ConfigFacts {
                ids: None,
                mailboxes: Err(format!("cannot open its config space: {e}")),
            }
        }
    };
    let ids = sysfs_scan::examine(&cfg, bdf, false).ok();
    let extended = std::fs::metadata(path).is_ok_and(|m| m.len() > u64::from(EXT_CAP_START));
    let mailboxes = if extended {
        ext_cap::find_doe_mailboxes(&cfg).map_err(|e| {
            let hint = match e {
                ExtCapError::Config(
                    ConfigError::Short(_) | ConfigError::PermissionDenied { .. },
                ) => " (reading the extended config space needs root)",
                _ => "",
            };
            format!("cannot walk its extended capabilities: {e}{hint}")
        })
    } else {
        Ok(Vec::new())
    };
    ConfigFacts { ids, mailboxes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::kernel::Presence;
    use crate::ownership::test_tree::FakeHost;

    fn bdf(text: &str) -> Bdf {
        text.parse().unwrap()
    }

    /// A CXL memory device bound to cxl_pci on a 6.15+ kernel, with a TSM registered.
    fn cxl_host() -> FakeHost {
        let host = FakeHost::new();
        host.kernel_release("6.16.0");
        host.host_tsm("tsm0");
        host.function(bdf("0d:00.0"))
            .config(0x8086, 0x0d93, 0x05_02_10, &[0x190])
            .driver("cxl_pci")
            .doe_features(&["doe_discovery", "1e98:02"]);
        host
    }

    #[test]
    fn a_cxl_function_lists_the_kernel_and_its_driver() {
        let host = cxl_host();
        let report = diagnose(&host.paths(), &host.registry(), bdf("0d:00.0")).unwrap();
        assert_eq!(report.vendor_id, Some(0x8086));
        assert_eq!(report.device_id, Some(0x0d93));
        assert_eq!(report.class, Some(0x05_02_10));
        assert_eq!(report.driver.driver.as_deref(), Some("cxl_pci"));
        assert_eq!(report.kernel.has_mailboxes, Presence::Yes);
        assert!(matches!(report.mediator, Mediator::None));
        assert_eq!(report.vfio, VfioGroup::NotVfio);
        assert!(!report.doectl_refuses);
        let mailboxes = report.mailboxes.expect("readable");
        assert_eq!(mailboxes.len(), 1);
        assert_eq!(mailboxes[0].offset, 0x190);
        let users = mailboxes[0].users.join("; ");
        assert!(users.contains("PCI core"), "{users}");
        assert!(users.contains("cxl_pci"), "{users}");
        assert!(report.conclusion.contains("drive"), "{}", report.conclusion);
    }

    #[test]
    fn a_registered_mediator_makes_doectl_refuse() {
        let host = cxl_host();
        host.process(4242, 8);
        host.function(bdf("0d:00.0"))
            .driver("vfio-pci")
            .iommu_group(7);
        host.vfio_group_node(7);
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        std::fs::write(
            registry.path_of(bdf("0d:00.0")),
            "program = \"vmm\"\npid = 4242\nstart_time = 8\nsocket = \"/run/vmm-doe.sock\"\n\
             mailboxes = [\"0x190\"]\n",
        )
        .unwrap();
        let report = diagnose(&host.paths(), &registry, bdf("0d:00.0")).unwrap();
        assert!(report.doectl_refuses);
        assert!(matches!(&report.mediator, Mediator::Registered { owner } if owner.pid == 4242));
        let users = report.mailboxes.unwrap()[0].users.join("; ");
        assert!(users.contains("vmm (pid 4242)"), "{users}");
        assert!(
            report.conclusion.contains("/run/vmm-doe.sock"),
            "{}",
            report.conclusion
        );
        let json = serde_json::to_value(&report.owner).unwrap();
        assert_eq!(json["kind"], "registered");
        assert_eq!(json["socket"], "/run/vmm-doe.sock");
    }

    #[test]
    fn a_function_without_doe_says_so() {
        let host = FakeHost::new();
        host.kernel_release("6.12.0");
        host.function(bdf("00:02.0"))
            .config(0x1af4, 0x1000, 0x02_00_00, &[])
            .driver("virtio-pci");
        let report = diagnose(&host.paths(), &host.registry(), bdf("00:02.0")).unwrap();
        assert_eq!(report.mailboxes, Some(Vec::new()));
        assert_eq!(report.kernel.has_mailboxes, Presence::No);
        assert!(
            report.conclusion.contains("no DOE"),
            "{}",
            report.conclusion
        );
    }

    #[test]
    fn unreadable_capabilities_are_reported_not_fatal() {
        let host = FakeHost::new();
        let dir = host.paths().function_dir(bdf("0d:00.0"));
        host.function(bdf("0d:00.0"));
        // What an unprivileged reader sees: the size says 4096, reads stop at 64 bytes.
        // A 257-byte file stands in: extended by its size, short past its end.
        let mut bytes = vec![0u8; 0x101];
        bytes[0..4].copy_from_slice(&0x0d93_8086u32.to_le_bytes());
        std::fs::write(dir.join("config"), &bytes).unwrap();
        let report = diagnose(&host.paths(), &host.registry(), bdf("0d:00.0")).unwrap();
        assert_eq!(report.vendor_id, Some(0x8086));
        assert_eq!(report.mailboxes, None);
        let error = report.mailbox_error.expect("an error");
        assert!(error.contains("needs root"), "{error}");
    }

    #[test]
    fn a_missing_function_is_no_such_device() {
        let host = FakeHost::new();
        let e = diagnose(&host.paths(), &host.registry(), bdf("77:00.0")).unwrap_err();
        assert!(e.to_string().starts_with("no such device"), "{e}");
    }

    #[test]
    fn stale_and_garbage_registrations_are_notes() {
        let host = cxl_host();
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        std::fs::write(
            registry.path_of(bdf("0d:00.0")),
            "program = \"vmm\"\npid = 999999\n",
        )
        .unwrap();
        let report = diagnose(&host.paths(), &registry, bdf("0d:00.0")).unwrap();
        assert!(!report.doectl_refuses);
        assert!(matches!(report.mediator, Mediator::Stale { .. }));
        assert!(
            report.notes[0].contains("process is gone"),
            "{:?}",
            report.notes
        );
        std::fs::write(registry.path_of(bdf("0d:00.0")), "[[[").unwrap();
        let report = diagnose(&host.paths(), &registry, bdf("0d:00.0")).unwrap();
        assert!(matches!(report.mediator, Mediator::Invalid { .. }));
        assert!(report.notes[0].contains("ignoring"), "{:?}", report.notes);
    }
}
