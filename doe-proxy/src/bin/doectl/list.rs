//! `doectl list`: every function with DOE mailboxes, and the mediator that owns each (from
//! the owner registry only: a listing opens no VFIO group).

use doe_proxy::config_space::ConfigError;
use doe_proxy::ownership::{Entry, OwnerRecord, Registry};
use doe_proxy::sysfs_scan::{self, DoeFunction};
use serde::Serialize;

use crate::exit::ToolError;

/// One function of a listing.
#[derive(Serialize)]
pub struct Listed {
    /// The function and its mailboxes.
    #[serde(flatten)]
    pub function: DoeFunction,
    /// The mediator registered for it, if any (never set for a DOE socket's listing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRecord>,
}

/// Runs `doectl list`.
pub fn run(json: bool) -> Result<(), ToolError> {
    let functions = sysfs_scan::all_functions()
        .map_err(|e| ToolError::Other(format!("cannot list PCI functions: {e}")))?;
    let registry = Registry::from_env();
    let mut found: Vec<Listed> = Vec::new();
    for bdf in functions {
        match sysfs_scan::examine_sysfs(bdf) {
            Ok(function) if !function.mailboxes.is_empty() => found.push(Listed {
                function,
                owner: match registry.entry(bdf) {
                    Entry::Live(owner) => Some(owner),
                    _ => None,
                },
            }),
            Ok(_) => {}
            // A function that vanished while we looked is not an error of the listing.
            Err(e) if matches!(e.config(), Some(ConfigError::NoSuchDevice { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    print(&found, json)
}

/// Prints a listing (of the hardware, or of what a DOE socket serves).
pub fn print(found: &[Listed], json: bool) -> Result<(), ToolError> {
    if json {
        return crate::print_json(&found);
    }
    if found.is_empty() {
        println!("no PCI function has a DOE mailbox");
    }
    for Listed { function: f, owner } in found {
        let offsets: Vec<String> = f.mailboxes.iter().map(|o| format!("{o:#x}")).collect();
        let owned = owner
            .as_ref()
            .map(|o| match &o.socket {
                Some(socket) => format!("  owned by {o}, socket {}", socket.display()),
                None => format!("  owned by {o}, no socket"),
            })
            .unwrap_or_default();
        println!(
            "{}  [{:04x}:{:04x}] class {:06x}  DOE mailbox(es) at {}{owned}",
            f.device,
            f.vendor_id,
            f.device_id,
            f.class,
            offsets.join(", ")
        );
    }
    Ok(())
}
