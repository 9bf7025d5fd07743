//! Splitting a CDAT into the entries Table Access carries, and joining them back.
//!
//! Entry 0 is the 16-byte header; entry N (N ≥ 1) is the N-th structure. Over DOE each
//! entry arrives dword-padded (CXL r3.1 §8.1.11.1; QEMU sends
//! `DIV_ROUND_UP(4 + entry_len, 4)` dwords), so a received entry is trimmed to its own
//! length before use.

use super::{le_u16, CdatError, CdatTable, CDAT_HEADER_LEN, STRUCTURE_HEADER_LEN, STRUCT_LENGTH};
use crate::protocol::table_access::LAST_ENTRY_HANDLE;

/// Bytes of padding a dword-aligned transport may add after an entry.
const MAX_PADDING: usize = 3;

/// Trims the Table Access entry `raw` received for `handle` to its content: the 16-byte
/// header for handle 0, else the structure's own length field. Up to three trailing
/// bytes of dword padding are dropped; more is [`CdatError::EntryLengthMismatch`].
///
/// Linux (`cxl_cdat_read_table`) is stricter: it requires the padded response length
/// to equal the structure length exactly, which every structure the CDAT spec defines
/// satisfies since they are all dword multiples. Accepting padding here keeps reserved
/// types of odd length readable.
pub fn trim_entry(handle: u16, raw: &[u8]) -> Result<&[u8], CdatError> {
    let content_len = if handle == 0 {
        CDAT_HEADER_LEN
    } else {
        if raw.len() < STRUCTURE_HEADER_LEN {
            return Err(CdatError::EntryTruncated {
                handle,
                needed: STRUCTURE_HEADER_LEN,
                got: raw.len(),
            });
        }
        let length = le_u16(raw, STRUCT_LENGTH);
        if usize::from(length) < STRUCTURE_HEADER_LEN {
            return Err(CdatError::EntryBadLength { handle, length });
        }
        usize::from(length)
    };
    if raw.len() < content_len {
        return Err(CdatError::EntryTruncated {
            handle,
            needed: content_len,
            got: raw.len(),
        });
    }
    if raw.len() - content_len > MAX_PADDING {
        return Err(CdatError::EntryLengthMismatch {
            handle,
            entry_len: raw.len(),
            content_len,
        });
    }
    Ok(&raw[..content_len])
}

impl CdatTable {
    /// Rebuilds a table from its Table Access entries, in handle order. Each entry is
    /// trimmed with [`trim_entry`] (so raw, dword-padded response entries are accepted)
    /// and the joined bytes are checked by [`CdatTable::parse`]. That includes the
    /// header's length, which must equal the sum of the entries: Linux instead tolerates
    /// a header length larger than the entries and shortens it; we reject.
    pub fn from_entries(entries: &[Vec<u8>]) -> Result<Self, CdatError> {
        if entries.is_empty() {
            return Err(CdatError::NoEntries);
        }
        if entries.len() > usize::from(LAST_ENTRY_HANDLE) {
            return Err(CdatError::TooManyEntries(entries.len()));
        }
        let mut bytes = Vec::with_capacity(entries.iter().map(Vec::len).sum());
        for (handle, raw) in (0u16..).zip(entries) {
            bytes.extend_from_slice(trim_entry(handle, raw)?);
        }
        CdatTable::parse(&bytes)
    }

