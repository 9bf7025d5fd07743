//! The two-dword DOE data-object header (PCIe r6.0 §6.30.1, Table 6-29 / 6-30).

pub use policies::protocol_id::ProtocolId;

/// Header dword 0, bits 15:0: Vendor ID.
const DW0_VENDOR_MASK: u32 = 0x0000_ffff;
/// Header dword 0, bits 23:16: Data Object Type.
const DW0_TYPE_SHIFT: u32 = 16;
const DW0_TYPE_MASK: u32 = 0x00ff_0000;
/// Header dword 1, bits 17:0: Length in dwords, including the header; 0 means 2^18.
const DW1_LENGTH_MASK: u32 = 0x0003_ffff;

/// Size of the header in dwords.
pub const HEADER_DWORDS: usize = 2;
/// Largest object a DOE mailbox can carry, in dwords (PCIe r6.0 §6.30.1: 2^18).
pub const MAX_OBJECT_DWORDS: usize = 1 << 18;

/// A malformed data-object header or object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The object is shorter than its two-dword header.
    #[error("data object truncated: {got} dword(s), the header alone needs 2")]
    Truncated {
        /// Dwords present.
        got: usize,
    },
    /// The length field is 1, which cannot hold the header itself.
    #[error("data object length field {0} is below the 2-dword header")]
    LengthTooSmall(u32),
    /// The object holds a different number of dwords than its header announces.
    #[error("data object length mismatch: header says {declared} dwords, object has {actual}")]
    LengthMismatch {
        /// Dwords the header announces.
        declared: usize,
        /// Dwords actually present.
        actual: usize,
    },
    /// An object longer than 2^18 dwords cannot be encoded.
    #[error("data object of {0} dwords exceeds the DOE maximum of 2^18")]
    TooLong(usize),
}

/// The decoded header of a DOE data object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataObjectHeader {
    /// The protocol the object belongs to.
    pub protocol: ProtocolId,
    /// Total length in dwords, header included (2..=2^18).
    pub length_dwords: usize,
}

impl DataObjectHeader {
    /// A header for an object of `payload_dwords` dwords after the header.
    pub fn for_payload(protocol: ProtocolId, payload_dwords: usize) -> Result<Self, HeaderError> {
        let length_dwords = payload_dwords + HEADER_DWORDS;
        if length_dwords > MAX_OBJECT_DWORDS {
            return Err(HeaderError::TooLong(length_dwords));
        }
        Ok(DataObjectHeader {
            protocol,
            length_dwords,
        })
    }

    /// Decodes header dword 0 (vendor, type); reserved bits 31:24 are ignored, as the
    /// spec requires of a receiver.
    pub fn decode_dw0(dw0: u32) -> ProtocolId {
        ProtocolId::new(
            (dw0 & DW0_VENDOR_MASK) as u16,
            ((dw0 & DW0_TYPE_MASK) >> DW0_TYPE_SHIFT) as u8,
        )
    }

    /// Decodes header dword 1: the length in dwords, where a field of 0 means 2^18.
    /// Bits above 17 (the Connection ID of DOE r1.1 and reserved bits) are ignored.
    pub fn decode_length(dw1: u32) -> Result<usize, HeaderError> {
        match dw1 & DW1_LENGTH_MASK {
            0 => Ok(MAX_OBJECT_DWORDS),
            1 => Err(HeaderError::LengthTooSmall(1)),
            n => Ok(n as usize),
        }
    }

    /// Decodes the first two dwords of an object (the rest is not looked at).
    pub fn decode(dwords: &[u32]) -> Result<Self, HeaderError> {
        if dwords.len() < HEADER_DWORDS {
            return Err(HeaderError::Truncated { got: dwords.len() });
        }
        Ok(DataObjectHeader {
            protocol: Self::decode_dw0(dwords[0]),
            length_dwords: Self::decode_length(dwords[1])?,
        })
    }

