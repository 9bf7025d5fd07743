//! Which kernel drivers may exchange on a function's DOE mailboxes themselves: the one
//! answer `doectl doctor` reports and `doe-proxyd` refuses a function by. From the Linux
//! sources (`/work/shared/reference/doe-sources.md` §2.4, §2.7, §5): since 6.4 the PCI core
//! creates the mailboxes and drivers find theirs with `pci_find_doe_mailbox`; the CXL core
//! reads CDAT that way; no other in-tree driver is known to. The PCI core itself and a TSM
//! are users whatever the driver (`kernel.rs`, `tsm.rs`).

use serde::Serialize;

use super::vfio::is_vfio_driver;

/// Whether a bound driver may use the function's DOE mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoeUse {
    /// It does.
    Yes,
    /// It may: unknown to this tool, or it depends on the device.
    Maybe,
    /// It does not.
    No,
    /// The function belongs to a VFIO user (a VMM), which may drive the registers raw.
    Vfio,
}

/// A function's driver and what it does with DOE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverDoe {
    /// The bound driver; `None` when none is.
    pub driver: Option<String>,
    /// Whether it may use the mailboxes.
    pub uses_doe: DoeUse,
    /// Why, in words.
    pub reason: String,
}

impl DriverDoe {
    /// What the kernel driver `driver` (none when `None`) does with DOE.
    pub fn of(driver: Option<&str>) -> Self {
        let (uses_doe, reason) = match driver {
            None => (DoeUse::No, "no driver is bound"),
            Some("pci-stub") => (
                DoeUse::No,
                "pci-stub only claims the function and never touches it",
            ),
            Some(d) if is_vfio_driver(d) => (
                DoeUse::Vfio,
                "its VFIO user, a VMM and its guest, can drive the DOE registers raw through \
                 the VFIO config region",
            ),
            Some("cxl_pci") => (
                DoeUse::Yes,
                "the CXL core reads the device's CDAT (1e98:02) through the mailbox the PCI core \
                 created, when it probes the memory device's port",
            ),
            Some("pcieport") => (
                DoeUse::Maybe,
                "on a CXL switch or root port the CXL core reads the port's CDAT through its \
                 mailbox",
            ),
            Some("nvme") => (
                DoeUse::No,
                "the in-tree nvme driver does not use DOE (CMA/SPDM is the PCI core's or a \
                 TSM's, listed apart)",
            ),
            Some(_) => (
                DoeUse::Maybe,
                "a driver this tool does not know: any kernel driver can use a mailbox the PCI \
                 core created (pci_find_doe_mailbox)",
            ),
        };
        DriverDoe {
            driver: driver.map(str::to_owned),
            uses_doe,
            reason: reason.to_owned(),
        }
    }

    /// Whether the driver itself may exchange on the mailboxes (a kernel requester).
    pub fn may_use_doe(&self) -> bool {
        matches!(self.uses_doe, DoeUse::Yes | DoeUse::Maybe)
    }

    /// Why a mediator should not take the function, if the driver may use its mailboxes.
    pub fn conflict(&self) -> Option<String> {
        let driver = self.driver.as_deref()?;
        self.may_use_doe().then(|| {
            format!(
                "it is bound to the kernel driver {driver}, which may exchange on its DOE \
                 mailboxes itself ({}); two requesters on one mailbox corrupt each other's \
                 exchanges. Unbind it (or bind it to pci-stub or vfio-pci)",
                self.reason
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_are_sorted_by_what_they_do_with_doe() {
        let cases = [
            (None, DoeUse::No),
            (Some("pci-stub"), DoeUse::No),
            (Some("vfio-pci"), DoeUse::Vfio),
            (Some("cxl_pci"), DoeUse::Yes),
            (Some("pcieport"), DoeUse::Maybe),
            (Some("nvme"), DoeUse::No),
            (Some("mystery"), DoeUse::Maybe),
        ];
        for (driver, uses) in cases {
            let d = DriverDoe::of(driver);
            assert_eq!(d.uses_doe, uses, "{driver:?}");
            assert_eq!(d.driver.as_deref(), driver);
            assert!(!d.reason.is_empty());
        }
    }

    #[test]
    fn only_a_kernel_driver_that_may_use_doe_is_a_conflict() {
        let conflict = DriverDoe::of(Some("cxl_pci")).conflict().expect("cxl_pci");
        assert!(conflict.contains("cxl_pci"), "{conflict}");
        assert!(conflict.contains("CDAT"), "{conflict}");
        assert!(DriverDoe::of(Some("mystery")).conflict().is_some());
        for free in [None, Some("pci-stub"), Some("vfio-pci"), Some("nvme")] {
            assert_eq!(DriverDoe::of(free).conflict(), None, "{free:?}");
        }
    }
}
