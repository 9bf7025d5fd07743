//! Taking ownership of the functions' mailboxes: one mediator per DOE capability, reached
//! through the function's sysfs `config`, after checking that nobody else may use it.

use std::sync::Arc;

use doe_proxy::config_space::{Access, ConfigSpace, SysfsConfig};
use doe_proxy::ext_cap::find_doe_mailboxes;
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{Mediator, MediatorConfig};
use doe_proxy::ownership::tsm::tsm_state;
use doe_proxy::ownership::{find_owner, DriverDoe, HostPaths, Registry};
use doe_proxy::pci_address::Bdf;
use doe_proxy::socket::ServedMailbox;
use policies::FunctionId;

/// Why doe-proxyd should not take `bdf` (without `--force`), if it should not: its kernel
/// driver may use DOE (the shared judgement of `doectl doctor`), a TSM holds its CMA/SPDM
/// mailbox, or another mediator owns it (registered, or a VFIO user holding its group).
pub fn refusal(host: &HostPaths, registry: &Registry, bdf: Bdf) -> Option<String> {
    let mut reasons = Vec::new();
    if let Some(conflict) = DriverDoe::of(host.bound_driver(bdf).as_deref()).conflict() {
        reasons.push(conflict);
    }
    if let Some(tsm) = tsm_state(host, bdf).connected() {
        reasons.push(format!(
            "the TSM {tsm} is connected to it: the host kernel exchanges on its CMA/SPDM mailbox"
        ));
    }
    let check = find_owner(host, registry, bdf);
    for warning in check.warnings {
        log::warn!("{warning}");
    }
    if let Some(owner) = check.owner {
        reasons.push(match owner.socket() {
            Some(socket) => format!(
                "its DOE mailboxes are owned by {owner}, serving them on {}",
                socket.display()
            ),
            None => format!("its DOE mailboxes are owned by {owner}"),
        });
    }
    (!reasons.is_empty()).then(|| {
        format!(
            "{bdf}: {}; pass --force to serve it anyway",
            reasons.join("; ")
        )
    })
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use super::*;

    /// A host tree with one function bound to `driver`, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn with_driver(name: &str, driver: Option<&str>) -> (Tree, Bdf) {
            let root = std::env::temp_dir()
                .join(format!("doe-proxyd-serve-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            let bdf: Bdf = "0000:0d:00.0".parse().unwrap();
            let host = HostPaths::under(&root);
            let dir = host.function_dir(bdf);
            std::fs::create_dir_all(&dir).unwrap();
            if let Some(driver) = driver {
                let target = root.join("sys/bus/pci/drivers").join(driver);
                std::fs::create_dir_all(&target).unwrap();
                symlink(target, dir.join("driver")).unwrap();
            }
            (Tree(root), bdf)
        }

        fn host(&self) -> HostPaths {
            HostPaths::under(&self.0)
        }

        fn registry(&self) -> Registry {
            Registry::new(self.0.join("owners"))
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_driver_that_uses_doe_is_refused_with_the_reason() {
        let (tree, bdf) = Tree::with_driver("cxl", Some("cxl_pci"));
        let reason = refusal(&tree.host(), &tree.registry(), bdf).expect("refused");
        assert!(reason.starts_with("0000:0d:00.0: it is bound to the kernel driver cxl_pci"));
        assert!(reason.contains("CDAT"), "{reason}");
        assert!(
            reason.ends_with("pass --force to serve it anyway"),
            "{reason}"
        );
    }

    #[test]
    fn a_function_nobody_else_uses_is_taken() {
        for (name, driver) in [
            ("none", None),
            ("stub", Some("pci-stub")),
            ("nvme", Some("nvme")),
        ] {
            let (tree, bdf) = Tree::with_driver(name, driver);
            assert_eq!(
                refusal(&tree.host(), &tree.registry(), bdf),
                None,
                "{driver:?}"
            );
        }
    }

    #[test]
    fn a_registered_mediator_is_refused() {
        let (tree, bdf) = Tree::with_driver("owned", None);
        let registry = tree.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        std::fs::write(
            registry.path_of(bdf),
            format!(
                "program = \"vmm\"\npid = {}\nsocket = \"/run/v.sock\"\n",
                std::process::id()
            ),
        )
        .unwrap();
        let reason = refusal(&tree.host(), &registry, bdf).expect("refused");
        assert!(
            reason.contains("owned by vmm (pid") && reason.contains("serving them on /run/v.sock"),
            "{reason}"
        );
    }
}
