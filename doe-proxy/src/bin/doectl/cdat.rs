//! `doectl cdat <BDF>`: read the CDAT over CXL Table Access, decode it, verify it.

use doe_proxy::cdat_read;
use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::cdat::{CdatStructure, CdatTable};
use doe_proxy::protocol::{to_hex, ProtocolId};
use serde::Serialize;

use crate::exit::ToolError;
use crate::target::Target;
use crate::MailboxArgs;

#[derive(Serialize)]
struct Report<'a> {
    device: String,
    mailbox: u16,
    /// Always true in a report: a table whose checksum fails is an error (exit 7).
    checksum_valid: bool,
    #[serde(flatten)]
    table: &'a CdatTable,
    /// The table's bytes as read (entries joined), in hex.
    bytes: String,
}

/// Runs `doectl cdat`. With `no_discovery` (which needs `--mailbox`), the requests go to
/// that mailbox without asking its Discovery first.
pub fn run(
    target: &mut Target,
    bdf: Bdf,
    args: &MailboxArgs,
    no_discovery: bool,
) -> Result<(), ToolError> {
    // The mailbox offering CXL Table Access (the first, if several do).
    let mut chosen = None;
    for offset in target.mailbox_offsets(bdf, args)? {
        if no_discovery
            || target
                .open(bdf, offset, args)?
                .discover()?
                .contains(&ProtocolId::CXL_TABLE_ACCESS)
        {
            chosen = Some(offset);
            break;
        }
    }
    let offset = chosen.ok_or(ToolError::NoProtocol {
        bdf,
        protocol: ProtocolId::CXL_TABLE_ACCESS,
    })?;
    let entries = cdat_read::read_cdat_entries(&mut target.open(bdf, offset, args)?)?;
    let table = CdatTable::from_entries(&entries)
        .map_err(|e| ToolError::Malformed(format!("CDAT: {e}")))?;
    let bytes = to_hex(&entries.concat());
    if args.json {
        return crate::print_json(&Report {
            device: bdf.to_string(),
            mailbox: offset,
            checksum_valid: true,
            table: &table,
            bytes,
        });
    }
    let h = &table.header;
    println!(
        "{bdf} CDAT via DOE mailbox at {offset:#x}: length {} bytes, revision {}, checksum {:#04x} (valid), sequence {}",
        h.length, h.revision, h.checksum, h.sequence
    );
    for s in &table.structures {
        println!("  {}", describe(s));
    }
    Ok(())
}

/// One line for a structure.
fn describe(s: &CdatStructure) -> String {
    match s {
        CdatStructure::Dsmas(d) => format!(
            "DSMAS   handle {} flags {:#04x} DPA base {:#x} length {:#x}",
            d.dsmad_handle, d.flags, d.dpa_base, d.dpa_length
        ),
        CdatStructure::Dslbis(d) => format!(
            "DSLBIS  handle {} flags {:#04x} data type {} base unit {} entries {:?}",
            d.handle, d.flags, d.data_type, d.entry_base_unit, d.entries
        ),
        CdatStructure::Dsmscis(d) => format!("DSMSCIS {d:?}"),
        CdatStructure::Dsis(d) => format!("DSIS    {d:?}"),
        CdatStructure::Dsemts(d) => format!(
            "DSEMTS  handle {} EFI type/attr {} DPA offset {:#x} length {:#x}",
            d.dsmas_handle, d.efi_memory_type_attr, d.dpa_offset, d.dpa_length
        ),
        CdatStructure::Sslbis(d) => format!("SSLBIS  {d:?}"),
        CdatStructure::Unknown {
            structure_type,
            bytes,
        } => format!("type {structure_type} ({} bytes, unknown)", bytes.len()),
    }
}
