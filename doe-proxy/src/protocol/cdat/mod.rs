//! The Coherent Device Attribute Table (CDAT spec r1.03/r1.04).
//!
//! A CDAT is a 16-byte header (CDAT Table 1) followed by structures, each starting with
//! a 4-byte structure header: type, reserved, 16-bit length (CDAT Table 2). The table is
//! read from a CXL device one entry at a time over DOE Table Access
//! ([`super::table_access`]): entry 0 is the header and entry N the N-th structure.
//!
//! [`CdatTable::parse`] validates a whole table and [`CdatTable::encode`] rebuilds one
//! with length and checksum recomputed; [`CdatTable::from_entries`] /
//! [`CdatTable::to_entries`] convert between a table and its Table Access entries, and
//! [`trim_entry`] strips the dword padding a Table Access response adds to an entry.

mod entries;
mod example;
pub mod structures;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod structure_tests;

use serde::Serialize;

pub use entries::trim_entry;
pub use example::{example_type3_table, EXAMPLE_TYPE3_REGION_BYTES};
pub use structures::{CdatStructure, Dsemts, Dsis, Dslbis, Dsmas, Dsmscis, Sslbis, SslbisEntry};

/// Size of the CDAT header (CDAT Table 1), which is also Table Access entry 0.
pub const CDAT_HEADER_LEN: usize = 16;
/// Size of the header that starts every CDAT structure: type, reserved, length.
pub const STRUCTURE_HEADER_LEN: usize = 4;
/// CDAT revision QEMU's cxl-type3 reports (`CXL_CDAT_REV`; earlier QEMU series used 1).
pub const CDAT_REVISION: u8 = 2;

/// Header byte offsets (CDAT Table 1): length u32 at 0, revision at 4, checksum at 5,
/// six reserved bytes at 6..12, sequence u32 at 12.
const HDR_LENGTH: usize = 0;
const HDR_REVISION: usize = 4;
const HDR_CHECKSUM: usize = 5;
const HDR_SEQUENCE: usize = 12;
/// Structure header byte offsets (CDAT Table 2): type at 0, reserved at 1, length u16
/// at 2.
const STRUCT_TYPE: usize = 0;
const STRUCT_LENGTH: usize = 2;

/// A malformed CDAT, CDAT structure or Table Access entry, or a table too big to encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdatError {
    /// Fewer bytes than the header (16) or than the header's length field announces.
    #[error("CDAT truncated: {needed} bytes needed, {got} present")]
    Truncated {
        /// Bytes the header or the header's length field requires.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// The header's length field is smaller than the header itself.
    #[error("CDAT length field {0} is below the 16-byte header")]
    LengthTooSmall(u32),
    /// More bytes than the length field announces (table or single structure).
    #[error("length field says {declared} bytes but {actual} are present")]
    TrailingBytes {
        /// Bytes the length field announces.
        declared: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The bytes of the table do not sum to 0 mod 256.
    #[error("CDAT checksum byte is {actual:#04x}, {expected:#04x} would make the table sum to 0")]
    BadChecksum {
        /// The checksum byte that would make the table valid.
        expected: u8,
        /// The checksum byte in the header.
        actual: u8,
    },
    /// Fewer than 4 bytes remain where a structure header should start.
    #[error(
        "CDAT structure header at offset {offset} truncated: {remaining} byte(s) left, 4 needed"
    )]
    StructureHeaderTruncated {
        /// Offset of the structure in the table.
        offset: usize,
        /// Bytes left in the table from that offset.
        remaining: usize,
    },
    /// A structure's length field is 0 (which would make a walk loop forever).
    #[error("CDAT structure type {structure_type} at offset {offset} has length 0")]
    ZeroLengthStructure {
        /// Offset of the structure in the table.
        offset: usize,
        /// The structure's type.
        structure_type: u8,
    },
    /// A structure's length field is below the minimum for its type (4 for any type).
    #[error("CDAT structure type {structure_type} at offset {offset}: length {length} is below the minimum {minimum}")]
    StructureTooShort {
        /// Offset of the structure in the table.
        offset: usize,
        /// The structure's type.
        structure_type: u8,
        /// The structure's length field.
        length: u16,
        /// The smallest length the type allows.
        minimum: usize,
    },
    /// A fixed-size structure's length field is larger than its type's size.
    #[error("CDAT structure type {structure_type} at offset {offset}: length {length}, the type is exactly {expected} bytes")]
    StructureTooLong {
        /// Offset of the structure in the table.
        offset: usize,
        /// The structure's type.
        structure_type: u8,
        /// The structure's length field.
        length: u16,
        /// The type's size.
        expected: usize,
    },
    /// An SSLBIS whose entry area is not a whole number of 8-byte entries.
    #[error("SSLBIS at offset {offset}: length {length} leaves a partial 8-byte entry")]
    SslbisPartialEntry {
        /// Offset of the structure in the table.
        offset: usize,
        /// The structure's length field.
        length: u16,
    },
    /// A structure's length field runs past the end of the table.
    #[error("CDAT structure at offset {offset} with length {length} runs past the end ({remaining} bytes left)")]
    StructureOverrun {
        /// Offset of the structure in the table.
        offset: usize,
        /// The structure's length field.
        length: u16,
        /// Bytes left in the table from that offset.
        remaining: usize,
    },
    /// A structure too long for its 16-bit length field cannot be encoded.
    #[error("CDAT structure of {0} bytes exceeds the 16-bit length field")]
    EncodeStructureTooLong(usize),
    /// A table too long for its 32-bit length field cannot be encoded.
    #[error("CDAT of {0} bytes exceeds the 32-bit length field")]
    EncodeTableTooLong(usize),
    /// An entry list without entry 0, the header.
    #[error("no CDAT entries: entry 0 (the header) is missing")]
    NoEntries,
    /// More entries than 16-bit handles can name (handle 0xFFFF means "last").
    #[error("{0} CDAT entries, Table Access handles allow at most 65535")]
    TooManyEntries(usize),
    /// A Table Access entry shorter than its content.
    #[error("CDAT entry {handle} truncated: {needed} bytes needed, {got} present")]
    EntryTruncated {
        /// The entry's handle.
        handle: u16,
        /// Bytes the header (entry 0) or the structure's length field requires.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A structure entry whose length field is below the 4-byte structure header.
    #[error("CDAT entry {handle}: structure length field {length} is below 4")]
    EntryBadLength {
        /// The entry's handle.
        handle: u16,
        /// The structure's length field.
        length: u16,
    },
    /// A Table Access entry with more trailing bytes than dword padding (0..=3).
    #[error("CDAT entry {handle} has {entry_len} bytes, content is {content_len}: more than dword padding")]
    EntryLengthMismatch {
        /// The entry's handle.
        handle: u16,
        /// Bytes in the entry.
        entry_len: usize,
        /// Bytes the header or the structure's length field accounts for.
        content_len: usize,
    },
}

