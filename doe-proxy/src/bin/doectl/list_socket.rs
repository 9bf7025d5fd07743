//! `doectl --socket <path> list`: the functions and mailboxes a DOE socket serves, printed
//! as `doectl list` prints the hardware's.

use doe_proxy::socket::SocketClient;
use serde::Serialize;

use crate::exit::ToolError;

/// One function, with the fields `doectl list --json` prints.
#[derive(Serialize)]
struct Listed {
    device: String,
    vendor_id: u16,
    device_id: u16,
    class: u32,
    mailboxes: Vec<u16>,
}

/// Runs `doectl --socket <path> list`.
pub fn run(client: &mut SocketClient, json: bool) -> Result<(), ToolError> {
    let served = client.list()?;
    let found: Vec<Listed> = served
        .into_iter()
        .map(|f| Listed {
            device: f.device,
            vendor_id: f.vendor_id,
            device_id: f.device_id,
            class: f.class,
            mailboxes: f.mailboxes,
        })
        .collect();
    if json {
        return crate::print_json(&found);
    }
    if found.is_empty() {
        println!("no PCI function has a DOE mailbox");
    }
    for f in &found {
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
