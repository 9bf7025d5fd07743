//! `doectl discover <BDF>`: DOE Discovery on each mailbox of a function.

use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::ProtocolId;
use serde::Serialize;

use crate::exit::ToolError;
use crate::target::Target;
use crate::MailboxArgs;

#[derive(Serialize)]
struct Protocol {
    id: String,
    vendor: u16,
    #[serde(rename = "type")]
    object_type: u8,
    name: Option<&'static str>,
}

#[derive(Serialize)]
struct MailboxReport {
    offset: u16,
    protocols: Vec<Protocol>,
}

#[derive(Serialize)]
struct Report {
    device: String,
    mailboxes: Vec<MailboxReport>,
}

fn protocol(p: ProtocolId) -> Protocol {
    Protocol {
        id: p.to_string(),
        vendor: p.vendor,
        object_type: p.object_type,
        name: p.name(),
    }
}

/// Runs `doectl discover`.
pub fn run(target: &mut Target, bdf: Bdf, args: &MailboxArgs) -> Result<(), ToolError> {
    let mut report = Report {
        device: bdf.to_string(),
        mailboxes: Vec::new(),
    };
    for offset in target.mailbox_offsets(bdf, args)? {
        let protocols = target.open(bdf, offset, args)?.discover()?;
        report.mailboxes.push(MailboxReport {
            offset,
            protocols: protocols.into_iter().map(protocol).collect(),
        });
    }
    if args.json {
        return crate::print_json(&report);
    }
    for mailbox in &report.mailboxes {
        println!("{} DOE mailbox at {:#x}:", report.device, mailbox.offset);
        for p in &mailbox.protocols {
            println!("  {}  {}", p.id, p.name.unwrap_or("unknown protocol"));
        }
    }
    Ok(())
}
