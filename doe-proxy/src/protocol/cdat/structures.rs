//! The CDAT structures (CDAT spec r1.03 Tables 2–10) and their byte codecs.
//!
//! Every structure starts with type u8, reserved u8, length u16. All integers are
//! little-endian. Reserved fields are ignored on decode and written as zero.

use serde::Serialize;

use super::{le_u16, le_u32, le_u64, CdatError, STRUCTURE_HEADER_LEN, STRUCT_LENGTH, STRUCT_TYPE};

/// Structure type of the Device Scoped Memory Affinity Structure (CDAT Table 2).
pub const TYPE_DSMAS: u8 = 0;
/// Structure type of the Device Scoped Latency and Bandwidth Information Structure.
pub const TYPE_DSLBIS: u8 = 1;
/// Structure type of the Device Scoped Memory Side Cache Information Structure.
pub const TYPE_DSMSCIS: u8 = 2;
/// Structure type of the Device Scoped Initiator Structure.
pub const TYPE_DSIS: u8 = 3;
/// Structure type of the Device Scoped EFI Memory Type Structure.
pub const TYPE_DSEMTS: u8 = 4;
/// Structure type of the Switch Scoped Latency and Bandwidth Information Structure.
pub const TYPE_SSLBIS: u8 = 5;

/// Size of a DSMAS (CDAT Table 3), structure header included.
pub const DSMAS_LEN: usize = 24;
/// Size of a DSLBIS (CDAT Table 5).
pub const DSLBIS_LEN: usize = 24;
/// Size of a DSMSCIS (CDAT Table 6).
pub const DSMSCIS_LEN: usize = 20;
/// Size of a DSIS (CDAT Table 7).
pub const DSIS_LEN: usize = 8;
/// Size of a DSEMTS (CDAT Table 8).
pub const DSEMTS_LEN: usize = 24;
/// Size of an SSLBIS without entries (CDAT Table 9).
pub const SSLBIS_HEADER_LEN: usize = 16;
/// Size of one SSLBIS entry (CDAT Table 10).
pub const SSLBIS_ENTRY_LEN: usize = 8;

/// DSMAS flags bit 2: the range is non-volatile.
pub const DSMAS_FLAG_NON_VOLATILE: u8 = 1 << 2;
/// DSMAS flags bit 3: the range is shareable.
pub const DSMAS_FLAG_SHAREABLE: u8 = 1 << 3;
/// DSMAS flags bit 4: hardware-managed coherency.
pub const DSMAS_FLAG_HW_COHERENT: u8 = 1 << 4;
/// DSMAS flags bit 5: interconnect-specific dynamic capacity management.
pub const DSMAS_FLAG_DYNAMIC_CAPACITY: u8 = 1 << 5;

/// DSLBIS flags when the handle names a DSMAS: the HMAT System Locality Latency and
/// Bandwidth "Flags" field; memory hierarchy (bits 3:0) 0 is "memory".
pub const DSLBIS_FLAGS_MEMORY: u8 = 0;
/// DSLBIS/SSLBIS data type (HMAT): access latency, entries × base unit in picoseconds.
pub const HMAT_ACCESS_LATENCY: u8 = 0;
/// HMAT data type: read latency (picoseconds).
pub const HMAT_READ_LATENCY: u8 = 1;
/// HMAT data type: write latency (picoseconds).
pub const HMAT_WRITE_LATENCY: u8 = 2;
/// HMAT data type: access bandwidth, entries × base unit in MB/s.
pub const HMAT_ACCESS_BANDWIDTH: u8 = 3;
/// HMAT data type: read bandwidth (MB/s).
pub const HMAT_READ_BANDWIDTH: u8 = 4;
/// HMAT data type: write bandwidth (MB/s).
pub const HMAT_WRITE_BANDWIDTH: u8 = 5;

/// DSEMTS memory type: EfiConventionalMemory.
pub const DSEMTS_EFI_CONVENTIONAL: u8 = 0;
/// DSEMTS memory type: EfiConventionalMemory with the EFI_MEMORY_SP (specific purpose)
/// attribute; QEMU's cxl-type3 uses it for volatile memory.
pub const DSEMTS_EFI_SPECIFIC_PURPOSE: u8 = 1;
/// DSEMTS memory type: EfiReservedMemoryType; QEMU's cxl-type3 uses it for persistent
/// memory (and used it for every region before volatile regions got value 1).
pub const DSEMTS_EFI_RESERVED: u8 = 2;