/// The CDAT header (CDAT Table 1). Reserved bytes are ignored on parse and written as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CdatHeader {
    /// Length of the whole table in bytes, header included.
    pub length: u32,
    /// CDAT revision.
    pub revision: u8,
    /// Makes the bytes of the whole table sum to 0 mod 256.
    pub checksum: u8,
    /// Incremented by the device whenever the table changes.
    pub sequence: u32,
}

impl CdatHeader {
    /// Decodes the first 16 bytes of `bytes` (the rest is not looked at), e.g. Table
    /// Access entry 0 to learn the table length before reading the structures.
    pub fn decode(bytes: &[u8]) -> Result<Self, CdatError> {
        if bytes.len() < CDAT_HEADER_LEN {
            return Err(CdatError::Truncated {
                needed: CDAT_HEADER_LEN,
                got: bytes.len(),
            });
        }
        Ok(CdatHeader {
            length: le_u32(bytes, HDR_LENGTH),
            revision: bytes[HDR_REVISION],
            checksum: bytes[HDR_CHECKSUM],
            sequence: le_u32(bytes, HDR_SEQUENCE),
        })
    }

    /// Encodes the header's 16 bytes as they stand (nothing is recomputed).
    pub fn encode(&self) -> [u8; CDAT_HEADER_LEN] {
        let mut out = [0u8; CDAT_HEADER_LEN];
        out[HDR_LENGTH..HDR_LENGTH + 4].copy_from_slice(&self.length.to_le_bytes());
        out[HDR_REVISION] = self.revision;
        out[HDR_CHECKSUM] = self.checksum;
        out[HDR_SEQUENCE..HDR_SEQUENCE + 4].copy_from_slice(&self.sequence.to_le_bytes());
        out
    }
}

/// A whole CDAT: header and structures in table order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CdatTable {
    /// The header. [`CdatTable::encode`] recomputes `length` and `checksum`.
    pub header: CdatHeader,
    /// The structures in table order.
    pub structures: Vec<CdatStructure>,
}

impl CdatTable {
    /// A table of `structures` whose header length and checksum match its encoding, so
    /// that `CdatTable::parse(&table.encode()) == Ok(table)`. Fails only for a structure
    /// or table too long for its length field.
    pub fn new(
        revision: u8,
        sequence: u32,
        structures: Vec<CdatStructure>,
    ) -> Result<Self, CdatError> {
        let mut table = CdatTable {
            header: CdatHeader {
                length: 0,
                revision,
                checksum: 0,
                sequence,
            },
            structures,
        };
        let bytes = table.try_encode()?;
        table.header = CdatHeader::decode(&bytes)?;
        Ok(table)
    }

