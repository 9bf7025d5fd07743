//! Who else may use a function's DOE mailboxes: one owner per mailbox.
//!
//! A mediator (`vmm`, `doe-proxyd`) that drives a function's mailboxes registers itself in
//! the owner registry ([`Registry`]: one file per function under `/run/doe-proxy/owners`,
//! or `$DOE_PROXY_OWNER_DIR`) for as long as it runs, naming its DOE socket. An owner that
//! never registered (QEMU, another VMM) is found through VFIO: a function bound to
//! `vfio-pci` whose IOMMU group is open elsewhere ([`vfio::probe`]). [`find_owner`] asks
//! both; `doectl` refuses to drive an owned function's registers and names the socket to
//! use instead. The kernel's own users (the PCI core, the bound driver, a TSM) are no owner
//! `doectl` can defer to, but `doectl doctor` reports them ([`doctor`]), and `doe-proxyd`
//! refuses a function whose driver may use DOE ([`DriverDoe`]).

pub mod doctor;
pub mod driver;
pub mod host;
pub mod kernel;
pub mod liveness;
pub mod record;
pub mod registration;
pub mod registry;
pub mod tsm;
mod users;
pub mod vfio;

#[cfg(test)]
mod test_tree;

use std::fmt;
use std::path::Path;

pub use driver::{DoeUse, DriverDoe};
pub use host::HostPaths;
pub use record::{OwnerRecord, PROGRAM_DOE_PROXYD, PROGRAM_VMM};
pub use registration::{register_served, Registration};
pub use registry::{Claim, Entry, RegisterError, Registry, DEFAULT_OWNER_DIR, OWNER_DIR_ENV};
pub use vfio::VfioGroup;

use crate::pci_address::Bdf;

/// Who owns a function's DOE mailboxes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Owner {
    /// A running mediator registered it.
    Registered(OwnerRecord),
    /// A VFIO user holds the function's IOMMU group (it did not register).
    VfioUser {
        /// The IOMMU group.
        group: u32,
    },
}

impl Owner {
    /// The owner these facts show: a live registration first, else a busy VFIO group.
    pub fn from_facts(entry: &Entry, vfio: &VfioGroup) -> Option<Owner> {
        match (entry, vfio) {
            (Entry::Live(record), _) => Some(Owner::Registered(record.clone())),
            (_, VfioGroup::InUse { group }) => Some(Owner::VfioUser { group: *group }),
            _ => None,
        }
    }

    /// The DOE socket on which the owner shares the mailboxes, if any.
    pub fn socket(&self) -> Option<&Path> {
        match self {
            Owner::Registered(record) => record.socket.as_deref(),
            Owner::VfioUser { .. } => None,
        }
    }
}

impl fmt::Display for Owner {
    /// `vmm (pid 1234)`, `a VFIO user (group 7)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Registered(record) => write!(f, "{record}"),
            Owner::VfioUser { group } => write!(f, "a VFIO user (group {group})"),
        }
    }
}

/// The owner of `bdf` and the warnings met on the way (a registry file that is not a
/// registration: ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerCheck {
    /// The owner, if any.
    pub owner: Option<Owner>,
    /// What was ignored, one line each.
    pub warnings: Vec<String>,
}

/// Finds the owner of `bdf`: its live registration, else a busy VFIO group (probed only if
/// nobody registered it). Touches no register of the function.
pub fn find_owner(host: &HostPaths, registry: &Registry, bdf: Bdf) -> OwnerCheck {
    let entry = registry.entry(bdf);
    let warnings = entry_warning(&entry).into_iter().collect();
    let vfio = match entry {
        Entry::Live(_) => VfioGroup::NotVfio,
        _ => vfio::probe(host, bdf),
    };
    OwnerCheck {
        owner: Owner::from_facts(&entry, &vfio),
        warnings,
    }
}

/// The warning a registry entry deserves, if any.
pub fn entry_warning(entry: &Entry) -> Option<String> {
    match entry {
        Entry::Invalid { path, reason } => Some(format!(
            "ignoring {}: not an owner registration ({reason})",
            path.display()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_tree::FakeHost;

    fn bdf() -> Bdf {
        "0000:0d:00.0".parse().unwrap()
    }

    #[test]
    fn a_live_registration_is_the_owner() {
        let host = FakeHost::new();
        host.process(4242, 1);
        host.function(bdf()).driver("vfio-pci").iommu_group(7);
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        std::fs::write(
            registry.path_of(bdf()),
            "program = \"vmm\"\npid = 4242\nsocket = \"/run/vmm-doe.sock\"\n",
        )
        .unwrap();
        let check = find_owner(&host.paths(), &registry, bdf());
        let owner = check.owner.expect("owned");
        assert_eq!(owner.to_string(), "vmm (pid 4242)");
        assert_eq!(owner.socket(), Some(Path::new("/run/vmm-doe.sock")));
        assert!(check.warnings.is_empty());
    }

    #[test]
    fn without_a_registration_a_busy_group_is_the_owner() {
        let facts = Owner::from_facts(&Entry::Absent, &VfioGroup::InUse { group: 7 });
        assert_eq!(facts, Some(Owner::VfioUser { group: 7 }));
        assert_eq!(facts.unwrap().to_string(), "a VFIO user (group 7)");
        assert_eq!(
            Owner::from_facts(&Entry::Absent, &VfioGroup::Free { group: 7 }),
            None
        );
    }

    #[test]
    fn garbage_in_the_registry_is_a_warning_not_an_owner() {
        let host = FakeHost::new();
        host.function(bdf());
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        std::fs::write(registry.path_of(bdf()), "pid = \"many\"").unwrap();
        let check = find_owner(&host.paths(), &registry, bdf());
        assert_eq!(check.owner, None);
        assert_eq!(check.warnings.len(), 1);
        assert!(
            check.warnings[0].contains("ignoring"),
            "{:?}",
            check.warnings
        );
    }

    #[test]
    fn nothing_registered_and_no_vfio_is_no_owner() {
        let host = FakeHost::new();
        host.function(bdf()).driver("cxl_pci");
        let check = find_owner(&host.paths(), &host.registry(), bdf());
        assert_eq!(check.owner, None);
        assert!(check.warnings.is_empty());
    }
}