/// DSIS flags bit 0: memory is attached to the initiator.
pub const DSIS_FLAG_MEMORY_ATTACHED: u8 = 1 << 0;

/// SSLBIS port ID of the switch's upstream port.
pub const SSLBIS_PORT_ID_USP: u16 = 0x0100;
/// SSLBIS port ID meaning "any port".
pub const SSLBIS_PORT_ID_ANY: u16 = 0xffff;

/// Device Scoped Memory Affinity Structure (CDAT Table 3, type 0, 24 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dsmas {
    /// DSMAD handle, which other structures refer to.
    pub dsmad_handle: u8,
    /// `DSMAS_FLAG_*` bits.
    pub flags: u8,
    /// Base of the device physical address range.
    pub dpa_base: u64,
    /// Length of the device physical address range.
    pub dpa_length: u64,
}

/// Device Scoped Latency and Bandwidth Information Structure (CDAT Table 5, type 1,
/// 24 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dslbis {
    /// The DSMAS handle (or initiator handle) the values describe.
    pub handle: u8,
    /// HMAT-style flags ([`DSLBIS_FLAGS_MEMORY`] for a DSMAS range).
    pub flags: u8,
    /// `HMAT_*` data type: which latency or bandwidth the entries give.
    pub data_type: u8,
    /// Multiplier of the entries (picoseconds for latency, MB/s for bandwidth).
    pub entry_base_unit: u64,
    /// The values, in units of `entry_base_unit`.
    pub entries: [u16; 3],
}

/// Device Scoped Memory Side Cache Information Structure (CDAT Table 6, type 2,
/// 20 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dsmscis {
    /// The DSMAS the cache fronts.
    pub dsmas_handle: u8,
    /// Size of the memory-side cache in bytes.
    pub memory_side_cache_size: u64,
    /// Cache attributes, as in the HMAT Memory Side Cache Information Structure.
    pub cache_attributes: u32,
}

/// Device Scoped Initiator Structure (CDAT Table 7, type 3, 8 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dsis {
    /// `DSIS_FLAG_*` bits.
    pub flags: u8,
    /// Initiator handle.
    pub handle: u8,
}

/// Device Scoped EFI Memory Type Structure (CDAT Table 8, type 4, 24 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dsemts {
    /// The DSMAS the range belongs to.
    pub dsmas_handle: u8,
    /// `DSEMTS_EFI_*` memory type and attribute.
    pub efi_memory_type_attr: u8,
    /// Offset of the range from the DSMAS's DPA base.
    pub dpa_offset: u64,
    /// Length of the range.
    pub dpa_length: u64,
}

/// One Switch Scoped Latency and Bandwidth entry (CDAT Table 10, 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SslbisEntry {
    /// Port X ([`SSLBIS_PORT_ID_USP`], [`SSLBIS_PORT_ID_ANY`], or a downstream port).
    pub port_x_id: u16,
    /// Port Y.
    pub port_y_id: u16,
    /// Latency or bandwidth between the ports, in units of the entry base unit.
    pub latency_or_bandwidth: u16,
}

/// Switch Scoped Latency and Bandwidth Information Structure (CDAT Table 9, type 5,
/// 16 + 8n bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sslbis {
    /// `HMAT_*` data type of every entry.
    pub data_type: u8,
    /// Multiplier of the entries.
    pub entry_base_unit: u64,
    /// The port-pair entries.
    pub entries: Vec<SslbisEntry>,
}

/// One CDAT structure. Serialises with its name in a `"type"` field (`"DSMAS"`, ...,
/// `"UNKNOWN"`) beside the structure's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum CdatStructure {
    /// Type 0.
    Dsmas(Dsmas),
    /// Type 1.
    Dslbis(Dslbis),
    /// Type 2.
    Dsmscis(Dsmscis),
    /// Type 3.
    Dsis(Dsis),
    /// Type 4.
    Dsemts(Dsemts),
    /// Type 5.
    Sslbis(Sslbis),
    /// A reserved type (6..=255), kept as it is so that a table can be re-encoded.
    /// Meant for types 6..=255 only: given a type 0..=5 it encodes `bytes` under that
    /// type, and the result parses back only if `bytes` is a valid body for it.
    Unknown {
        /// The structure type.
        structure_type: u8,
        /// The bytes after the 4-byte structure header.
        bytes: Vec<u8>,
    },
}

