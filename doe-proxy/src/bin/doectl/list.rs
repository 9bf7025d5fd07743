//! `doectl list`: every function with DOE mailboxes.

use doe_proxy::config_space::ConfigError;
use doe_proxy::sysfs_scan::{self, DoeFunction};

use crate::exit::ToolError;

/// Runs `doectl list`.
pub fn run(json: bool) -> Result<(), ToolError> {
    let functions = sysfs_scan::all_functions()
        .map_err(|e| ToolError::Other(format!("cannot list PCI functions: {e}")))?;
    let mut found: Vec<DoeFunction> = Vec::new();
    for bdf in functions {
        match sysfs_scan::examine_sysfs(bdf) {
            Ok(f) if !f.mailboxes.is_empty() => found.push(f),
            Ok(_) => {}
            // A function that vanished while we looked is not an error of the listing.
            Err(e) if matches!(e.config(), Some(ConfigError::NoSuchDevice { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    print(&found, json)
}

/// Prints a listing (of the hardware, or of what a DOE socket serves).
pub fn print(found: &[DoeFunction], json: bool) -> Result<(), ToolError> {
    if json {
        return crate::print_json(&found);
    }
    if found.is_empty() {
        println!("no PCI function has a DOE mailbox");
    }
    for f in found {
        let offsets: Vec<String> = f.mailboxes.iter().map(|o| format!("{o:#x}")).collect();
        println!(
            "{}  [{:04x}:{:04x}] class {:06x}  DOE mailbox(es) at {}",
            f.device,
            f.vendor_id,
            f.device_id,
            f.class,
            offsets.join(", ")
        );
    }
    Ok(())
}
