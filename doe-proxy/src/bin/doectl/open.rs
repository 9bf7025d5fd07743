//! Opening a function's mailboxes for the commands that drive them.

use doe_proxy::config_space::{Access, SysfsConfig};
use doe_proxy::mailbox::Mailbox;
use doe_proxy::pci_address::Bdf;
use doe_proxy::sysfs_scan;

use crate::exit::ToolError;
use crate::MailboxArgs;

/// The DOE offsets of `bdf` to use: the one given with `--mailbox` (checked), or all.
pub fn mailbox_offsets(bdf: Bdf, args: &MailboxArgs) -> Result<Vec<u16>, ToolError> {
    let function = sysfs_scan::examine_sysfs(bdf)?;
    if function.mailboxes.is_empty() {
        return Err(ToolError::NoDoe(bdf));
    }
    match args.mailbox {
        None => Ok(function.mailboxes),
        Some(offset) if function.mailboxes.contains(&offset) => Ok(vec![offset]),
        Some(offset) => Err(ToolError::NoMailboxAt {
            bdf,
            offset,
            have: function
                .mailboxes
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
