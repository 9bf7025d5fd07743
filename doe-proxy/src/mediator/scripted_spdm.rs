//! A scripted SPDM responder and the requests of a scripted requester, for tests.
//!
//! The responder models what makes SPDM requesters collide on one mailbox: the
//! responder's single connection state (`shared/reference/spdm-sources.md` §4.1). A
//! GET_VERSION resets it to "version done"; GET_CAPABILITIES needs exactly that;
//! NEGOTIATE_ALGORITHMS needs capabilities done; GET_DIGESTS, GET_CERTIFICATE, CHALLENGE,
//! GET_MEASUREMENTS and END_SESSION need algorithms done. A request out of that order is
//! answered ERROR UnexpectedRequest (0x04, notes §1.3), as libspdm's responder does. Each
//! other answer is a minimal well-formed SPDM 1.2 response (the request's version, the
//! right response code, the fixed fields of notes §1.4) with zeros where a real responder
//! puts digests, nonces and signatures: no crypto.

use std::sync::{Arc, Mutex};

use super::spdm::SpdmHeader;
use crate::emulated::{FnResponder, Responder};
use crate::protocol::{bytes_to_dwords, dwords_to_bytes, DataObject, ProtocolId};

pub(super) const V10: u8 = 0x10;
pub(super) const V12: u8 = 0x12;

pub(super) const GET_DIGESTS: u8 = 0x81;
pub(super) const GET_CERTIFICATE: u8 = 0x82;
pub(super) const CHALLENGE: u8 = 0x83;
pub(super) const GET_VERSION: u8 = 0x84;
pub(super) const GET_MEASUREMENTS: u8 = 0xE0;
pub(super) const GET_CAPABILITIES: u8 = 0xE1;
pub(super) const NEGOTIATE_ALGORITHMS: u8 = 0xE3;
pub(super) const END_SESSION: u8 = 0xEC;

pub(super) const ERROR: u8 = 0x7F;
/// ErrorCode InvalidRequest (notes §1.3).
pub(super) const INVALID_REQUEST: u8 = 0x01;
/// ErrorCode UnexpectedRequest (notes §1.3).
pub(super) const UNEXPECTED_REQUEST: u8 = 0x04;
/// ErrorCode UnsupportedRequest (notes §1.3).
const UNSUPPORTED_REQUEST: u8 = 0x07;

/// Hash size of SHA-256 and signature size of ECDSA P-256, the algorithms the responder
/// selects (notes §2).
const HASH: usize = 32;
const SIGNATURE: usize = 64;
/// Bytes of certificate chain each CERTIFICATE carries.
const CERT_PORTION: usize = 16;
/// CAPABILITIES flags CERT | CHAL (notes §1.4).
const CAPABILITY_FLAGS: u32 = 0x2 | 0x4;
/// DataTransferSize and MaxSPDMmsgSize.
const TRANSFER_SIZE: u32 = 0x1200;
/// ALGORITHMS: ECDSA P-256 and SHA-256 (notes §2); its fixed part is 36 bytes (§1.4).
const BASE_ASYM_ECDSA_P256: u32 = 0x10;
const BASE_HASH_SHA256: u32 = 0x01;
const ALGORITHMS_LENGTH: u16 = 36;

/// How far the responder's connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    None,
    Version,
    Capabilities,
    Algorithms,
}

/// One exchange as the responder saw it: the request code (`None` for a message too
/// short for a header) and the response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) request: Option<u8>,
    pub(super) response: u8,
}

/// What the responder saw, in order.
pub(super) type DeviceLog = Arc<Mutex<Vec<Seen>>>;

/// The scripted responder on CMA/SPDM, and the log of what it saw.
pub(super) fn responder() -> (impl Responder, DeviceLog) {
    let log = DeviceLog::default();
    let seen = log.clone();
    let mut connection = Connection::None;
    let responder = FnResponder::new(ProtocolId::CMA_SPDM, move |request: &DataObject| {
        let bytes = dwords_to_bytes(&request.payload);
        let response = respond(&mut connection, &bytes);
        seen.lock().unwrap().push(Seen {
            request: (bytes.len() >= 4).then(|| bytes[1]),
            response: response[1],
        });
        DataObject::new(ProtocolId::CMA_SPDM, bytes_to_dwords(&response))
            .encode()
            .ok()
    });
    (responder, log)
}

