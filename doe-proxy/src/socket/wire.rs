//! The framing of the DOE socket (`vmm --doe-socket`, `doe-proxyd --socket`): pure
//! encoders and decoders, no I/O. The layout is documented in `doe-proxy/README.md`
//! ("The DOE socket"); every number is little-endian.
//!
//! ```text
//! frame    = length:u32 body[length]
//! request  = version:u8=1 op:u8 reserved:u16=0 tag:u32 function:u32 mailbox:u16 reserved:u16=0
//!            object:u32[]            (op EXCHANGE: one whole DOE data object, header included)
//! reply    = version:u8=1 status:u8 reserved:u16=0 tag:u32 object_dwords:u32
//!            object:u32[object_dwords] message:utf8[]   (the rest of the body)
//! function = domain << 16 | bus << 8 | device << 3 | function
//! ```

use crate::pci_address::Bdf;
use crate::protocol::MAX_OBJECT_DWORDS;

/// The version byte of every message.
pub const WIRE_VERSION: u8 = 1;
/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;
/// Bytes of a request body before its object.
pub const REQUEST_HEADER_BYTES: usize = 16;
/// Bytes of a reply body before its object.
pub const REPLY_HEADER_BYTES: usize = 12;
/// Longest message (reply) text carried, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest body either side accepts: the largest DOE object plus headers and a message.
pub const MAX_BODY_BYTES: usize = REPLY_HEADER_BYTES + 4 * MAX_OBJECT_DWORDS + MAX_MESSAGE_BYTES;

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Exchange one DOE data object on a mailbox.
    Exchange,
    /// List the functions and mailboxes served (the reply's message is JSON).
    List,
}

impl Op {
    fn code(self) -> u8 {
        match self {
            Op::Exchange => 1,
            Op::List => 2,
        }
    }

    fn from_code(code: u8) -> Option<Op> {
        match code {
            1 => Some(Op::Exchange),
            2 => Some(Op::List),
            _ => None,
        }
    }
}

/// How a request ended. Every request gets exactly one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The response object (EXCHANGE) or the listing (LIST).
    Ok = 0,
    /// The policy refused it; the message names the rule and the reason, and a denied
    /// CMA/SPDM request code also carries the SPDM ERROR response object.
    Denied = 1,
    /// Too many of this connection's requests are queued for the mailbox; retry later.
    Busy = 2,
    /// The device did not answer in time; the mailbox was aborted.
    TimedOut = 3,
    /// The device reported an error or answered something malformed.
    DeviceError = 4,
    /// The mailbox no longer works (an abort did not complete).
    MailboxDead = 5,
    /// The request was cancelled (the server is dropping it).
    Cancelled = 6,
    /// The server is shutting down.
    ShuttingDown = 7,
    /// No mailbox is served at that function and offset.
    NoSuchMailbox = 8,
    /// The request is malformed (bad framing, op, object).
    BadRequest = 9,
    /// The peer is not allowed to use this socket at all; the connection is closed.
    NotAllowed = 10,
    /// A fault of the server itself.
    Internal = 11,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 12] = [
        Status::Ok,
        Status::Denied,
        Status::Busy,
        Status::TimedOut,
        Status::DeviceError,
        Status::MailboxDead,
        Status::Cancelled,
        Status::ShuttingDown,
        Status::NoSuchMailbox,
        Status::BadRequest,
        Status::NotAllowed,
        Status::Internal,
    ];

    /// The status with `code`, if any.
    pub fn from_code(code: u8) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as u8 == code)
    }

    /// A stable word for messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Denied => "denied",
            Status::Busy => "busy",
            Status::TimedOut => "timed-out",
            Status::DeviceError => "device-error",
            Status::MailboxDead => "mailbox-dead",
            Status::Cancelled => "cancelled",
            Status::ShuttingDown => "shutting-down",
            Status::NoSuchMailbox => "no-such-mailbox",
            Status::BadRequest => "bad-request",
            Status::NotAllowed => "not-allowed",
            Status::Internal => "internal",
        }
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Chosen by the client; echoed in the reply.
    pub tag: u32,
    /// What it asks.
    pub op: Op,
    /// The function addressed (ignored by LIST).
    pub function: Bdf,
    /// Config-space offset of the DOE capability (ignored by LIST).
    pub mailbox: u16,
    /// The whole request data object (EXCHANGE), as dwords.
    pub object: Vec<u32>,
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request's tag.
    pub tag: u32,
    /// How it ended.
    pub status: Status,
    /// The response object (OK of EXCHANGE; the SPDM ERROR of a denied SPDM request).
    pub object: Vec<u32>,
    /// Text: the error's explanation, or LIST's JSON.
    pub message: String,
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The length prefix announces more than [`MAX_BODY_BYTES`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_BODY_BYTES}")]
    TooLong(usize),
    /// The body is shorter than its fixed header.
    #[error("message of {got} bytes is shorter than its {need}-byte header")]
    Short {
        /// Bytes present.
        got: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// The version byte is not [`WIRE_VERSION`].
    #[error("unsupported message version {0} (this side speaks {WIRE_VERSION})")]
    Version(u8),
    /// Unknown op code.
    #[error("unknown request op {0}")]
    Op(u8),
    /// Unknown status code.
    #[error("unknown reply status {0}")]
    Status(u8),
    /// The function field is not a PCI address.
    #[error("function field {0:#010x} is not a PCI address")]
    Function(u32),
    /// The object is not whole dwords, or the reply's object count overruns the body.
    #[error("object of {0} bytes is not a whole number of dwords within the message")]
    Object(usize),
    /// The reply's message is not UTF-8.
    #[error("reply message is not UTF-8")]
    Message,
}