    /// Splits the encoded table (length and checksum recomputed, as by
    /// [`CdatTable::encode`]) into Table Access entries: the header, then one entry per
    /// structure.
    ///
    /// # Panics
    /// As [`CdatTable::encode`], for a structure or table too long for its length field.
    pub fn to_entries(&self) -> Vec<Vec<u8>> {
        let bytes = self.encode();
        let mut entries = Vec::with_capacity(1 + self.structures.len());
        entries.push(bytes[..CDAT_HEADER_LEN].to_vec());
        let mut offset = CDAT_HEADER_LEN;
        for structure in &self.structures {
            let end = offset + structure.encoded_len();
            entries.push(bytes[offset..end].to_vec());
            offset = end;
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::cdat::example_type3_table;
    use crate::protocol::table_access::{respond, TableAccessRequest, TableAccessResponse};

    #[test]
    fn example_splits_into_header_and_six_structures() {
        let entries = example_type3_table().to_entries();
        let lens: Vec<usize> = entries.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![16, 24, 24, 24, 24, 24, 24]);
        assert_eq!(entries.concat(), example_type3_table().encode());
        assert_eq!(
            CdatTable::from_entries(&entries).unwrap(),
            example_type3_table()
        );
    }

    #[test]
    fn trim_drops_dword_padding_only() {
        let dsis = [3u8, 0, 8, 0, 1, 2, 0, 0];
        assert_eq!(trim_entry(1, &dsis).unwrap(), &dsis);
        let odd = [7u8, 0, 5, 0, 0xaa, 0, 0, 0];
        assert_eq!(trim_entry(4, &odd).unwrap(), &odd[..5]);
        let header = [0u8; 16];
        assert_eq!(trim_entry(0, &header).unwrap(), &header);
        let mut padded_too_much = dsis.to_vec();
        padded_too_much.extend_from_slice(&[0; 4]);
        assert_eq!(
            trim_entry(1, &padded_too_much),
            Err(CdatError::EntryLengthMismatch {
                handle: 1,
                entry_len: 12,
                content_len: 8
            })
        );
        assert_eq!(
            trim_entry(0, &[0u8; 20]),
            Err(CdatError::EntryLengthMismatch {
                handle: 0,
                entry_len: 20,
                content_len: 16
            })
        );
    }

    #[test]
    fn trim_rejections() {
        assert_eq!(
            trim_entry(0, &[0u8; 15]),
            Err(CdatError::EntryTruncated {
                handle: 0,
                needed: 16,
                got: 15
            })
        );
        assert_eq!(
            trim_entry(2, &[1, 0, 24]),
            Err(CdatError::EntryTruncated {
                handle: 2,
                needed: 4,
                got: 3
            })
        );
        assert_eq!(
            trim_entry(2, &[1, 0, 24, 0, 0, 0, 0, 0]),
            Err(CdatError::EntryTruncated {
                handle: 2,
                needed: 24,
                got: 8
            })
        );
        assert_eq!(
            trim_entry(3, &[1, 0, 0, 0]),
            Err(CdatError::EntryBadLength {
                handle: 3,
                length: 0
            })
        );
        assert_eq!(
            trim_entry(3, &[1, 0, 3, 0]),
            Err(CdatError::EntryBadLength {
                handle: 3,
                length: 3
            })
        );
    }

    #[test]
    fn from_entries_rejections() {
        assert_eq!(CdatTable::from_entries(&[]), Err(CdatError::NoEntries));
        let too_many = vec![Vec::new(); 0x1_0000];
        assert_eq!(
            CdatTable::from_entries(&too_many),
            Err(CdatError::TooManyEntries(0x1_0000))
        );
        // Dropping the last entry leaves the header's length unmet.
        let mut entries = example_type3_table().to_entries();
        entries.pop();
        assert_eq!(
            CdatTable::from_entries(&entries),
            Err(CdatError::Truncated {
                needed: 160,
                got: 136
            })
        );
    }

    #[test]
    fn walk_over_the_wire_rebuilds_the_table() {
        // Requester and responder talking through encoded DOE objects, as a guest would
        // with the emulated device.
        let table = example_type3_table();
        let served = table.to_entries();
        let mut received = Vec::new();
        let mut handle = 0u16;
        loop {
            let request =
                TableAccessRequest::decode(&TableAccessRequest::cdat(handle).encode()).unwrap();
            let wire = respond(&served, &request).unwrap().encode().unwrap();
            let response = TableAccessResponse::decode(&wire).unwrap();
            received.push(response.entry.clone());
            if response.is_last() {
                break;
            }
            handle = response.next_handle;
        }
        assert_eq!(received.len(), 7);
        assert_eq!(CdatTable::from_entries(&received).unwrap(), table);
    }
}