    /// Encodes the header as its two dwords (2^18 is written as 0).
    pub fn encode(&self) -> [u32; 2] {
        let dw0 = u32::from(self.protocol.vendor)
            | (u32::from(self.protocol.object_type) << DW0_TYPE_SHIFT);
        let dw1 = if self.length_dwords == MAX_OBJECT_DWORDS {
            0
        } else {
            self.length_dwords as u32 & DW1_LENGTH_MASK
        };
        [dw0, dw1]
    }

    /// Dwords after the header.
    pub fn payload_dwords(&self) -> usize {
        self.length_dwords - HEADER_DWORDS
    }
}

/// A whole data object: protocol and payload dwords (the header is derived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObject {
    /// The protocol of the object.
    pub protocol: ProtocolId,
    /// The dwords after the header.
    pub payload: Vec<u32>,
}

impl DataObject {
    /// An object of `protocol` carrying `payload`.
    pub fn new(protocol: ProtocolId, payload: Vec<u32>) -> Self {
        DataObject { protocol, payload }
    }

    /// Encodes header and payload as the dwords written to a mailbox.
    pub fn encode(&self) -> Result<Vec<u32>, HeaderError> {
        let header = DataObjectHeader::for_payload(self.protocol, self.payload.len())?;
        let mut dwords = Vec::with_capacity(header.length_dwords);
        dwords.extend_from_slice(&header.encode());
        dwords.extend_from_slice(&self.payload);
        Ok(dwords)
    }

    /// Decodes a complete object: exactly as many dwords as its header announces.
    pub fn decode(dwords: &[u32]) -> Result<Self, HeaderError> {
        let header = DataObjectHeader::decode(dwords)?;
        if header.length_dwords != dwords.len() {
            return Err(HeaderError::LengthMismatch {
                declared: header.length_dwords,
                actual: dwords.len(),
            });
        }
        Ok(DataObject {
            protocol: header.protocol,
            payload: dwords[HEADER_DWORDS..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_small_object() {
        let obj = DataObject::new(ProtocolId::CXL_TABLE_ACCESS, vec![0x0001_0000]);
        let dwords = obj.encode().unwrap();
        assert_eq!(dwords, vec![0x0002_1e98, 3, 0x0001_0000]);
        assert_eq!(DataObject::decode(&dwords).unwrap(), obj);
    }

    #[test]
    fn max_length_is_encoded_as_zero() {
        let header =
            DataObjectHeader::for_payload(ProtocolId::CMA_SPDM, MAX_OBJECT_DWORDS - 2).unwrap();
        assert_eq!(header.encode()[1], 0);
        assert_eq!(
            DataObjectHeader::decode(&header.encode())
                .unwrap()
                .length_dwords,
            MAX_OBJECT_DWORDS
        );
    }

    #[test]
    fn over_long_object_is_rejected() {
        assert_eq!(
            DataObjectHeader::for_payload(ProtocolId::CMA_SPDM, MAX_OBJECT_DWORDS - 1),
            Err(HeaderError::TooLong(MAX_OBJECT_DWORDS + 1))
        );
    }

    #[test]
    fn rejections() {
        assert_eq!(
            DataObjectHeader::decode(&[0x1e98]),
            Err(HeaderError::Truncated { got: 1 })
        );
        assert_eq!(
            DataObjectHeader::decode(&[0x1e98, 1]),
            Err(HeaderError::LengthTooSmall(1))
        );
        assert_eq!(
            DataObjectHeader::decode(&[0xff01_0001, 2])
                .unwrap()
                .protocol,
            ProtocolId::CMA_SPDM
        );
        assert_eq!(
            DataObject::decode(&[0x1, 4, 0]),
            Err(HeaderError::LengthMismatch {
                declared: 4,
                actual: 3
            })
        );
    }

    #[test]
    fn display_matches_linux_doe_features() {
        assert_eq!(ProtocolId::CXL_TABLE_ACCESS.to_string(), "1e98:02");
        assert_eq!(ProtocolId::DISCOVERY.to_string(), "0001:00");
    }
}
