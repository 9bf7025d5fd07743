//! CXL Table Access (vendor 0x1E98, type 0x02; CXL r3.1 §8.1.11).
//!
//! The only request defined is Read Entry (CXL r3.1 §8.1.11.1): the requester names a
//! table type (0 = CDAT) and an entry handle, and the responder returns that entry's
//! bytes together with the handle of the *next* entry, [`LAST_ENTRY_HANDLE`] after the
//! last one. For CDAT, entry 0 is the 16-byte table header and every further entry is
//! one CDAT structure (see [`super::cdat`]).
//!
//! A DOE object is a whole number of dwords, so the entry bytes in a response are
//! padded to a dword boundary and a decoded [`TableAccessResponse`] cannot tell the
//! entry's exact length: the CDAT layer trims it with the structure's own length field
//! ([`super::cdat::trim_entry`]).

use super::header::{DataObject, HeaderError, ProtocolId};
use super::{bytes_to_dwords, dwords_to_bytes};

/// Request/response dword 2, bits 7:0: request code (request) or response code
/// (response).
const DW2_CODE_MASK: u32 = 0x0000_00ff;
/// Request/response dword 2, bits 15:8: table type.
const DW2_TABLE_TYPE_SHIFT: u32 = 8;
const DW2_TABLE_TYPE_MASK: u32 = 0x0000_ff00;
/// Request dword 2, bits 31:16: entry handle asked for; response dword 2, bits 31:16:
/// the handle of the next entry.
const DW2_HANDLE_SHIFT: u32 = 16;

/// Request code of Read Entry, the only Table Access request (CXL r3.1 §8.1.11.1,
/// Table 8-13).
pub const READ_ENTRY_REQUEST_CODE: u8 = 0;
/// Response code of a Read Entry response (CXL r3.1 §8.1.11.1, Table 8-14).
pub const READ_ENTRY_RESPONSE_CODE: u8 = 0;
/// Table type of the Coherent Device Attribute Table (CXL r3.1 §8.1.11.1); other values
/// are reserved.
pub const TABLE_TYPE_CDAT: u8 = 0;
/// The entry handle a response names as "next" after the last entry of a table.
pub const LAST_ENTRY_HANDLE: u16 = 0xffff;

/// A malformed Table Access object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableAccessError {
    /// The object's header is malformed, or the object would be too long to encode.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The object is not a CXL Table Access object.
    #[error("expected a CXL Table Access object (1e98:02), got {0}")]
    WrongProtocol(ProtocolId),
    /// The object has no dword after its header.
    #[error("Table Access object has no payload dword")]
    MissingPayload,
    /// The request code is not Read Entry (0).
    #[error("unknown Table Access request code {0:#04x}")]
    UnknownRequestCode(u8),
    /// The response code is not Read Entry (0).
    #[error("unknown Table Access response code {0:#04x}")]
    UnknownResponseCode(u8),
}

/// A Read Entry request for one entry of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableAccessRequest {
    /// The table asked for ([`TABLE_TYPE_CDAT`] is the only one defined).
    pub table_type: u8,
    /// The entry asked for; 0 is the first entry (for CDAT, the table header).
    pub entry_handle: u16,
}

impl TableAccessRequest {
    /// A request for entry `entry_handle` of the CDAT.
    pub fn cdat(entry_handle: u16) -> Self {
        TableAccessRequest {
            table_type: TABLE_TYPE_CDAT,
            entry_handle,
        }
    }

    /// Encodes the request as a whole data object (header and dword 2).
    pub fn encode(&self) -> Vec<u32> {
        let dw2 = u32::from(READ_ENTRY_REQUEST_CODE)
            | (u32::from(self.table_type) << DW2_TABLE_TYPE_SHIFT)
            | (u32::from(self.entry_handle) << DW2_HANDLE_SHIFT);
        DataObject::new(ProtocolId::CXL_TABLE_ACCESS, vec![dw2])
            .encode()
            .expect("a one-dword payload always fits")
    }

