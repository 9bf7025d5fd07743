//! DOE Discovery (PCI-SIG vendor 0x0001, type 0x00; PCIe r6.0 §6.30.1.1).
//!
//! The requester asks for one index at a time; each response names one protocol and the
//! next index, and a next index of 0 ends the list.

use super::header::{DataObject, HeaderError, ProtocolId};

/// Request dword 2, bits 7:0: the index asked for.
const REQ_INDEX_MASK: u32 = 0x0000_00ff;
/// Request dword 2, bits 15:8: the Discovery version the requester speaks.
const REQ_VERSION_SHIFT: u32 = 8;
const REQ_VERSION_MASK: u32 = 0x0000_ff00;
/// Response dword 2, bits 15:0: vendor ID of the protocol at this index.
const RSP_VENDOR_MASK: u32 = 0x0000_ffff;
/// Response dword 2, bits 23:16: data-object type of the protocol at this index.
const RSP_TYPE_SHIFT: u32 = 16;
const RSP_TYPE_MASK: u32 = 0x00ff_0000;
/// Response dword 2, bits 31:24: the next index, 0 after the last protocol.
const RSP_NEXT_SHIFT: u32 = 24;

/// A malformed Discovery object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The object's header is malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The object is not a Discovery object.
    #[error("expected a DOE Discovery object (0001:00), got {0}")]
    WrongProtocol(ProtocolId),
    /// The object has no payload dword.
    #[error("Discovery object has no payload dword")]
    MissingPayload,
}

/// A Discovery request for one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryRequest {
    /// The index asked for (0 is Discovery itself).
    pub index: u8,
    /// The Discovery version (Linux sends 2 when the capability version is ≥ 2, else 0).
    pub version: u8,
}

impl DiscoveryRequest {
    /// Encodes the request as a whole data object.
    pub fn encode(&self) -> Vec<u32> {
        let dw2 = u32::from(self.index) | (u32::from(self.version) << REQ_VERSION_SHIFT);
        DataObject::new(ProtocolId::DISCOVERY, vec![dw2])
            .encode()
            .expect("a one-dword payload always fits")
    }

    /// Decodes a whole request object. Extra payload dwords are tolerated.
    pub fn decode(dwords: &[u32]) -> Result<Self, DiscoveryError> {
        let dw2 = discovery_payload(dwords)?;
        Ok(DiscoveryRequest {
            index: (dw2 & REQ_INDEX_MASK) as u8,
            version: ((dw2 & REQ_VERSION_MASK) >> REQ_VERSION_SHIFT) as u8,
        })
    }
}

/// A Discovery response: the protocol at the requested index and the next index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryResponse {
    /// The protocol at the requested index.
    pub protocol: ProtocolId,
    /// The next index to ask for; 0 ends the list.
    pub next_index: u8,
}

impl DiscoveryResponse {
    /// Encodes the response as a whole data object.
    pub fn encode(&self) -> Vec<u32> {
        let dw2 = u32::from(self.protocol.vendor)
            | (u32::from(self.protocol.object_type) << RSP_TYPE_SHIFT)
            | (u32::from(self.next_index) << RSP_NEXT_SHIFT);
        DataObject::new(ProtocolId::DISCOVERY, vec![dw2])
            .encode()
            .expect("a one-dword payload always fits")
    }

    /// Decodes a whole response object. Extra payload dwords (the optional Discovery v2
    /// dword) are tolerated.
    pub fn decode(dwords: &[u32]) -> Result<Self, DiscoveryError> {
        let dw2 = discovery_payload(dwords)?;
        Ok(DiscoveryResponse {
            protocol: ProtocolId::new(
                (dw2 & RSP_VENDOR_MASK) as u16,
                ((dw2 & RSP_TYPE_MASK) >> RSP_TYPE_SHIFT) as u8,
            ),
            next_index: (dw2 >> RSP_NEXT_SHIFT) as u8,
        })
    }
}

/// The first payload dword of a complete Discovery object.
fn discovery_payload(dwords: &[u32]) -> Result<u32, DiscoveryError> {
    let object = DataObject::decode(dwords)?;
    if object.protocol != ProtocolId::DISCOVERY {
        return Err(DiscoveryError::WrongProtocol(object.protocol));
    }
    object
        .payload
        .first()
        .copied()
        .ok_or(DiscoveryError::MissingPayload)
}

/// Upper bound on Discovery steps: an index is 8 bits wide, so a responder cannot list
/// more than 256 protocols.
pub const MAX_DISCOVERY_ENTRIES: usize = 256;

/// Answers the Discovery request `request` for a function that supports `protocols`
/// (Discovery itself must be first, at index 0). An index past the end is answered
/// with vendor 0xFFFF / type 0xFF and next index 0, as QEMU does.
pub fn respond(protocols: &[ProtocolId], request: &DiscoveryRequest) -> DiscoveryResponse {
    let index = usize::from(request.index);
    match protocols.get(index) {
        Some(&protocol) => DiscoveryResponse {
            protocol,
            next_index: if index + 1 < protocols.len() {
                (index + 1) as u8
            } else {
                0
            },
        },
        None => DiscoveryResponse {
            protocol: ProtocolId::new(0xffff, 0xff),
            next_index: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let req = DiscoveryRequest {
            index: 3,
            version: 2,
        };
        let dwords = req.encode();
        assert_eq!(dwords, vec![0x0000_0001, 3, 0x0000_0203]);
        assert_eq!(DiscoveryRequest::decode(&dwords).unwrap(), req);
    }

    #[test]
    fn response_round_trip() {
        let rsp = DiscoveryResponse {
            protocol: ProtocolId::CXL_TABLE_ACCESS,
            next_index: 0,
        };
        let dwords = rsp.encode();
        assert_eq!(dwords[2], 0x0002_1e98);
        assert_eq!(DiscoveryResponse::decode(&dwords).unwrap(), rsp);
    }

    #[test]
    fn walk_over_responder_lists_every_protocol() {
        let protocols = [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS];
        let mut found = Vec::new();
        let mut index = 0u8;
        loop {
            let rsp = respond(&protocols, &DiscoveryRequest { index, version: 0 });
            found.push(rsp.protocol);
            if rsp.next_index == 0 {
                break;
            }
            index = rsp.next_index;
        }
        assert_eq!(found, protocols);
    }

    #[test]
    fn rejections() {
        assert_eq!(
            DiscoveryResponse::decode(&[0x0002_1e98, 3, 0]),
            Err(DiscoveryError::WrongProtocol(ProtocolId::CXL_TABLE_ACCESS))
        );
        assert_eq!(
            DiscoveryResponse::decode(&[1, 2]),
            Err(DiscoveryError::MissingPayload)
        );
        assert!(matches!(
            DiscoveryResponse::decode(&[1, 3]),
            Err(DiscoveryError::Header(HeaderError::LengthMismatch { .. }))
        ));
    }
}