    /// Parses and validates a whole table. The checks, in order:
    /// 1. at least the 16-byte header ([`CdatError::Truncated`]);
    /// 2. the header's length field is at least 16 ([`CdatError::LengthTooSmall`]) and
    ///    equals `bytes.len()`: fewer bytes is [`CdatError::Truncated`], more is
    ///    [`CdatError::TrailingBytes`] — the caller strips any transport padding first
    ///    (see [`trim_entry`]), so bytes past the declared end are a malformed table;
    /// 3. every structure: a whole structure header, a length that is non-zero, at
    ///    least 4, within the table, and valid for its type (exact size for the fixed
    ///    types; 16 + 8n for SSLBIS; at least 4 for unknown types, which are kept);
    /// 4. the checksum: all bytes sum to 0 mod 256 ([`CdatError::BadChecksum`]).
    ///
    /// Reserved fields are ignored, as the spec asks of readers.
    pub fn parse(bytes: &[u8]) -> Result<Self, CdatError> {
        let header = CdatHeader::decode(bytes)?;
        if (header.length as usize) < CDAT_HEADER_LEN {
            return Err(CdatError::LengthTooSmall(header.length));
        }
        let declared = usize::try_from(header.length).unwrap_or(usize::MAX);
        if declared > bytes.len() {
            return Err(CdatError::Truncated {
                needed: declared,
                got: bytes.len(),
            });
        }
        if declared < bytes.len() {
            return Err(CdatError::TrailingBytes {
                declared,
                actual: bytes.len(),
            });
        }

        let mut structures = Vec::new();
        let mut offset = CDAT_HEADER_LEN;
        while offset < bytes.len() {
            let length = structure_length_at(bytes, offset)?;
            let structure = CdatStructure::decode_at(&bytes[offset..offset + length], offset)?;
            structures.push(structure);
            offset += length;
        }

        let sum = byte_sum(bytes);
        if sum != 0 {
            let actual = header.checksum;
            return Err(CdatError::BadChecksum {
                expected: actual.wrapping_sub(sum),
                actual,
            });
        }
        Ok(CdatTable { header, structures })
    }

    /// Encodes the table with the header's length and checksum recomputed and reserved
    /// bytes zeroed.
    ///
    /// # Panics
    /// If a structure is longer than 65535 bytes (an SSLBIS of more than 8189 entries,
    /// or an oversized [`CdatStructure::Unknown`]) or the table is longer than
    /// `u32::MAX`; [`CdatTable::try_encode`] reports those as errors instead.
    pub fn encode(&self) -> Vec<u8> {
        self.try_encode()
            .expect("CDAT structure or table too long for its length field")
    }

    /// Like [`CdatTable::encode`], but reports an over-long structure or table.
    pub fn try_encode(&self) -> Result<Vec<u8>, CdatError> {
        let mut bytes = vec![0u8; CDAT_HEADER_LEN];
        for structure in &self.structures {
            structure.encode_into(&mut bytes)?;
        }
        let length =
            u32::try_from(bytes.len()).map_err(|_| CdatError::EncodeTableTooLong(bytes.len()))?;
        let mut header = CdatHeader {
            length,
            checksum: 0,
            ..self.header
        };
        bytes[..CDAT_HEADER_LEN].copy_from_slice(&header.encode());
        header.checksum = 0u8.wrapping_sub(byte_sum(&bytes));
        bytes[HDR_CHECKSUM] = header.checksum;
        Ok(bytes)
    }
}

/// The length of the structure at `offset`, checked to be at least a structure header
/// and to end within `table`.
fn structure_length_at(table: &[u8], offset: usize) -> Result<usize, CdatError> {
    let remaining = table.len() - offset;
    if remaining < STRUCTURE_HEADER_LEN {
        return Err(CdatError::StructureHeaderTruncated { offset, remaining });
    }
    let structure_type = table[offset + STRUCT_TYPE];
    let length = le_u16(table, offset + STRUCT_LENGTH);
    if length == 0 {
        return Err(CdatError::ZeroLengthStructure {
            offset,
            structure_type,
        });
    }
    if usize::from(length) < STRUCTURE_HEADER_LEN {
        return Err(CdatError::StructureTooShort {
            offset,
            structure_type,
            length,
            minimum: STRUCTURE_HEADER_LEN,
        });
    }
    if usize::from(length) > remaining {
        return Err(CdatError::StructureOverrun {
            offset,
            length,
            remaining,
        });
    }
    Ok(usize::from(length))
}

/// The sum of `bytes` mod 256.
fn byte_sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// The little-endian u16 at `offset`; the caller has checked the bounds.
fn le_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

/// The little-endian u32 at `offset`; the caller has checked the bounds.
fn le_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

/// The little-endian u64 at `offset`; the caller has checked the bounds.
fn le_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests;