/// The SPDM response to `request` (bytes), moving the connection on.
fn respond(connection: &mut Connection, request: &[u8]) -> Vec<u8> {
    let [version, code, param1] = match request {
        [a, b, c, _, ..] => [*a, *b, *c],
        _ => return error(V10, INVALID_REQUEST, 0),
    };
    let needs = |state: Connection| *connection == state;
    let mut response = vec![version, code & 0x7F, 0, 0];
    match code {
        GET_VERSION => {
            *connection = Connection::Version;
            // Reserved, one entry: 1.2 (0x1200 LE).
            response.extend([0, 1, 0x00, 0x12]);
        }
        GET_CAPABILITIES if needs(Connection::Version) => {
            *connection = Connection::Capabilities;
            response.extend([0, 0, 0, 0]);
            response.extend(CAPABILITY_FLAGS.to_le_bytes());
            response.extend(TRANSFER_SIZE.to_le_bytes());
            response.extend(TRANSFER_SIZE.to_le_bytes());
        }
        NEGOTIATE_ALGORITHMS if needs(Connection::Capabilities) => {
            *connection = Connection::Algorithms;
            response.extend(ALGORITHMS_LENGTH.to_le_bytes());
            response.extend([0, 0]);
            response.extend(0u32.to_le_bytes());
            response.extend(BASE_ASYM_ECDSA_P256.to_le_bytes());
            response.extend(BASE_HASH_SHA256.to_le_bytes());
            response.resize(usize::from(ALGORITHMS_LENGTH), 0);
        }
        GET_DIGESTS if needs(Connection::Algorithms) => {
            response[3] = 0x01; // slot 0 provisioned
            response.extend([0; HASH]);
        }
        GET_CERTIFICATE if needs(Connection::Algorithms) => {
            response.extend((CERT_PORTION as u16).to_le_bytes());
            response.extend(0u16.to_le_bytes());
            response.extend([0xce; CERT_PORTION]);
        }
        CHALLENGE if needs(Connection::Algorithms) => {
            response[2] = param1 & 0x0f;
            response[3] = 0x01;
            response.extend([0; HASH]); // CertChainHash
            response.extend([0; 32]); // Nonce
            response.extend([0, 0]); // OpaqueDataLength
            response.extend([0; SIGNATURE]);
        }
        GET_MEASUREMENTS if needs(Connection::Algorithms) => {
            let signed = param1 & 0x01 != 0;
            response.extend([0, 0, 0, 0]); // no blocks, empty record
            response.extend([0; 32]); // Nonce
            response.extend([0, 0]); // OpaqueDataLength
            if signed {
                response.extend([0; SIGNATURE]);
            }
        }
        END_SESSION if needs(Connection::Algorithms) => {}
        GET_CAPABILITIES | NEGOTIATE_ALGORITHMS | GET_DIGESTS | GET_CERTIFICATE | CHALLENGE
        | GET_MEASUREMENTS | END_SESSION => return error(version, UNEXPECTED_REQUEST, 0),
        _ => return error(version, UNSUPPORTED_REQUEST, code),
    }
    response
}

fn error(version: u8, code: u8, data: u8) -> Vec<u8> {
    vec![version, ERROR, code, data]
}

/// A CMA/SPDM request object carrying `message` (zero-padded to whole dwords).
fn request(message: &[u8]) -> Vec<u32> {
    DataObject::new(ProtocolId::CMA_SPDM, bytes_to_dwords(message))
        .encode()
        .unwrap_or_default()
}

pub(super) fn get_version() -> Vec<u32> {
    request(&[V10, GET_VERSION, 0, 0])
}

pub(super) fn get_capabilities() -> Vec<u32> {
    let mut message = vec![V12, GET_CAPABILITIES, 0, 0, 0, 0, 0, 0];
    message.extend(CAPABILITY_FLAGS.to_le_bytes());
    message.extend(TRANSFER_SIZE.to_le_bytes());
    message.extend(TRANSFER_SIZE.to_le_bytes());
    request(&message)
}

pub(super) fn negotiate_algorithms() -> Vec<u32> {
    let mut message = vec![V12, NEGOTIATE_ALGORITHMS, 0, 0];
    message.extend(32u16.to_le_bytes()); // Length: the fixed part alone
    message.extend([0, 0]);
    message.extend(BASE_ASYM_ECDSA_P256.to_le_bytes());
    message.extend(BASE_HASH_SHA256.to_le_bytes());
    message.resize(32, 0);
    request(&message)
}

pub(super) fn get_digests() -> Vec<u32> {
    request(&[V12, GET_DIGESTS, 0, 0])
}

pub(super) fn get_certificate() -> Vec<u32> {
    let mut message = vec![V12, GET_CERTIFICATE, 0, 0];
    message.extend(0u16.to_le_bytes());
    message.extend(0x400u16.to_le_bytes());
    request(&message)
}

