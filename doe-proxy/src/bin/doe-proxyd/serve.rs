//! Taking ownership of the functions' mailboxes: one mediator per DOE capability, reached
//! through the function's sysfs `config`, after checking that no kernel driver may use it.

use std::path::Path;
use std::sync::Arc;

use doe_proxy::config_space::{Access, ConfigSpace, SysfsConfig, SYSFS_PCI_DEVICES};
use doe_proxy::ext_cap::find_doe_mailboxes;
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{Mediator, MediatorConfig};
use doe_proxy::pci_address::Bdf;
use doe_proxy::socket::ServedMailbox;
use policies::FunctionId;

/// Drivers that do not use a function's DOE mailboxes themselves (vfio-pci hands the
/// function to user space, which is why a VMM owning it is reported separately).
const DOE_FREE_DRIVERS: &[&str] = &["pci-stub", "vfio-pci"];

/// The driver bound to `bdf`, if any.
pub fn bound_driver(bdf: Bdf) -> Option<String> {
    let link = Path::new(SYSFS_PCI_DEVICES)
        .join(bdf.to_string())
        .join("driver");
    std::fs::read_link(link)
        .ok()
        .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Why doe-proxyd should not take `bdf` (without `--force`), if it should not.
pub fn refusal(bdf: Bdf) -> Option<String> {
    let driver = bound_driver(bdf)?;
    if DOE_FREE_DRIVERS.contains(&driver.as_str()) {
        return None;
    }
    Some(format!(
        "{bdf} is bound to the kernel driver {driver}, which may exchange on its DOE mailboxes \
         itself (e.g. cxl_pci reads CDAT, a TSM or the PCI core's CMA authenticates); two \
         requesters on one mailbox corrupt each other's exchanges. Unbind it (or bind it to \
         pci-stub), or pass --force to serve it anyway"
    ))
}

/// Starts a mediator for every DOE mailbox of `bdf`.
pub fn serve_function(bdf: Bdf, config: MediatorConfig) -> Result<Vec<ServedMailbox>, String> {
    let cfg = SysfsConfig::open(&bdf, Access::ReadWrite).map_err(|e| format!("{bdf}: {e}"))?;
    let ids = cfg.read_u32(0).map_err(|e| format!("{bdf}: {e}"))?;
    let class = cfg.read_u32(0x08).map_err(|e| format!("{bdf}: {e}"))? >> 8;
    let function = FunctionId::new(bdf, ids as u16, (ids >> 16) as u16);
    let offsets = find_doe_mailboxes(&cfg).map_err(|e| format!("{bdf}: {e}"))?;
    if offsets.is_empty() {
        return Err(format!("{bdf} has no DOE mailbox"));
    }
    let mut served = Vec::new();
    for offset in offsets {
        // One file per mailbox: each mediator owns its transport.
        let own = SysfsConfig::open(&bdf, Access::ReadWrite).map_err(|e| format!("{bdf}: {e}"))?;
        let mailbox = Mailbox::new(own, offset, MailboxConfig::default())
            .map_err(|e| format!("{bdf} DOE at {offset:#x}: {e}"))?;
        let mediator = Mediator::start(mailbox, config)
            .map_err(|e| format!("{bdf} DOE at {offset:#x}: {e}"))?;
        let discovered = mediator.discovered();
        if discovered.is_empty() {
            log::warn!("{bdf}: DOE at {offset:#x} served, but not usable yet (retrying)");
        } else {
            log::info!(
                "{bdf}: DOE at {offset:#x} served ({})",
                discovered
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        served.push(ServedMailbox {
            function,
            class,
            mediator: Arc::new(mediator),
        });
    }
    Ok(served)
}
