//! Opening a function's mailboxes for the commands that drive them.

use doe_proxy::config_space::{Access, SysfsConfig};
use doe_proxy::mailbox::Mailbox;
use doe_proxy::pci_address::Bdf;
use doe_proxy::sysfs_scan;

use crate::exit::ToolError;
use crate::MailboxArgs;

/// Every DOE offset of `bdf`, from its config space.
pub fn all_offsets(bdf: Bdf) -> Result<Vec<u16>, ToolError> {
    Ok(sysfs_scan::examine_sysfs(bdf)?.mailboxes)
}

/// Of `all` (the offsets of `bdf`), the one given with `--mailbox` (checked), or all.
pub fn pick_offsets(bdf: Bdf, all: Vec<u16>, wanted: Option<u16>) -> Result<Vec<u16>, ToolError> {
    if all.is_empty() {
        return Err(ToolError::NoDoe(bdf));
    }
    match wanted {
        None => Ok(all),
        Some(offset) if all.contains(&offset) => Ok(vec![offset]),
        Some(offset) => Err(ToolError::NoMailboxAt {
            bdf,
            offset,
            have: all
                .iter()
                .map(|o| format!("{o:#x}"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A driver for the mailbox at `offset` of `bdf` (read-write: needs root).
pub fn mailbox(
    bdf: Bdf,
    offset: u16,
    args: &MailboxArgs,
) -> Result<Mailbox<SysfsConfig>, ToolError> {
    let cfg = SysfsConfig::open(&bdf, Access::ReadWrite)?;
    Ok(Mailbox::new(cfg, offset, args.config())?)
}