pub(super) fn challenge() -> Vec<u32> {
    let mut message = vec![V12, CHALLENGE, 0, 0];
    message.extend([0x5a; 32]);
    request(&message)
}

/// GET_MEASUREMENTS of every measurement, with a signature (and its nonce and slot) or
/// without.
pub(super) fn get_measurements(signed: bool) -> Vec<u32> {
    let mut message = vec![V12, GET_MEASUREMENTS, u8::from(signed), 0xff];
    if signed {
        message.extend([0xa5; 32]);
        message.push(0);
    }
    request(&message)
}

pub(super) fn end_session() -> Vec<u32> {
    request(&[V12, END_SESSION, 0, 0])
}

/// A CMA/SPDM object with no payload: too short for an SPDM header.
pub(super) fn too_short() -> Vec<u32> {
    request(&[])
}

/// Authentication, as Linux's CMA and spdm-emu run it.
pub(super) const AUTHENTICATION: [fn() -> Vec<u32>; 6] = [
    get_version,
    get_capabilities,
    negotiate_algorithms,
    get_digests,
    get_certificate,
    challenge,
];

/// The SPDM header of a response object.
pub(super) fn header(response: &[u32]) -> Option<SpdmHeader> {
    SpdmHeader::of_object(response)
}

/// Whether `response` is the success response to `request`.
pub(super) fn succeeded(request: &[u32], response: &[u32]) -> bool {
    match (header(request), header(response)) {
        (Some(request), Some(response)) => response.code == request.code & 0x7F,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(connection: &mut Connection, request: Vec<u32>) -> Vec<u8> {
        let object = DataObject::decode(&request).unwrap();
        respond(connection, &dwords_to_bytes(&object.payload))
    }

    #[test]
    fn answers_in_order_and_refuses_out_of_order() {
        let mut connection = Connection::None;
        assert_eq!(
            ask(&mut connection, get_digests()),
            vec![V12, ERROR, UNEXPECTED_REQUEST, 0]
        );
        for step in AUTHENTICATION {
            let response = ask(&mut connection, step());
            let request = dwords_to_bytes(&DataObject::decode(&step()).unwrap().payload);
            assert_eq!(response[1], request[1] & 0x7F, "{request:x?}");
        }
        assert_eq!(
            ask(&mut connection, get_capabilities()),
            vec![V12, ERROR, UNEXPECTED_REQUEST, 0]
        );
        // GET_VERSION starts over: what needed algorithms is out of order again.
        assert_eq!(ask(&mut connection, get_version())[1], 0x04);
        assert_eq!(
            ask(&mut connection, challenge()),
            vec![V12, ERROR, UNEXPECTED_REQUEST, 0]
        );
    }

    #[test]
    fn the_responder_logs_what_it_saw() {
        let (mut responder, log) = responder();
        for step in AUTHENTICATION {
            let request = DataObject::decode(&step()).unwrap();
            let response = responder.respond(&request).unwrap();
            assert!(succeeded(&step(), &response), "{response:x?}");
        }
        let response = responder
            .respond(&DataObject::decode(&too_short()).unwrap())
            .unwrap();
        assert!(!succeeded(&too_short(), &response));
        let log = log.lock().unwrap();
        assert_eq!(log.len(), AUTHENTICATION.len() + 1);
        assert_eq!(
            log[0],
            Seen {
                request: Some(GET_VERSION),
                response: 0x04
            }
        );
        assert_eq!(
            log[log.len() - 1],
            Seen {
                request: None,
                response: ERROR
            }
        );
    }

    #[test]
    fn responses_have_their_fixed_sizes() {
        let mut connection = Connection::None;
        assert_eq!(ask(&mut connection, get_version()).len(), 8);
        assert_eq!(ask(&mut connection, get_capabilities()).len(), 20);
        assert_eq!(ask(&mut connection, negotiate_algorithms()).len(), 36);
        assert_eq!(ask(&mut connection, get_digests()).len(), 4 + HASH);
        assert_eq!(
            ask(&mut connection, challenge()).len(),
            4 + HASH + 32 + 2 + SIGNATURE
        );
        assert_eq!(
            ask(&mut connection, get_measurements(false)).len(),
            4 + 4 + 32 + 2
        );
        assert_eq!(ask(&mut connection, end_session()), vec![V12, 0x6C, 0, 0]);
        assert_eq!(
            ask(&mut connection, too_short()),
            vec![V10, ERROR, INVALID_REQUEST, 0]
        );
    }
}