impl CdatStructure {
    /// The structure type number.
    pub fn structure_type(&self) -> u8 {
        match self {
            CdatStructure::Dsmas(_) => TYPE_DSMAS,
            CdatStructure::Dslbis(_) => TYPE_DSLBIS,
            CdatStructure::Dsmscis(_) => TYPE_DSMSCIS,
            CdatStructure::Dsis(_) => TYPE_DSIS,
            CdatStructure::Dsemts(_) => TYPE_DSEMTS,
            CdatStructure::Sslbis(_) => TYPE_SSLBIS,
            CdatStructure::Unknown { structure_type, .. } => *structure_type,
        }
    }

    /// The encoded length in bytes, structure header included.
    pub fn encoded_len(&self) -> usize {
        match self {
            CdatStructure::Dsmas(_) => DSMAS_LEN,
            CdatStructure::Dslbis(_) => DSLBIS_LEN,
            CdatStructure::Dsmscis(_) => DSMSCIS_LEN,
            CdatStructure::Dsis(_) => DSIS_LEN,
            CdatStructure::Dsemts(_) => DSEMTS_LEN,
            CdatStructure::Sslbis(s) => SSLBIS_HEADER_LEN + SSLBIS_ENTRY_LEN * s.entries.len(),
            CdatStructure::Unknown { bytes, .. } => STRUCTURE_HEADER_LEN + bytes.len(),
        }
    }

