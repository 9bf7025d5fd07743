//! The doctor's verdicts: who may exchange on one mailbox, and what `doectl` would do.

use super::driver::{DoeUse, DriverDoe};
use super::kernel::{KernelDoe, Presence};
use super::tsm::TsmState;
use super::vfio::VfioGroup;
use super::{Owner, PROGRAM_VMM};
use crate::ownership::doctor::MailboxUsers;

/// Everyone who may use the mailbox at `offset`, in words.
pub(super) fn mailbox_users(
    offset: u16,
    driver: &DriverDoe,
    kernel: &KernelDoe,
    tsm: &TsmState,
    vfio: &VfioGroup,
    owner: Option<&Owner>,
) -> Vec<String> {
    let mut users = Vec::new();
    match kernel.has_mailboxes {
        Presence::Yes => {
            users.push("the host kernel's PCI core (it created this mailbox)".to_owned())
        }
        Presence::Unknown => {
            users.push("perhaps the host kernel's PCI core (see the kernel line)".to_owned())
        }
        Presence::No => {}
    }
    if let (true, Some(name)) = (driver.may_use_doe(), &driver.driver) {
        let how = if driver.uses_doe == DoeUse::Yes {
            ""
        } else {
            "perhaps "
        };
        users.push(format!("{how}the kernel driver {name}"));
    }
    if let Some(name) = tsm.connected() {
        users.push(format!("the TSM {name}, if this is the CMA/SPDM mailbox"));
    }
    match owner {
        Some(Owner::Registered(record))
            if record.mailboxes.is_empty() || record.mailboxes.contains(&offset) =>
        {
            users.push(format!("{record}, its registered mediator"));
        }
        _ => {}
    }
    // A VFIO user that did not register (a registered vmm is that VFIO user itself).
    let registered_vmm = matches!(owner, Some(Owner::Registered(r)) if r.program == PROGRAM_VMM);
    if let (VfioGroup::InUse { group }, false) = (vfio, registered_vmm) {
        users.push(format!(
            "a VFIO user of group {group} (and perhaps its guest)"
        ));
    }
    users
}

/// One sentence: what `doectl` without `--socket` does with the function.
pub(super) fn conclusion(owner: Option<&Owner>, mailboxes: Option<&[MailboxUsers]>) -> String {
    if let Some(owner) = owner {
        let how = match owner.socket() {
            Some(socket) => format!("use doectl --socket {}", socket.display()),
            None => "it serves no DOE socket".to_owned(),
        };
        return format!(
            "doectl refuses to drive its registers: owned by {owner}; {how} (or --force)"
        );
    }
    match mailboxes {
        Some([]) => "it has no DOE mailbox: nothing to share".to_owned(),
        None => "no mediator owns it: doectl would drive its registers (the mailboxes could \
                 not be read)"
            .to_owned(),
        Some(mailboxes) if mailboxes.iter().all(|m| m.users.is_empty()) => {
            "no mediator owns it and nobody else uses its mailboxes: doectl would drive its \
             registers"
                .to_owned()
        }
        Some(_) => "no mediator owns it: doectl would drive its registers, beside the users \
                    listed, and their exchanges may collide"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::ownership::tsm::Connection;
    use crate::ownership::OwnerRecord;

    fn kernel(has: Presence) -> KernelDoe {
        KernelDoe {
            has_mailboxes: has,
            release: None,
            how: String::new(),
        }
    }

    fn tsm(connection: Connection) -> TsmState {
        TsmState {
            connection,
            host_tsms: Vec::new(),
            security_manager: None,
        }
    }

    fn vmm(socket: Option<&str>) -> Owner {
        Owner::Registered(OwnerRecord {
            program: "vmm".to_owned(),
            pid: 12,
            start_time: None,
            socket: socket.map(PathBuf::from),
            mailboxes: vec![0x190],
        })
    }

    #[test]
    fn every_kind_of_user_is_listed() {
        let users = mailbox_users(
            0x190,
            &DriverDoe::of(Some("cxl_pci")),
            &kernel(Presence::Yes),
            &tsm(Connection::Connected {
                tsm: "tsm0".to_owned(),
            }),
            &VfioGroup::InUse { group: 3 },
            None,
        );
        assert_eq!(users.len(), 4, "{users:?}");
        assert!(users[1].contains("cxl_pci"));
        assert!(users[2].contains("tsm0"));
        assert!(users[3].contains("group 3"));
    }

    #[test]
    fn a_registered_vmm_is_its_own_vfio_user() {
        let users = mailbox_users(
            0x190,
            &DriverDoe::of(Some("vfio-pci")),
            &kernel(Presence::No),
            &tsm(Connection::Absent),
            &VfioGroup::InUse { group: 3 },
            Some(&vmm(None)),
        );
        assert_eq!(users, vec!["vmm (pid 12), its registered mediator"]);
        // A mailbox the registration does not name is not the mediator's.
        let other = mailbox_users(
            0x1b0,
            &DriverDoe::of(None),
            &kernel(Presence::No),
            &tsm(Connection::Absent),
            &VfioGroup::NotVfio,
            Some(&vmm(None)),
        );
        assert!(other.is_empty(), "{other:?}");
    }

    #[test]
    fn the_conclusion_names_the_socket_or_its_absence() {
        let with = conclusion(Some(&vmm(Some("/run/d.sock"))), None);
        assert!(with.contains("doectl --socket /run/d.sock"), "{with}");
        let without = conclusion(Some(&vmm(None)), None);
        assert!(without.contains("serves no DOE socket"), "{without}");
        let vfio = conclusion(Some(&Owner::VfioUser { group: 7 }), None);
        assert!(vfio.contains("a VFIO user (group 7)"), "{vfio}");
    }

    #[test]
    fn without_an_owner_the_conclusion_weighs_the_other_users() {
        let lone = [MailboxUsers {
            offset: 0x190,
            users: Vec::new(),
        }];
        assert!(conclusion(None, Some(&lone)).contains("nobody else"));
        let shared = [MailboxUsers {
            offset: 0x190,
            users: vec!["x".to_owned()],
        }];
        assert!(conclusion(None, Some(&shared)).contains("collide"));
        assert!(conclusion(None, Some(&[])).contains("no DOE mailbox"));
    }
}
