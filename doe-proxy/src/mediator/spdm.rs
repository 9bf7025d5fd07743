//! The little of SPDM that leases read and write: the 4-byte message header at the start
//! of a CMA/SPDM data object's payload, the codes that start and end a requester's
//! sequence, and the ERROR response a lease answers itself.
//!
//! The facts are those of DMTF DSP0274 1.2 as collected, with their sources, in
//! `shared/reference/spdm-sources.md` (cited below as "notes §n"). The SPDM message is
//! the payload of a CMA/SPDM data object (vendor 0001h, type 01h), zero-padded to whole
//! dwords and little-endian (notes §5), so its first four bytes are the first payload
//! dword's little-endian bytes.

use policies::SpdmRequestCode;

/// Dwords of the DOE header before the SPDM message (PCIe r6.0 §6.30.1).
const DOE_HEADER_DWORDS: usize = 2;

/// GET_VERSION: (re)starts the responder's connection with this requester; the responder
/// forgets everything negotiated before (notes §1.2, §4.1: "A GET_VERSION resets A and
/// everything else").
pub(super) const GET_VERSION: u8 = 0x84;
/// CHALLENGE: authenticates the responder; its CHALLENGE_AUTH ends an authentication
/// sequence (notes §1.2, §1.4; transcripts B and C are reset after it, notes §4.1).
pub(super) const CHALLENGE: u8 = 0x83;
/// GET_MEASUREMENTS (notes §1.2, §1.4).
pub(super) const GET_MEASUREMENTS: u8 = 0xE0;
/// END_SESSION: ends a secure session (notes §1.2, §1.4).
pub(super) const END_SESSION: u8 = 0xEC;
/// RESPOND_IF_READY: asks again for the response to a request answered ERROR
/// ResponseNotReady; Param1 is that request's code (notes §1.2, §1.4).
pub(super) const RESPOND_IF_READY: u8 = 0xFF;

/// GET_MEASUREMENTS Param1 bit 0, SignatureRequested (notes §1.4, `spdm.h`).
pub(super) const MEASUREMENTS_SIGNATURE_REQUESTED: u8 = 0x01;

/// ERROR's response code (notes §1.2, §1.3).
pub(super) const ERROR: u8 = crate::spdm::error::SPDM_ERROR;
/// ErrorCode ResponseNotReady: the responder needs more time; the requester asks again
/// with RESPOND_IF_READY (notes §1.3).
pub(super) const RESPONSE_NOT_READY: u8 = 0x42;
/// ErrorCode RequestResynch: the responder lost the connection's state; the requester
/// must start again with GET_VERSION (notes §1.3; DSP0274 1.2, ERROR response codes).
pub(super) const REQUEST_RESYNCH: u8 = 0x43;

/// Bit 7 of RequestResponseCode marks a request; the response to a request carries the
/// same code with it clear (notes §1.2).
const REQUEST_BIT: u8 = 0x80;

/// The response code that answers `request_code` when it succeeds (notes §1.2).
pub(super) fn success_response_code(request_code: u8) -> u8 {
    request_code & !REQUEST_BIT
}

/// The common header of an SPDM message: its first four bytes (notes §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SpdmHeader {
    /// SPDMVersion (0x10 for GET_VERSION and VERSION, the negotiated one after).
    pub(super) version: u8,
    /// RequestResponseCode.
    pub(super) code: u8,
    /// Param1 (for ERROR: the ErrorCode).
    pub(super) param1: u8,
    /// Param2 (for ERROR: the ErrorData).
    pub(super) param2: u8,
}

impl SpdmHeader {
    /// The header of the SPDM message that `object` (a whole data object, DOE header
    /// included) carries; `None` if the object has no payload dword, too short to hold
    /// an SPDM header. The DOE header itself is not checked here.
    pub(super) fn of_object(object: &[u32]) -> Option<Self> {
        let [version, code, param1, param2] = object.get(DOE_HEADER_DWORDS)?.to_le_bytes();
        Some(SpdmHeader {
            version,
            code,
            param1,
            param2,
        })
    }

    /// The request code, for logs: `None` if the code is a response code.
    pub(super) fn request_code(&self) -> Option<SpdmRequestCode> {
        SpdmRequestCode::new(self.code).ok()
    }
}

/// The CMA/SPDM data object of an ERROR RequestResynch response at `version` (the
/// request's SPDMVersion, echoed): the 2-dword DOE header and the 4-byte ERROR message —
/// Param1 = ErrorCode 0x43, Param2 = ErrorData 0, no extended data (notes §1.3; libspdm's
/// responder answers exactly this when its state needs a resynchronisation).
pub(super) fn request_resynch_response(version: u8) -> Vec<u32> {
    crate::spdm::error::error_object(version, REQUEST_RESYNCH, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DataObject, ProtocolId};

    #[test]
    fn reads_the_header_from_the_first_payload_dword() {
        // GET_MEASUREMENTS at 1.2, signature requested, all measurements: 12 e0 01 ff.
        let object = DataObject::new(ProtocolId::CMA_SPDM, vec![0xff01_e012, 0])
            .encode()
            .unwrap();
        let header = SpdmHeader::of_object(&object).unwrap();
        assert_eq!(
            header,
            SpdmHeader {
                version: 0x12,
                code: GET_MEASUREMENTS,
                param1: MEASUREMENTS_SIGNATURE_REQUESTED,
                param2: 0xff
            }
        );
        assert_eq!(
            header.request_code().unwrap().name(),
            Some("GET_MEASUREMENTS")
        );
    }

    #[test]
    fn an_object_without_payload_has_no_header() {
        let empty = DataObject::new(ProtocolId::CMA_SPDM, vec![])
            .encode()
            .unwrap();
        assert_eq!(SpdmHeader::of_object(&empty), None);
        assert_eq!(SpdmHeader::of_object(&[]), None);
    }

    #[test]
    fn request_resynch_is_a_whole_error_object() {
        let object = request_resynch_response(0x12);
        // DOE header 0001:01, 3 dwords; then bytes 12 7f 43 00.
        assert_eq!(object, vec![0x0001_0001, 3, 0x0043_7f12]);
        let decoded = DataObject::decode(&object).unwrap();
        assert_eq!(decoded.protocol, ProtocolId::CMA_SPDM);
        let header = SpdmHeader::of_object(&object).unwrap();
        assert_eq!(
            (header.code, header.param1, header.param2),
            (ERROR, 0x43, 0)
        );
        assert_eq!(header.request_code(), None);
    }

    #[test]
    fn success_codes_clear_the_request_bit() {
        assert_eq!(success_response_code(CHALLENGE), 0x03);
        assert_eq!(success_response_code(GET_MEASUREMENTS), 0x60);
        assert_eq!(success_response_code(END_SESSION), 0x6C);
        assert_eq!(success_response_code(GET_VERSION), 0x04);
    }
}
