//! `doectl doctor <BDF>`: who else may use the function's DOE mailboxes (the report is built
//! by `doe_proxy::ownership::doctor`, without touching a register), printed for a person or
//! as JSON.

use std::fmt::Write;

use doe_proxy::ownership::doctor::{diagnose, DoctorReport, Mediator};
use doe_proxy::ownership::kernel::{Presence, KERNEL_USE_NOTE};
use doe_proxy::ownership::tsm::Connection;
use doe_proxy::ownership::{DoeUse, HostPaths, Registry, VfioGroup};
use doe_proxy::pci_address::Bdf;

use crate::exit::ToolError;

/// Runs `doectl doctor`.
pub fn run(bdf: Bdf, json: bool) -> Result<(), ToolError> {
    let report = diagnose(&HostPaths::system(), &Registry::from_env(), bdf)
        .map_err(|e| ToolError::NoSuchDevice(e.0.display().to_string()))?;
    if json {
        return crate::print_json(&report);
    }
    print!("{}", render(&report));
    Ok(())
}

/// The report as text: one line per fact, a label in a column.
pub fn render(r: &DoctorReport) -> String {
    let mut out = String::new();
    let hex = |v: Option<u16>| v.map_or_else(|| "????".to_owned(), |v| format!("{v:04x}"));
    let class = r
        .class
        .map_or_else(|| "unknown".to_owned(), |c| format!("{c:06x}"));
    let _ = writeln!(
        out,
        "{}  [{}:{}] class {class}",
        r.device,
        hex(r.vendor_id),
        hex(r.device_id)
    );
    line(&mut out, "driver", &driver(r));
    line(&mut out, "kernel", &kernel(r));
    line(&mut out, "TSM", &tsm(r));
    line(&mut out, "mediator", &mediator(r));
    line(&mut out, "VFIO", &vfio(&r.vfio));
    match (&r.mailboxes, &r.mailbox_error) {
        (Some(mailboxes), _) if mailboxes.is_empty() => {
            line(&mut out, "DOE", "none: the function has no DOE mailbox")
        }
        (Some(mailboxes), _) => {
            for m in mailboxes {
                let users = if m.users.is_empty() {
                    "nobody else".to_owned()
                } else {
                    m.users.join("; ")
                };
                line(
                    &mut out,
                    &format!("DOE {:#x}", m.offset),
                    &format!("used by: {users}"),
                );
            }
        }
        (None, error) => line(
            &mut out,
            "DOE",
            &format!("unknown: {}", error.as_deref().unwrap_or("unreadable")),
        ),
    }
    line(&mut out, "verdict", &r.conclusion);
    for note in &r.notes {
        line(&mut out, "note", note);
    }
    out
}

/// `  label     text`.
fn line(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "  {label:<10} {text}");
}

fn driver(r: &DoctorReport) -> String {
    let Some(name) = &r.driver.driver else {
        return format!("none bound: {}", r.driver.reason);
    };
    let verdict = match r.driver.uses_doe {
        DoeUse::Yes => "uses DOE",
        DoeUse::Maybe => "may use DOE",
        DoeUse::No => "does not use DOE",
        DoeUse::Vfio => "hands the function to user space",
    };
    format!("{name}: {verdict} ({})", r.driver.reason)
}

fn kernel(r: &DoctorReport) -> String {
    let answer = match r.kernel.has_mailboxes {
        Presence::Yes => "yes",
        Presence::No => "no",
        Presence::Unknown => "cannot tell",
    };
    let mut text = format!("own DOE mailboxes: {answer} ({})", r.kernel.how);
    if r.kernel.has_mailboxes != Presence::No {
        let _ = write!(text, "; {KERNEL_USE_NOTE}");
    }
    text
}

fn tsm(r: &DoctorReport) -> String {
    let t = &r.tsm;
    let mut text = match &t.connection {
        Connection::Absent if t.host_tsms.is_empty() => {
            "none registered (/sys/class/tsm lists none)".to_owned()
        }
        Connection::Absent => format!(
            "no tsm/ directory (registered: {}; a TSM manages PF0s)",
            t.host_tsms.join(", ")
        ),
        Connection::NotConnected => "tsm/ present, not connected (tsm/connect would give PF0's \
                                     CMA/SPDM mailbox to the kernel)"
            .to_owned(),
        Connection::Connected { tsm } => {
            format!("connected to {tsm}: the kernel exchanges on PF0's CMA/SPDM mailbox")
        }
        Connection::Unreadable { reason } => format!("tsm/connect unreadable: {reason}"),
    };
    if let Some(pf0) = t.security_manager {
        let _ = write!(
            text,
            "; its device security manager is {pf0}, whose CMA/SPDM mailbox a TSM uses for it"
        );
    }
    text
}

