//! Protocol responders plugged into an emulated DOE instance.

use std::fmt;

use crate::protocol::table_access::{self, TableAccessRequest};
use crate::protocol::{DataObject, ProtocolId};

/// Answers the requests of one protocol on an emulated DOE instance.
pub trait Responder: Send {
    /// The protocol answered (it is listed by Discovery in registration order).
    fn protocol(&self) -> ProtocolId;

    /// The whole response object, header included, to `request` (whose protocol is
    /// [`Responder::protocol`]). `None` discards the request without an answer, as QEMU
    /// does for unsupported or malformed objects, which leaves the requester to time out.
    fn respond(&mut self, request: &DataObject) -> Option<Vec<u32>>;
}

/// Answers every request with an object of the same protocol and payload.
#[derive(Debug, Clone, Copy)]
pub struct EchoResponder {
    protocol: ProtocolId,
}

impl EchoResponder {
    /// An echo for `protocol`.
    pub fn new(protocol: ProtocolId) -> Self {
        EchoResponder { protocol }
    }
}

impl Responder for EchoResponder {
    fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    fn respond(&mut self, request: &DataObject) -> Option<Vec<u32>> {
        DataObject::new(self.protocol, request.payload.clone())
            .encode()
            .ok()
    }
}

/// A responder made of a closure, for one-off behaviours in tests.
pub struct FnResponder<F> {
    protocol: ProtocolId,
    respond: F,
}

impl<F> FnResponder<F>
where
    F: FnMut(&DataObject) -> Option<Vec<u32>> + Send,
{
    /// Answers `protocol` with whatever `respond` returns.
    pub fn new(protocol: ProtocolId, respond: F) -> Self {
        FnResponder { protocol, respond }
    }
}

impl<F> fmt::Debug for FnResponder<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnResponder")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl<F> Responder for FnResponder<F>
where
    F: FnMut(&DataObject) -> Option<Vec<u32>> + Send,
{
    fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    fn respond(&mut self, request: &DataObject) -> Option<Vec<u32>> {
        (self.respond)(request)
    }
}

/// CXL Table Access (`1e98:02`) serving a CDAT, as QEMU's `cxl-type3` does.
#[derive(Debug, Clone)]
pub struct CdatResponder {
    entries: Vec<Vec<u8>>,
}

impl CdatResponder {
    /// Serves `entries`: entry 0 is the 16-byte CDAT header, then one structure per entry
    /// (see [`table_access::respond`]).
    pub fn new(entries: Vec<Vec<u8>>) -> Self {
        CdatResponder { entries }
    }
}

impl Responder for CdatResponder {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::CXL_TABLE_ACCESS
    }

    fn respond(&mut self, request: &DataObject) -> Option<Vec<u32>> {
        let request = TableAccessRequest::decode(&request.encode().ok()?).ok()?;
        table_access::respond(&self.entries, &request)?
            .encode()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::table_access::{TableAccessResponse, LAST_ENTRY_HANDLE};

    #[test]
    fn echo_returns_the_payload_under_its_protocol() {
        let mut echo = EchoResponder::new(ProtocolId::CMA_SPDM);
        let request = DataObject::new(ProtocolId::CMA_SPDM, vec![7, 8]);
        assert_eq!(echo.protocol(), ProtocolId::CMA_SPDM);
        assert_eq!(echo.respond(&request).unwrap(), vec![0x0001_0001, 4, 7, 8]);
    }

    #[test]
    fn closures_answer_as_told() {
        let mut calls = 0;
        let mut responder = FnResponder::new(ProtocolId::CXL_COMPLIANCE, move |_| {
            calls += 1;
            (calls > 1).then(|| vec![0x1e98, 2])
        });
        let request = DataObject::new(ProtocolId::CXL_COMPLIANCE, vec![]);
        assert_eq!(responder.respond(&request), None);
        assert_eq!(responder.respond(&request), Some(vec![0x1e98, 2]));
    }

    #[test]
    fn cdat_serves_entries_and_discards_bad_handles() {
        let mut cdat = CdatResponder::new(vec![vec![1; 16], vec![2; 8]]);
        let ask =
            |handle: u16| DataObject::decode(&TableAccessRequest::cdat(handle).encode()).unwrap();
        let first = TableAccessResponse::decode(&cdat.respond(&ask(0)).unwrap()).unwrap();
        assert_eq!(first.entry, vec![1; 16]);
        assert_eq!(first.next_handle, 1);
        let last = TableAccessResponse::decode(&cdat.respond(&ask(1)).unwrap()).unwrap();
        assert_eq!(last.entry, vec![2; 8]);
        assert_eq!(last.next_handle, LAST_ENTRY_HANDLE);
        assert_eq!(cdat.respond(&ask(2)), None);
        // A request with a code other than Read Entry is discarded.
        let bad = DataObject::new(ProtocolId::CXL_TABLE_ACCESS, vec![0x1]);
        assert_eq!(cdat.respond(&bad), None);
    }
}
