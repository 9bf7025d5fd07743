//! SPDM request codes: their names, and how to find one in a CMA/SPDM data object.
//!
//! Codes and names are those of DMTF DSP0274 1.2 as `libspdm`'s `spdm.h` lists them (see
//! `shared/reference/spdm-sources.md` §1.2). Request codes have bit 7 set; the response to a
//! request carries the same code with bit 7 clear.

use std::fmt;

/// Bit 7 marks a request code; a response code is the request code with it cleared.
const REQUEST_BIT: u8 = 0x80;
/// Offset of RequestResponseCode in the SPDM header (byte 0 is SPDMVersion).
const CODE_BYTE: usize = 1;

/// An SPDM request code (0x80..=0xFF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpdmRequestCode(u8);

/// The SPDM 1.2 request codes by name, in code order (spdm-sources.md §1.2).
const NAMES: &[(u8, &str)] = &[
    (0x81, "GET_DIGESTS"),
    (0x82, "GET_CERTIFICATE"),
    (0x83, "CHALLENGE"),
    (0x84, "GET_VERSION"),
    (0x85, "CHUNK_SEND"),
    (0x86, "CHUNK_GET"),
    (0xE0, "GET_MEASUREMENTS"),
    (0xE1, "GET_CAPABILITIES"),
    (0xE3, "NEGOTIATE_ALGORITHMS"),
    (0xE4, "KEY_EXCHANGE"),
    (0xE5, "FINISH"),
    (0xE6, "PSK_EXCHANGE"),
    (0xE7, "PSK_FINISH"),
    (0xE8, "HEARTBEAT"),
    (0xE9, "KEY_UPDATE"),
    (0xEA, "GET_ENCAPSULATED_REQUEST"),
    (0xEB, "DELIVER_ENCAPSULATED_RESPONSE"),
    (0xEC, "END_SESSION"),
    (0xED, "GET_CSR"),
    (0xEE, "SET_CERTIFICATE"),
    (0xFE, "VENDOR_DEFINED_REQUEST"),
    (0xFF, "RESPOND_IF_READY"),
];

/// The SPDM 1.2 response codes this crate names when an admin writes one by mistake.
const RESPONSE_NAMES: &[(u8, &str)] = &[
    (0x01, "DIGESTS"),
    (0x02, "CERTIFICATE"),
    (0x03, "CHALLENGE_AUTH"),
    (0x04, "VERSION"),
    (0x05, "CHUNK_SEND_ACK"),
    (0x06, "CHUNK_RESPONSE"),
    (0x60, "MEASUREMENTS"),
    (0x61, "CAPABILITIES"),
    (0x63, "ALGORITHMS"),
    (0x64, "KEY_EXCHANGE_RSP"),
    (0x65, "FINISH_RSP"),
    (0x66, "PSK_EXCHANGE_RSP"),
    (0x67, "PSK_FINISH_RSP"),
    (0x68, "HEARTBEAT_ACK"),
    (0x69, "KEY_UPDATE_ACK"),
    (0x6A, "ENCAPSULATED_REQUEST"),
    (0x6B, "ENCAPSULATED_RESPONSE_ACK"),
    (0x6C, "END_SESSION_ACK"),
    (0x6D, "CSR"),
    (0x6E, "SET_CERTIFICATE_RSP"),
    (0x7E, "VENDOR_DEFINED_RESPONSE"),
    (0x7F, "ERROR"),
];

/// A value that is not an SPDM request code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdmCodeError {
    /// A name that is not one of the SPDM 1.2 request names.
    #[error("unknown SPDM request code name {0:?}; use a 1.2 name such as GET_VERSION or a hex code such as \"0x84\"")]
    UnknownName(String),
    /// A number with bit 7 clear: a response code, not a request code.
    #[error("{code:#04x} is {what}, not a request: SPDM request codes are 0x80 to 0xff")]
    NotARequest {
        /// The value written.
        code: u8,
        /// What it is instead ("the response code VERSION" or "not a request code").
        what: String,
    },
    /// A number above 0xff.
    #[error("{0:#x} does not fit in the one-byte SPDM request code")]
    TooLarge(u64),
}

impl SpdmRequestCode {
    /// GET_VERSION (0x84), which (re)starts an SPDM connection.
    pub const GET_VERSION: SpdmRequestCode = SpdmRequestCode(0x84);

    /// The code for a byte, if it is a request code (bit 7 set).
    pub fn new(code: u8) -> Result<Self, SpdmCodeError> {
        if code & REQUEST_BIT == 0 {
            let what = match RESPONSE_NAMES.iter().find(|(value, _)| *value == code) {
                Some((_, name)) => format!("the response code {name}"),
                None => "not a request code".to_owned(),
            };
            return Err(SpdmCodeError::NotARequest { code, what });
        }
        Ok(SpdmRequestCode(code))
    }