/// The wire form of a PCI address.
pub fn function_code(bdf: Bdf) -> u32 {
    u32::from(bdf.domain) << 16
        | u32::from(bdf.bus) << 8
        | u32::from(bdf.device) << 3
        | u32::from(bdf.function)
}

/// The PCI address of a wire function field.
pub fn function_from_code(code: u32) -> Result<Bdf, WireError> {
    let domain = (code >> 16) as u16;
    let [devfn, bus, _, _] = code.to_le_bytes();
    Bdf::new(domain, bus, devfn >> 3, devfn & 7).map_err(|_| WireError::Function(code))
}

/// The body length a frame announces, from its first [`LENGTH_BYTES`] bytes.
pub fn frame_length(prefix: [u8; LENGTH_BYTES]) -> Result<usize, WireError> {
    let length = u32::from_le_bytes(prefix) as usize;
    if length > MAX_BODY_BYTES {
        return Err(WireError::TooLong(length));
    }
    Ok(length)
}

/// `body` with its length prefix.
fn framed(body: Vec<u8>) -> Vec<u8> {
    let mut frame = Vec::with_capacity(LENGTH_BYTES + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn push_dwords(out: &mut Vec<u8>, dwords: &[u32]) {
    for dword in dwords {
        out.extend_from_slice(&dword.to_le_bytes());
    }
}

fn dwords(bytes: &[u8]) -> Result<Vec<u32>, WireError> {
    if bytes.len() % 4 != 0 {
        return Err(WireError::Object(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl Request {
    /// An EXCHANGE of `object` on the mailbox at `mailbox` of `function`.
    pub fn exchange(tag: u32, function: Bdf, mailbox: u16, object: Vec<u32>) -> Self {
        Request {
            tag,
            op: Op::Exchange,
            function,
            mailbox,
            object,
        }
    }

    /// A LIST.
    pub fn list(tag: u32) -> Self {
        Request {
            tag,
            op: Op::List,
            function: Bdf {
                domain: 0,
                bus: 0,
                device: 0,
                function: 0,
            },
            mailbox: 0,
            object: Vec::new(),
        }
    }

    /// The whole frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(REQUEST_HEADER_BYTES + 4 * self.object.len());
        body.extend_from_slice(&[WIRE_VERSION, self.op.code(), 0, 0]);
        body.extend_from_slice(&self.tag.to_le_bytes());
        body.extend_from_slice(&function_code(self.function).to_le_bytes());
        body.extend_from_slice(&self.mailbox.to_le_bytes());
        body.extend_from_slice(&[0, 0]);
        push_dwords(&mut body, &self.object);
        framed(body)
    }

    /// The tag of a body, if it is long enough to carry one (to answer a malformed
    /// request under its own tag).
    pub fn tag_of(body: &[u8]) -> Option<u32> {
        (body.len() >= 8).then(|| u32_at(body, 4))
    }

    /// Decodes a body (without its length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        if body.len() < REQUEST_HEADER_BYTES {
            return Err(WireError::Short {
                got: body.len(),
                need: REQUEST_HEADER_BYTES,
            });
        }
        if body[0] != WIRE_VERSION {
            return Err(WireError::Version(body[0]));
        }
        let op = Op::from_code(body[1]).ok_or(WireError::Op(body[1]))?;
        let function = function_from_code(u32_at(body, 8))?;
        Ok(Request {
            tag: u32_at(body, 4),
            op,
            function,
            mailbox: u16::from_le_bytes([body[12], body[13]]),
            object: dwords(&body[REQUEST_HEADER_BYTES..])?,
        })
    }
}

impl Reply {
    /// A reply with a status and a message, no object.
    pub fn error(tag: u32, status: Status, message: impl Into<String>) -> Self {
        Reply {
            tag,
            status,
            object: Vec::new(),
            message: message.into(),
        }
    }

    /// The whole frame (length prefix included). A message longer than
    /// [`MAX_MESSAGE_BYTES`] is cut at a character boundary.
    pub fn encode(&self) -> Vec<u8> {
        let mut message = self.message.as_str();
        if message.len() > MAX_MESSAGE_BYTES {
            let mut end = MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message = &message[..end];
        }
        let mut body =
            Vec::with_capacity(REPLY_HEADER_BYTES + 4 * self.object.len() + message.len());
        body.extend_from_slice(&[WIRE_VERSION, self.status as u8, 0, 0]);
        body.extend_from_slice(&self.tag.to_le_bytes());
        body.extend_from_slice(&(self.object.len() as u32).to_le_bytes());
        push_dwords(&mut body, &self.object);
        body.extend_from_slice(message.as_bytes());
        framed(body)
    }

    /// Decodes a body (without its length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        if body.len() < REPLY_HEADER_BYTES {
            return Err(WireError::Short {
                got: body.len(),
                need: REPLY_HEADER_BYTES,
            });
        }
        if body[0] != WIRE_VERSION {
            return Err(WireError::Version(body[0]));
        }
        let status = Status::from_code(body[1]).ok_or(WireError::Status(body[1]))?;
        let object_dwords = u32_at(body, 8) as usize;
        let rest = &body[REPLY_HEADER_BYTES..];
        let object_bytes = object_dwords
            .checked_mul(4)
            .filter(|&n| n <= rest.len())
            .ok_or(WireError::Object(object_dwords.saturating_mul(4)))?;
        let message = std::str::from_utf8(&rest[object_bytes..]).map_err(|_| WireError::Message)?;
        Ok(Reply {
            tag: u32_at(body, 4),
            status,
            object: dwords(&rest[..object_bytes])?,
            message: message.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn bdf(text: &str) -> Bdf {
        text.parse().unwrap()
    }

    fn body(frame: &[u8]) -> &[u8] {
        let length = frame_length(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(length, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn a_request_has_the_documented_layout() {
        let request = Request::exchange(7, bdf("0001:0d:02.3"), 0x190, vec![0x0002_1e98, 3, 0]);
        let frame = request.encode();
        assert_eq!(
            frame,
            [
                28, 0, 0, 0, // length
                1, 1, 0, 0, // version, EXCHANGE
                7, 0, 0, 0, // tag
                0x13, 0x0d, 1, 0, // device 2 function 3 = devfn 0x13, bus 0x0d, domain 1
                0x90, 0x01, 0, 0, // mailbox 0x190
                0x98, 0x1e, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, // the object
            ]
        );
        assert_eq!(Request::decode(body(&frame)), Ok(request));
    }

    #[test]
    fn a_reply_carries_an_object_and_a_message() {
        let reply = Reply {
            tag: 9,
            status: Status::Denied,
            object: vec![0x0001_0001, 3, 0x8407_7f12],
            message: "denied by rule 2".into(),
        };
        let frame = reply.encode();
        assert_eq!(&frame[4..16], [1, 1, 0, 0, 9, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(Reply::decode(body(&frame)), Ok(reply));
        let list = Reply {
            tag: 1,
            status: Status::Ok,
            object: vec![],
            message: "[]".into(),
        };
        assert_eq!(Reply::decode(body(&list.encode())), Ok(list));
    }

    #[test]
    fn malformed_bodies_are_named() {
        assert_eq!(
            Request::decode(&[1, 1, 0]),
            Err(WireError::Short { got: 3, need: 16 })
        );
        let mut good = Request::list(1).encode()[4..].to_vec();
        good[0] = 2;
        assert_eq!(Request::decode(&good), Err(WireError::Version(2)));
        good[0] = 1;
        good[1] = 9;
        assert_eq!(Request::decode(&good), Err(WireError::Op(9)));
        good[1] = 1;
        good.push(0);
        assert_eq!(Request::decode(&good), Err(WireError::Object(1)));
        let mut reply = Reply::error(1, Status::Busy, "x").encode()[4..].to_vec();
        reply[8] = 200; // 200 object dwords announced, one byte present
        assert!(matches!(Reply::decode(&reply), Err(WireError::Object(_))));
        assert_eq!(
            frame_length(u32::MAX.to_le_bytes()),
            Err(WireError::TooLong(u32::MAX as usize))
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let reply = Reply::error(1, Status::Internal, "é".repeat(MAX_MESSAGE_BYTES));
        let decoded = Reply::decode(&reply.encode()[4..]).unwrap();
        assert!(decoded.message.len() <= MAX_MESSAGE_BYTES);
        assert!(decoded.message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn every_status_round_trips_its_code() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status as u8), Some(status));
        }
        assert_eq!(Status::from_code(12), None);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Request::decode(&bytes);
            let _ = Reply::decode(&bytes);
        }

        #[test]
        fn requests_round_trip(
            tag in any::<u32>(),
            function in any::<u32>(),
            mailbox in any::<u16>(),
            object in proptest::collection::vec(any::<u32>(), 0..16),
        ) {
            if let Ok(function) = function_from_code(function) {
                let request = Request::exchange(tag, function, mailbox, object);
                prop_assert_eq!(Request::decode(&request.encode()[4..]), Ok(request));
            }
        }
    }
}