    /// Decodes `bytes`, which must hold exactly one structure: its length field must
    /// equal `bytes.len()` (more bytes is [`CdatError::TrailingBytes`], fewer is
    /// [`CdatError::StructureOverrun`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, CdatError> {
        let length = super::structure_length_at(bytes, 0)?;
        if length < bytes.len() {
            return Err(CdatError::TrailingBytes {
                declared: length,
                actual: bytes.len(),
            });
        }
        Self::decode_at(bytes, 0)
    }

    /// Encodes the structure, length field included.
    pub fn encode(&self) -> Result<Vec<u8>, CdatError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes one structure whose bytes (`s`, exactly its length field long, at least
    /// the structure header) start at `offset` in the table, for error reports.
    pub(super) fn decode_at(s: &[u8], offset: usize) -> Result<Self, CdatError> {
        let structure_type = s[STRUCT_TYPE];
        let length = le_u16(s, STRUCT_LENGTH);
        let exact = |size: usize| -> Result<(), CdatError> {
            if s.len() < size {
                Err(CdatError::StructureTooShort {
                    offset,
                    structure_type,
                    length,
                    minimum: size,
                })
            } else if s.len() > size {
                Err(CdatError::StructureTooLong {
                    offset,
                    structure_type,
                    length,
                    expected: size,
                })
            } else {
                Ok(())
            }
        };
        Ok(match structure_type {
            TYPE_DSMAS => {
                exact(DSMAS_LEN)?;
                CdatStructure::Dsmas(Dsmas {
                    dsmad_handle: s[4],
                    flags: s[5],
                    dpa_base: le_u64(s, 8),
                    dpa_length: le_u64(s, 16),
                })
            }
            TYPE_DSLBIS => {
                exact(DSLBIS_LEN)?;
                CdatStructure::Dslbis(Dslbis {
                    handle: s[4],
                    flags: s[5],
                    data_type: s[6],
                    entry_base_unit: le_u64(s, 8),
                    entries: [le_u16(s, 16), le_u16(s, 18), le_u16(s, 20)],
                })
            }
            TYPE_DSMSCIS => {
                exact(DSMSCIS_LEN)?;
                CdatStructure::Dsmscis(Dsmscis {
                    dsmas_handle: s[4],
                    memory_side_cache_size: le_u64(s, 8),
                    cache_attributes: le_u32(s, 16),
                })
            }
            TYPE_DSIS => {
                exact(DSIS_LEN)?;
                CdatStructure::Dsis(Dsis {
                    flags: s[4],
                    handle: s[5],
                })
            }
            TYPE_DSEMTS => {
                exact(DSEMTS_LEN)?;
                CdatStructure::Dsemts(Dsemts {
                    dsmas_handle: s[4],
                    efi_memory_type_attr: s[5],
                    dpa_offset: le_u64(s, 8),
                    dpa_length: le_u64(s, 16),
                })
            }
            TYPE_SSLBIS => {
                if s.len() < SSLBIS_HEADER_LEN {
                    return Err(CdatError::StructureTooShort {
                        offset,
                        structure_type,
                        length,
                        minimum: SSLBIS_HEADER_LEN,
                    });
                }
                // Written without `%` / `is_multiple_of` (the latter needs Rust 1.87).
                let entries = s[SSLBIS_HEADER_LEN..].chunks_exact(SSLBIS_ENTRY_LEN);
                if !entries.remainder().is_empty() {
                    return Err(CdatError::SslbisPartialEntry { offset, length });
                }
                CdatStructure::Sslbis(Sslbis {
                    data_type: s[4],
                    entry_base_unit: le_u64(s, 8),
                    entries: entries
                        .map(|e| SslbisEntry {
                            port_x_id: le_u16(e, 0),
                            port_y_id: le_u16(e, 2),
                            latency_or_bandwidth: le_u16(e, 4),
                        })
                        .collect(),
                })
            }
            _ => CdatStructure::Unknown {
                structure_type,
                bytes: s[STRUCTURE_HEADER_LEN..].to_vec(),
            },
        })
    }

    /// Appends the encoded structure to `out`.
    pub(super) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), CdatError> {
        let len = self.encoded_len();
        let length = u16::try_from(len).map_err(|_| CdatError::EncodeStructureTooLong(len))?;
        let start = out.len();
        out.extend_from_slice(&[self.structure_type(), 0]);
        out.extend_from_slice(&length.to_le_bytes());
        match self {
            CdatStructure::Dsmas(d) => {
                out.extend_from_slice(&[d.dsmad_handle, d.flags, 0, 0]);
                out.extend_from_slice(&d.dpa_base.to_le_bytes());
                out.extend_from_slice(&d.dpa_length.to_le_bytes());
            }
            CdatStructure::Dslbis(d) => {
                out.extend_from_slice(&[d.handle, d.flags, d.data_type, 0]);
                out.extend_from_slice(&d.entry_base_unit.to_le_bytes());
                for entry in d.entries {
                    out.extend_from_slice(&entry.to_le_bytes());
                }
                out.extend_from_slice(&[0, 0]);
            }
            CdatStructure::Dsmscis(d) => {
                out.extend_from_slice(&[d.dsmas_handle, 0, 0, 0]);
                out.extend_from_slice(&d.memory_side_cache_size.to_le_bytes());
                out.extend_from_slice(&d.cache_attributes.to_le_bytes());
            }
            CdatStructure::Dsis(d) => out.extend_from_slice(&[d.flags, d.handle, 0, 0]),
            CdatStructure::Dsemts(d) => {
                out.extend_from_slice(&[d.dsmas_handle, d.efi_memory_type_attr, 0, 0]);
                out.extend_from_slice(&d.dpa_offset.to_le_bytes());
                out.extend_from_slice(&d.dpa_length.to_le_bytes());
            }
            CdatStructure::Sslbis(d) => {
                out.extend_from_slice(&[d.data_type, 0, 0, 0]);
                out.extend_from_slice(&d.entry_base_unit.to_le_bytes());
                for e in &d.entries {
                    out.extend_from_slice(&e.port_x_id.to_le_bytes());
                    out.extend_from_slice(&e.port_y_id.to_le_bytes());
                    out.extend_from_slice(&e.latency_or_bandwidth.to_le_bytes());
                    out.extend_from_slice(&[0, 0]);
                }
            }
            CdatStructure::Unknown { bytes, .. } => out.extend_from_slice(bytes),
        }
        debug_assert_eq!(out.len() - start, len);
        Ok(())
    }
}
