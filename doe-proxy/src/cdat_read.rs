//! Reading a function's CDAT over CXL Table Access, as Linux's `read_cdat_data()` does:
//! ask for entry handle 0 (the header), follow each response's next handle until 0xFFFF,
//! trim each entry to its own length, then parse and verify the whole table.

use crate::exchange::ObjectExchange;
use crate::mailbox::MailboxError;
use crate::protocol::cdat::{trim_entry, CdatError, CdatTable};
use crate::protocol::table_access::{
    TableAccessError, TableAccessRequest, TableAccessResponse, TABLE_TYPE_CDAT,
};

/// Upper bound on entries: a handle is 16 bits and 0xFFFF ends the table.
const MAX_ENTRIES: usize = 0xFFFF;

/// Why a CDAT could not be read; `E` is the exchange's error (the register-level
/// driver's by default).
#[derive(Debug, thiserror::Error)]
pub enum CdatReadError<E: std::error::Error + 'static = MailboxError> {
    /// The exchange itself failed.
    #[error(transparent)]
    Mailbox(E),
    /// A response was not a well-formed Table Access response.
    #[error("malformed Table Access response for entry {handle}: {source}")]
    Response {
        /// The entry handle asked for.
        handle: u16,
        /// What was wrong.
        #[source]
        source: TableAccessError,
    },
    /// The response is for another table type.
    #[error("Table Access response for entry {handle} names table type {got}, not CDAT (0)")]
    WrongTableType {
        /// The entry handle asked for.
        handle: u16,
        /// The table type the device answered with.
        got: u8,
    },
    /// The device's next handles do not move forward (a loop).
    #[error("CDAT entry {handle} names next entry {next}, which does not move forward")]
    HandleLoop {
        /// The entry handle asked for.
        handle: u16,
        /// The next handle it named.
        next: u16,
    },
    /// An entry or the assembled table is malformed (length, structure, checksum).
    #[error("malformed CDAT: {0}")]
    Cdat(#[source] CdatError),
}

/// Reads every CDAT entry, trimmed to its own length (entry 0 is the header).
pub fn read_cdat_entries<X: ObjectExchange + ?Sized>(
    mailbox: &mut X,
) -> Result<Vec<Vec<u8>>, CdatReadError<X::Error>> {
    let mut entries = Vec::new();
    let mut handle = 0u16;
    loop {
        let request = TableAccessRequest {
            table_type: TABLE_TYPE_CDAT,
            entry_handle: handle,
        };
        let dwords = mailbox
            .exchange(&request.encode())
            .map_err(CdatReadError::Mailbox)?;
        let response = TableAccessResponse::decode(&dwords)
            .map_err(|source| CdatReadError::Response { handle, source })?;
        if response.table_type != TABLE_TYPE_CDAT {
            return Err(CdatReadError::WrongTableType {
                handle,
                got: response.table_type,
            });
        }
        entries.push(
            trim_entry(handle, &response.entry)
                .map_err(CdatReadError::Cdat)?
                .to_vec(),
        );
        if response.is_last() {
            return Ok(entries);
        }
        if response.next_handle <= handle || entries.len() >= MAX_ENTRIES {
            return Err(CdatReadError::HandleLoop {
                handle,
                next: response.next_handle,
            });
        }
        handle = response.next_handle;
    }
}

/// Reads, parses and checksums the whole CDAT.
pub fn read_cdat<X: ObjectExchange + ?Sized>(
    mailbox: &mut X,
) -> Result<CdatTable, CdatReadError<X::Error>> {
    let entries = read_cdat_entries(mailbox)?;
    CdatTable::from_entries(&entries).map_err(CdatReadError::Cdat)
}
