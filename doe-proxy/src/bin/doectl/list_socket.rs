//! `doectl --socket <path> list`: the functions and mailboxes a DOE socket serves, printed
//! as `doectl list` prints the hardware's.

use doe_proxy::socket::SocketClient;
use doe_proxy::sysfs_scan::DoeFunction;

use crate::exit::ToolError;

/// Runs `doectl --socket <path> list`.
pub fn run(client: &mut SocketClient, json: bool) -> Result<(), ToolError> {
    let found = client
        .list()?
        .into_iter()
        .map(|f| {
            let function = DoeFunction {
                device: f.device.parse().map_err(|e| {
                    ToolError::Malformed(format!("the socket listed {:?}: {e}", f.device))
                })?,
                vendor_id: f.vendor_id,
                device_id: f.device_id,
                class: f.class,
                mailboxes: f.mailboxes,
            };
            Ok(crate::list::Listed {
                function,
                owner: None,
            })
        })
        .collect::<Result<Vec<_>, ToolError>>()?;
    crate::list::print(&found, json)
}