    /// The code for a number written in a policy (checked to fit in a byte).
    pub fn from_number(value: u64) -> Result<Self, SpdmCodeError> {
        let byte = u8::try_from(value).map_err(|_| SpdmCodeError::TooLarge(value))?;
        Self::new(byte)
    }

    /// The code for a 1.2 request name such as `GET_VERSION` (exact, upper case).
    pub fn from_name(name: &str) -> Result<Self, SpdmCodeError> {
        NAMES
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(code, _)| SpdmRequestCode(*code))
            .ok_or_else(|| SpdmCodeError::UnknownName(name.to_owned()))
    }

    /// The code for policy text: a name, or a hex number written `0x84`.
    pub fn parse(text: &str) -> Result<Self, SpdmCodeError> {
        match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => match u64::from_str_radix(hex, 16) {
                Ok(value) => Self::from_number(value),
                Err(_) => Err(SpdmCodeError::UnknownName(text.to_owned())),
            },
            None => Self::from_name(text),
        }
    }

    /// The code byte.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The 1.2 name of the code, `None` for codes added later or reserved.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, name)| *name)
    }

    /// Every request code this crate has a name for.
    pub fn named() -> impl Iterator<Item = SpdmRequestCode> {
        NAMES.iter().map(|(code, _)| SpdmRequestCode(*code))
    }

    /// The request code of a CMA/SPDM data object, from its payload (the dwords after the
    /// DOE header): byte 0 is SPDMVersion, byte 1 RequestResponseCode (spdm-sources.md §1.1).
    ///
    /// `None` if the payload is empty or the byte is not a request code.
    pub fn from_payload(payload: &[u32]) -> Option<Self> {
        let first = payload.first()?.to_le_bytes();
        Self::new(first[CODE_BYTE]).ok()
    }
}

/// Formats as the name and the hex code, `GET_VERSION (0x84)`, or the code alone.
impl fmt::Display for SpdmRequestCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#04x})", self.0),
            None => write!(f, "{:#04x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for code in SpdmRequestCode::named() {
            let name = code.name().unwrap();
            assert_eq!(SpdmRequestCode::from_name(name).unwrap(), code);
            assert_eq!(
                SpdmRequestCode::parse(&format!("{:#04x}", code.code())).unwrap(),
                code
            );
        }
        assert_eq!(SpdmRequestCode::named().count(), NAMES.len());
    }

    #[test]
    fn table_is_in_code_order_and_all_requests() {
        assert!(NAMES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(NAMES.iter().all(|(code, _)| code & REQUEST_BIT != 0));
        assert!(RESPONSE_NAMES
            .iter()
            .all(|(code, _)| code & REQUEST_BIT == 0));
    }

    #[test]
    fn parses_names_and_hex() {
        assert_eq!(
            SpdmRequestCode::parse("GET_VERSION"),
            Ok(SpdmRequestCode::GET_VERSION)
        );
        assert_eq!(SpdmRequestCode::parse("0xEE").unwrap().code(), 0xee);
        assert_eq!(SpdmRequestCode::parse("0xef").unwrap().name(), None);
        assert!(matches!(
            SpdmRequestCode::parse("get_version"),
            Err(SpdmCodeError::UnknownName(_))
        ));
        assert!(matches!(
            SpdmRequestCode::parse("0xZZ"),
            Err(SpdmCodeError::UnknownName(_))
        ));
        assert_eq!(
            SpdmRequestCode::from_number(0x184),
            Err(SpdmCodeError::TooLarge(0x184))
        );
    }

    #[test]
    fn response_codes_are_refused_by_name() {
        let err = SpdmRequestCode::parse("0x04").unwrap_err();
        assert_eq!(
            err.to_string(),
            "0x04 is the response code VERSION, not a request: SPDM request codes are 0x80 to 0xff"
        );
        assert!(SpdmRequestCode::new(0x10).is_err());
    }

    #[test]
    fn code_from_payload() {
        // GET_VERSION at version 0x10: bytes 10 84 00 00.
        assert_eq!(
            SpdmRequestCode::from_payload(&[0x0000_8410]),
            Some(SpdmRequestCode::GET_VERSION)
        );
        assert_eq!(SpdmRequestCode::from_payload(&[]), None);
        // A response code in a request object is not a request.
        assert_eq!(SpdmRequestCode::from_payload(&[0x0000_0410]), None);
    }

    #[test]
    fn display() {
        assert_eq!(
            SpdmRequestCode::GET_VERSION.to_string(),
            "GET_VERSION (0x84)"
        );
        assert_eq!(SpdmRequestCode::new(0xef).unwrap().to_string(), "0xef");
    }
}