    /// Decodes a whole request object. Payload dwords after dword 2 are tolerated (QEMU's
    /// responder accepts them too); a request code other than Read Entry is rejected.
    pub fn decode(dwords: &[u32]) -> Result<Self, TableAccessError> {
        let object = table_access_object(dwords)?;
        let dw2 = object.payload[0];
        let code = (dw2 & DW2_CODE_MASK) as u8;
        if code != READ_ENTRY_REQUEST_CODE {
            return Err(TableAccessError::UnknownRequestCode(code));
        }
        Ok(TableAccessRequest {
            table_type: ((dw2 & DW2_TABLE_TYPE_MASK) >> DW2_TABLE_TYPE_SHIFT) as u8,
            entry_handle: (dw2 >> DW2_HANDLE_SHIFT) as u16,
        })
    }
}

/// A Read Entry response: one entry's bytes and the handle of the next entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableAccessResponse {
    /// The table the entry belongs to.
    pub table_type: u8,
    /// The handle to ask for next; [`LAST_ENTRY_HANDLE`] after the last entry.
    pub next_handle: u16,
    /// The entry's bytes. After [`TableAccessResponse::decode`] these are *all* payload
    /// bytes after dword 2, so up to three bytes of dword padding may follow the entry;
    /// the CDAT layer trims them with the structure's own length field
    /// ([`super::cdat::trim_entry`]).
    pub entry: Vec<u8>,
}

impl TableAccessResponse {
    /// Encodes the response as a whole data object; the entry is zero-padded to a dword
    /// boundary. Fails only if the object would exceed the DOE maximum of 2^18 dwords.
    pub fn encode(&self) -> Result<Vec<u32>, TableAccessError> {
        let dw2 = u32::from(READ_ENTRY_RESPONSE_CODE)
            | (u32::from(self.table_type) << DW2_TABLE_TYPE_SHIFT)
            | (u32::from(self.next_handle) << DW2_HANDLE_SHIFT);
        let mut payload = Vec::with_capacity(1 + self.entry.len().div_ceil(4));
        payload.push(dw2);
        payload.extend(bytes_to_dwords(&self.entry));
        Ok(DataObject::new(ProtocolId::CXL_TABLE_ACCESS, payload).encode()?)
    }

    /// Decodes a whole response object. Every payload byte after dword 2, padding
    /// included, lands in [`TableAccessResponse::entry`].
    pub fn decode(dwords: &[u32]) -> Result<Self, TableAccessError> {
        let object = table_access_object(dwords)?;
        let dw2 = object.payload[0];
        let code = (dw2 & DW2_CODE_MASK) as u8;
        if code != READ_ENTRY_RESPONSE_CODE {
            return Err(TableAccessError::UnknownResponseCode(code));
        }
        Ok(TableAccessResponse {
            table_type: ((dw2 & DW2_TABLE_TYPE_MASK) >> DW2_TABLE_TYPE_SHIFT) as u8,
            next_handle: (dw2 >> DW2_HANDLE_SHIFT) as u16,
            entry: dwords_to_bytes(&object.payload[1..]),
        })
    }

    /// Whether this response carries the last entry of its table.
    pub fn is_last(&self) -> bool {
        self.next_handle == LAST_ENTRY_HANDLE
    }
}

/// A complete Table Access object with at least one payload dword.
fn table_access_object(dwords: &[u32]) -> Result<DataObject, TableAccessError> {
    let object = DataObject::decode(dwords)?;
    if object.protocol != ProtocolId::CXL_TABLE_ACCESS {
        return Err(TableAccessError::WrongProtocol(object.protocol));
    }
    if object.payload.is_empty() {
        return Err(TableAccessError::MissingPayload);
    }
    Ok(object)
}

