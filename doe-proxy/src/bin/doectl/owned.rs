//! The check before driving a function's registers: if a mediator owns its DOE mailboxes
//! (`doe_proxy::ownership`: a registered `vmm` or `doe-proxyd`, or a VFIO user holding its
//! group), `doectl` refuses (exit 9) and names the socket to use, unless `--force`.

use doe_proxy::ownership::{find_owner, HostPaths, Owner, Registry};
use doe_proxy::pci_address::Bdf;

use crate::exit::ToolError;

/// Refuses `bdf` if it is owned; with `force`, warns that the mediator is bypassed instead.
/// Runs before any access to the function (it needs not even exist).
pub fn check(bdf: Bdf, force: bool) -> Result<(), ToolError> {
    if force {
        eprintln!(
            "doectl: warning: --force: driving the registers of {bdf} without asking who owns \
             its DOE mailboxes; a mediator's exchanges and these may corrupt each other"
        );
        return Ok(());
    }
    let check = find_owner(&HostPaths::system(), &Registry::from_env(), bdf);
    for warning in &check.warnings {
        eprintln!("doectl: warning: {warning}");
    }
    match check.owner {
        None => Ok(()),
        Some(owner) => Err(ToolError::Owned(refusal(bdf, &owner))),
    }
}

/// Why `doectl` does not drive `bdf`, and what to do instead.
pub fn refusal(bdf: Bdf, owner: &Owner) -> String {
    const FORCE: &str = "--force to drive the registers anyway";
    match (owner, owner.socket()) {
        (Owner::Registered(_), Some(socket)) => format!(
            "{bdf}: its DOE mailboxes are owned by {owner}; use doectl --socket {} ..., or {FORCE}",
            socket.display()
        ),
        (Owner::Registered(_), None) => format!(
            "{bdf}: its DOE mailboxes are owned by {owner}, which serves them on no DOE socket \
             (vmm --doe-socket would); or {FORCE}"
        ),
        (Owner::VfioUser { .. }, _) => format!(
            "{bdf}: its DOE mailboxes are in use by {owner}, which registered no DOE socket; \
             {FORCE}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use doe_proxy::ownership::OwnerRecord;

    use super::*;

    fn bdf() -> Bdf {
        "0000:0d:00.0".parse().unwrap()
    }

    fn vmm(socket: Option<&str>) -> Owner {
        Owner::Registered(OwnerRecord {
            program: "vmm".to_owned(),
            pid: 1234,
            start_time: None,
            socket: socket.map(PathBuf::from),
            mailboxes: vec![0x190],
        })
    }

    #[test]
    fn the_refusal_names_the_owner_and_the_socket() {
        assert_eq!(
            refusal(bdf(), &vmm(Some("/run/vmm-doe.sock"))),
            "0000:0d:00.0: its DOE mailboxes are owned by vmm (pid 1234); use doectl --socket \
             /run/vmm-doe.sock ..., or --force to drive the registers anyway"
        );
    }

    #[test]
    fn the_refusal_says_when_there_is_no_socket() {
        let text = refusal(bdf(), &vmm(None));
        assert!(text.contains("owned by vmm (pid 1234), which serves them on no DOE socket"));
        assert!(
            text.ends_with("--force to drive the registers anyway"),
            "{text}"
        );
        let text = refusal(bdf(), &Owner::VfioUser { group: 7 });
        assert!(text.contains("in use by a VFIO user (group 7)"), "{text}");
    }

    #[test]
    fn an_owned_function_is_exit_9() {
        assert_eq!(ToolError::Owned(String::new()).exit_code(), 9);
    }
}