fn mediator(r: &DoctorReport) -> String {
    let dir = r.registry.display();
    match &r.mediator {
        Mediator::None => format!("none registered in {dir}"),
        Mediator::Registered { owner } => {
            let socket = owner.socket.as_ref().map_or_else(
                || "no DOE socket".to_owned(),
                |s| format!("DOE socket {}", s.display()),
            );
            let mailboxes: Vec<String> =
                owner.mailboxes.iter().map(|o| format!("{o:#x}")).collect();
            format!(
                "{owner}, {socket}, mailboxes {} (registered in {dir})",
                if mailboxes.is_empty() {
                    "all".to_owned()
                } else {
                    mailboxes.join(", ")
                }
            )
        }
        Mediator::Stale { .. } | Mediator::Invalid { .. } => {
            format!("none (a file in {dir} was ignored: see the notes)")
        }
    }
}

fn vfio(v: &VfioGroup) -> String {
    match v {
        VfioGroup::NotVfio => "not bound to a VFIO driver".to_owned(),
        VfioGroup::InUse { group } => format!("group {group} in use: a VFIO user has it open"),
        VfioGroup::Free { group } => format!("group {group} free: no VFIO user now"),
        VfioGroup::Unknown { group, reason } => match group {
            Some(group) => format!("group {group}: cannot tell ({reason})"),
            None => format!("cannot tell ({reason})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use doe_proxy::ownership::doctor::MailboxUsers;
    use doe_proxy::ownership::kernel::KernelDoe;
    use doe_proxy::ownership::tsm::TsmState;
    use doe_proxy::ownership::{DriverDoe, Owner, OwnerRecord};

    use super::*;

    fn report() -> DoctorReport {
        DoctorReport {
            device: "0000:0d:00.0".parse().unwrap(),
            vendor_id: Some(0x8086),
            device_id: Some(0x0d93),
            class: Some(0x050210),
            driver: DriverDoe::of(Some("cxl_pci")),
            kernel: KernelDoe {
                has_mailboxes: Presence::Yes,
                release: Some("6.16.0".to_owned()),
                how: "its doe_features/ directory exists".to_owned(),
            },
            tsm: TsmState {
                connection: Connection::Absent,
                host_tsms: Vec::new(),
                security_manager: None,
            },
            registry: "/run/doe-proxy/owners".into(),
            mediator: Mediator::None,
            vfio: VfioGroup::NotVfio,
            owner: None,
            doectl_refuses: false,
            mailboxes: Some(vec![MailboxUsers {
                offset: 0x190,
                users: vec!["the kernel driver cxl_pci".to_owned()],
            }]),
            mailbox_error: None,
            conclusion: "no mediator owns it".to_owned(),
            notes: vec!["a note".to_owned()],
        }
    }

    #[test]
    fn every_fact_has_its_line() {
        let text = render(&report());
        let labels: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(
            labels,
            ["driver", "kernel", "TSM", "mediator", "VFIO", "DOE", "verdict", "note"],
            "{text}"
        );
        assert!(
            text.starts_with("0000:0d:00.0  [8086:0d93] class 050210\n"),
            "{text}"
        );
        assert!(
            text.contains("DOE 0x190  used by: the kernel driver cxl_pci"),
            "{text}"
        );
        assert!(text.contains("cxl_pci: uses DOE"), "{text}");
        assert!(text.contains("aborts each mailbox"), "{text}");
    }

    #[test]
    fn a_registered_owner_and_unreadable_mailboxes_are_shown() {
        let owner = OwnerRecord {
            program: "doe-proxyd".to_owned(),
            pid: 77,
            start_time: None,
            socket: Some("/run/doe-proxyd.sock".into()),
            mailboxes: vec![0x190],
        };
        let r = DoctorReport {
            mediator: Mediator::Registered {
                owner: owner.clone(),
            },
            owner: Some(Owner::Registered(owner)),
            doectl_refuses: true,
            mailboxes: None,
            mailbox_error: Some("cannot walk (needs root)".to_owned()),
            vendor_id: None,
            ..report()
        };
        let text = render(&r);
        assert!(text.contains("[????:0d93]"), "{text}");
        assert!(
            text.contains("doe-proxyd (pid 77), DOE socket /run/doe-proxyd.sock, mailboxes 0x190"),
            "{text}"
        );
        assert!(
            text.contains("DOE        unknown: cannot walk (needs root)"),
            "{text}"
        );
    }

    #[test]
    fn no_doe_is_said() {
        let r = DoctorReport {
            mailboxes: Some(Vec::new()),
            ..report()
        };
        assert!(render(&r).contains("none: the function has no DOE mailbox"));
    }
}