/// Answers `request` for a device whose CDAT is split into `entries` (entry 0 is the
/// 16-byte CDAT header, then one structure per entry; see
/// [`super::cdat::CdatTable::to_entries`]).
///
/// Handle N returns `entries[N]` with next handle N+1, or [`LAST_ENTRY_HANDLE`] for the
/// last entry. `None` means the device discards the request without answering: a table
/// type other than CDAT, or a handle past the end. QEMU's `cxl_doe_cdat_rsp` checks
/// neither (it indexes its entry array with the handle unchecked), so discarding is our
/// choice of a safe behaviour, in line with how QEMU discards malformed objects.
///
/// A table cannot usefully have more than 0xFFFF entries: handle 0xFFFF is the "last"
/// marker, so an entry at that handle could never be asked for after its predecessor.
pub fn respond(entries: &[Vec<u8>], request: &TableAccessRequest) -> Option<TableAccessResponse> {
    if request.table_type != TABLE_TYPE_CDAT {
        return None;
    }
    let handle = usize::from(request.entry_handle);
    let entry = entries.get(handle)?;
    let next_handle = if handle + 1 < entries.len() {
        // Only handle 0xFFFF of a table with more than 0x10000 entries overflows u16;
        // such an entry can never be reached by a walk anyway.
        u16::try_from(handle + 1).unwrap_or(LAST_ENTRY_HANDLE)
    } else {
        LAST_ENTRY_HANDLE
    };
    Some(TableAccessResponse {
        table_type: TABLE_TYPE_CDAT,
        next_handle,
        entry: entry.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::MAX_OBJECT_DWORDS;

    #[test]
    fn request_encoding_matches_linux_cdat_doe_req() {
        // Linux CDAT_DOE_REQ(h): code 0 in 7:0, table type 0 in 15:8, handle in 31:16.
        let dwords = TableAccessRequest::cdat(5).encode();
        assert_eq!(dwords, vec![0x0002_1e98, 3, 0x0005_0000]);
        assert_eq!(
            TableAccessRequest::decode(&dwords).unwrap(),
            TableAccessRequest::cdat(5)
        );
    }

    #[test]
    fn request_round_trip_keeps_table_type_and_handle() {
        let req = TableAccessRequest {
            table_type: 0x7a,
            entry_handle: 0xfffe,
        };
        let dwords = req.encode();
        assert_eq!(dwords[2], 0xfffe_7a00);
        assert_eq!(TableAccessRequest::decode(&dwords).unwrap(), req);
    }

    #[test]
    fn request_tolerates_extra_payload_dwords() {
        assert_eq!(
            TableAccessRequest::decode(&[0x0002_1e98, 4, 0x0001_0000, 0xdead_beef]).unwrap(),
            TableAccessRequest::cdat(1)
        );
    }

    #[test]
    fn request_rejections() {
        assert_eq!(
            TableAccessRequest::decode(&[0x0000_0001, 3, 0]),
            Err(TableAccessError::WrongProtocol(ProtocolId::DISCOVERY))
        );
        assert_eq!(
            TableAccessRequest::decode(&[0x0002_1e98, 2]),
            Err(TableAccessError::MissingPayload)
        );
        assert_eq!(
            TableAccessRequest::decode(&[0x0002_1e98, 3, 0x0000_0001]),
            Err(TableAccessError::UnknownRequestCode(1))
        );
        assert_eq!(
            TableAccessRequest::decode(&[0x0002_1e98, 4, 0]),
            Err(TableAccessError::Header(HeaderError::LengthMismatch {
                declared: 4,
                actual: 3
            }))
        );
        assert_eq!(
            TableAccessRequest::decode(&[0x0002_1e98]),
            Err(TableAccessError::Header(HeaderError::Truncated { got: 1 }))
        );
    }

    #[test]
    fn response_pads_entry_to_dwords() {
        let rsp = TableAccessResponse {
            table_type: TABLE_TYPE_CDAT,
            next_handle: 2,
            entry: vec![1, 2, 3, 4, 5],
        };
        let dwords = rsp.encode().unwrap();
        assert_eq!(
            dwords,
            vec![0x0002_1e98, 5, 0x0002_0000, 0x0403_0201, 0x0000_0005]
        );
        let decoded = TableAccessResponse::decode(&dwords).unwrap();
        // Decode keeps the padding: the entry's own length lives in the CDAT layer.
        assert_eq!(decoded.entry, vec![1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(decoded.next_handle, 2);
        assert!(!decoded.is_last());
    }

    #[test]
    fn response_round_trip_of_dword_multiple_entry() {
        let rsp = TableAccessResponse {
            table_type: TABLE_TYPE_CDAT,
            next_handle: LAST_ENTRY_HANDLE,
            entry: (0u8..24).collect(),
        };
        let decoded = TableAccessResponse::decode(&rsp.encode().unwrap()).unwrap();
        assert_eq!(decoded, rsp);
        assert!(decoded.is_last());
    }

    #[test]
    fn response_with_empty_entry() {
        let rsp = TableAccessResponse {
            table_type: TABLE_TYPE_CDAT,
            next_handle: LAST_ENTRY_HANDLE,
            entry: Vec::new(),
        };
        let dwords = rsp.encode().unwrap();
        assert_eq!(dwords.len(), 3);
        assert_eq!(TableAccessResponse::decode(&dwords).unwrap(), rsp);
    }

    #[test]
    fn over_long_response_is_rejected() {
        let rsp = TableAccessResponse {
            table_type: TABLE_TYPE_CDAT,
            next_handle: 1,
            entry: vec![0; (MAX_OBJECT_DWORDS - 2) * 4],
        };
        assert_eq!(
            rsp.encode(),
            Err(TableAccessError::Header(HeaderError::TooLong(
                MAX_OBJECT_DWORDS + 1
            )))
        );
    }

    #[test]
    fn response_rejections() {
        assert_eq!(
            TableAccessResponse::decode(&[0x0001_0001, 3, 0]),
            Err(TableAccessError::WrongProtocol(ProtocolId::CMA_SPDM))
        );
        assert_eq!(
            TableAccessResponse::decode(&[0x0002_1e98, 2]),
            Err(TableAccessError::MissingPayload)
        );
        assert_eq!(
            TableAccessResponse::decode(&[0x0002_1e98, 3, 0xffff_0080]),
            Err(TableAccessError::UnknownResponseCode(0x80))
        );
        assert!(matches!(
            TableAccessResponse::decode(&[0x0002_1e98, 5, 0]),
            Err(TableAccessError::Header(HeaderError::LengthMismatch { .. }))
        ));
    }

    fn three_entries() -> Vec<Vec<u8>> {
        vec![vec![0xaa; 16], vec![0xbb; 24], vec![0xcc; 8]]
    }

    #[test]
    fn responder_walk_returns_every_entry_in_order() {
        let entries = three_entries();
        let mut got = Vec::new();
        let mut handle = 0u16;
        loop {
            let rsp = respond(&entries, &TableAccessRequest::cdat(handle)).unwrap();
            assert_eq!(rsp.table_type, TABLE_TYPE_CDAT);
            got.push(rsp.entry.clone());
            if rsp.is_last() {
                break;
            }
            handle = rsp.next_handle;
        }
        assert_eq!(got, entries);
    }

    #[test]
    fn responder_next_handles() {
        let entries = three_entries();
        let next: Vec<u16> = (0..3)
            .map(|h| {
                respond(&entries, &TableAccessRequest::cdat(h))
                    .unwrap()
                    .next_handle
            })
            .collect();
        assert_eq!(next, vec![1, 2, LAST_ENTRY_HANDLE]);
    }

    #[test]
    fn responder_discards_out_of_range_and_foreign_tables() {
        let entries = three_entries();
        assert_eq!(respond(&entries, &TableAccessRequest::cdat(3)), None);
        assert_eq!(
            respond(&entries, &TableAccessRequest::cdat(LAST_ENTRY_HANDLE)),
            None
        );
        assert_eq!(
            respond(
                &entries,
                &TableAccessRequest {
                    table_type: 1,
                    entry_handle: 0
                }
            ),
            None
        );
        assert_eq!(respond(&[], &TableAccessRequest::cdat(0)), None);
    }

    #[test]
    fn responder_over_the_wire() {
        let entries = three_entries();
        let request = TableAccessRequest::decode(&TableAccessRequest::cdat(1).encode()).unwrap();
        let wire = respond(&entries, &request).unwrap().encode().unwrap();
        assert_eq!(wire.len(), 3 + 24 / 4);
        let rsp = TableAccessResponse::decode(&wire).unwrap();
        assert_eq!(rsp.entry, entries[1]);
        assert_eq!(rsp.next_handle, 2);
    }
}
