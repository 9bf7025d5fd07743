//! The SPDM ERROR response answered locally for a CMA/SPDM request the device never sees
//! (denied by the policy, refused by a lease).
//!
//! Layout (DMTF DSP0274 §10.12 "ERROR", see `shared/reference/spdm-sources.md` §1.3): byte 0
//! SPDMVersion, byte 1 RequestResponseCode = ERROR (0x7F), byte 2 Param1 = ErrorCode,
//! byte 3 Param2 = ErrorData; no ExtendedErrorData. Carried in a CMA/SPDM (`0001:01`) DOE
//! data object: two header dwords and one payload dword, bytes in little-endian order as
//! DOE carries them (PCIe r6.0 §6.30.1).

use policies::{DenyReason, RequestInfo};

use crate::protocol::ProtocolId;

/// RequestResponseCode of an ERROR response.
pub const SPDM_ERROR: u8 = 0x7F;
/// ErrorCode UnsupportedRequest: ErrorData is the request code refused.
pub const ERROR_UNSUPPORTED_REQUEST: u8 = 0x07;
/// ErrorCode Busy: the requester may retry later; ErrorData is 0.
pub const ERROR_BUSY: u8 = 0x03;
/// The SPDM version used when a request is too short to carry one (1.0).
const DEFAULT_VERSION: u8 = 0x10;

/// The SPDMVersion byte of a CMA/SPDM request payload (its first byte), or 1.0.
pub fn request_version(payload: &[u32]) -> u8 {
    payload
        .first()
        .map_or(DEFAULT_VERSION, |dword| dword.to_le_bytes()[0])
}

/// A whole DOE data object (header included) carrying an SPDM ERROR at `version` with
/// `error_code` and `error_data`.
pub fn error_object(version: u8, error_code: u8, error_data: u8) -> Vec<u32> {
    let header0 = u32::from(ProtocolId::CMA_SPDM.vendor)
        | (u32::from(ProtocolId::CMA_SPDM.object_type) << 16);
    let payload = u32::from_le_bytes([version, SPDM_ERROR, error_code, error_data]);
    vec![header0, 3, payload]
}

/// The SPDM ERROR a client gets for a request the policy denied for `reason`, if the
/// denial has one: a denied request code (the protocol is allowed, the code is not) gets
/// UnsupportedRequest naming the code, a CMA/SPDM request over its rate limit gets Busy
/// ("retry later"); any other denial has none. `payload` is the request's DOE payload
/// (its SPDMVersion is echoed).
pub fn denial_response(
    reason: DenyReason,
    payload: &[u32],
    info: &RequestInfo,
) -> Option<Vec<u32>> {
    let version = request_version(payload);
    match reason {
        DenyReason::SpdmRequestDenied(code) if reason.answer_with_spdm_error() => Some(
            error_object(version, ERROR_UNSUPPORTED_REQUEST, code.code()),
        ),
        DenyReason::RateLimited if info.spdm_code.is_some() => {
            Some(error_object(version, ERROR_BUSY, 0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_request_echoes_the_version_and_names_the_code() {
        // KEY_EXCHANGE (0xE4) at SPDM 1.2.
        let request = [u32::from_le_bytes([0x12, 0xE4, 0, 0])];
        let object = error_object(request_version(&request), ERROR_UNSUPPORTED_REQUEST, 0xE4);
        assert_eq!(object, [0x0001_0001, 3, 0xE407_7F12]);
        let bytes = object[2].to_le_bytes();
        assert_eq!(bytes, [0x12, 0x7F, 0x07, 0xE4]);
    }

    #[test]
    fn busy_and_a_request_without_payload() {
        assert_eq!(request_version(&[]), 0x10);
        assert_eq!(error_object(0x11, ERROR_BUSY, 0)[2], 0x0003_7F11);
    }
}
