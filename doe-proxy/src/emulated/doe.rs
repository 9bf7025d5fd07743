//! One emulated DOE instance: the responder side of the register state machine.
//!
//! It behaves as QEMU's `hw/pci/pcie_doe.c` does (doe-sources §3.1) unless a [`Fault`]
//! says otherwise: Go processes the object in the write mailbox at once, an object whose
//! length does not match its header (or that no one answers) is discarded silently,
//! popping the read mailbox past the end sets Error, and Abort empties both mailboxes
//! and clears Ready and Error. With [`Fault::SlowResponse`] Busy is real: it is set from
//! Go until the response is ready.

use std::mem;

use log::debug;

use super::error::EmulatedError;
use super::fault::{Fault, FaultHandle};
use super::responder::Responder;
use crate::mailbox::regs::{
    DoeCapabilities, DoeControl, DoeStatus, DOE_CAP, DOE_CTRL, DOE_READ, DOE_STATUS, DOE_WRITE,
};
use crate::protocol::discovery::{self, DiscoveryRequest, MAX_DISCOVERY_ENTRIES};
use crate::protocol::header::HEADER_DWORDS;
use crate::protocol::{DataObject, DataObjectHeader, ProtocolId, MAX_OBJECT_DWORDS};

/// A response computed at Go and held back while Busy ([`Fault::SlowResponse`]).
#[derive(Debug)]
struct Pending {
    response: Vec<u32>,
    status_reads_left: u32,
}

/// The registers and mailboxes of one emulated DOE instance. Register offsets are
/// relative to the capability header, as in [`crate::mailbox::regs`].
pub struct EmulatedDoe {
    capabilities: DoeCapabilities,
    interrupt_enable: bool,
    interrupt_status: bool,
    error: bool,
    ready: bool,
    write_mbox: Vec<u32>,
    read_mbox: Vec<u32>,
    read_index: usize,
    pending: Option<Pending>,
    abort_stuck: bool,
    protocols: Vec<ProtocolId>,
    responders: Vec<Box<dyn Responder>>,
    fault: FaultHandle,
}

impl std::fmt::Debug for EmulatedDoe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedDoe")
            .field("protocols", &self.protocols)
            .field("status", &self.peek_status())
            .field("write_mbox_len", &self.write_mbox.len())
            .field("read_mbox_len", &self.read_mbox.len())
            .field("fault", &self.fault.get())
            .finish_non_exhaustive()
    }
}

impl EmulatedDoe {
    /// An instance answering Discovery itself and every other protocol through
    /// `responders`, listed by Discovery in this order after Discovery. A responder for
    /// Discovery replaces the built-in answer (to test requesters against a lying
    /// device) without being listed twice.
    pub fn new(
        capabilities: DoeCapabilities,
        responders: Vec<Box<dyn Responder>>,
        fault: FaultHandle,
    ) -> Result<Self, EmulatedError> {
        let mut protocols = vec![ProtocolId::DISCOVERY];
        for responder in &responders {
            let protocol = responder.protocol();
            if protocol == ProtocolId::DISCOVERY {
                continue;
            }
            if protocols.contains(&protocol) {
                return Err(EmulatedError::DuplicateProtocol(protocol));
            }
            protocols.push(protocol);
        }
        let discovery_overrides = responders
            .iter()
            .filter(|r| r.protocol() == ProtocolId::DISCOVERY)
            .count();
        if discovery_overrides > 1 {
            return Err(EmulatedError::DuplicateProtocol(ProtocolId::DISCOVERY));
        }
        if protocols.len() > MAX_DISCOVERY_ENTRIES {
            return Err(EmulatedError::TooManyProtocols(protocols.len()));
        }
        Ok(EmulatedDoe {
            capabilities,
            interrupt_enable: false,
            interrupt_status: false,
            error: false,
            ready: false,
            write_mbox: Vec::new(),
            read_mbox: Vec::new(),
            read_index: 0,
            pending: None,
            abort_stuck: false,
            protocols,
            responders,
            fault,
        })
    }

    /// The protocols Discovery lists, in index order.
    pub fn protocols(&self) -> &[ProtocolId] {
        &self.protocols
    }

    /// The handle that sets this instance's fault.
    pub fn fault_handle(&self) -> FaultHandle {
        self.fault.clone()
    }

    /// A dword read of the register at `reg`. Reading Status is what advances a
    /// [`Fault::SlowResponse`].
    pub fn read_register(&mut self, reg: u16) -> u32 {
        match reg {
            DOE_CAP => self.capabilities.encode(),
            // Abort and Go read as 0 (PCIe r6.0 §7.9.24.3).
            DOE_CTRL => DoeControl {
                interrupt_enable: self.interrupt_enable,
                ..DoeControl::default()
            }
            .encode(),
            DOE_STATUS => self.read_status().encode(),
            DOE_READ if self.ready && !self.error => self.read_mbox[self.read_index],
            _ => 0,
        }
    }

    /// A dword write of `value` to the register at `reg`.
    pub fn write_register(&mut self, reg: u16, value: u32) {
        match reg {
            DOE_CTRL => self.write_control(DoeControl::decode(value)),
            // Interrupt Status is RW1C; the other Status bits are read-only.
            DOE_STATUS if DoeStatus::decode(value).interrupt_status => {
                self.interrupt_status = false;
            }
            DOE_WRITE => self.push_request(value),
            DOE_READ => self.pop_response(),
            _ => {}
        }
    }

    /// Status as the requester sees it, after advancing time by one Status read.
    fn read_status(&mut self) -> DoeStatus {
        let fault = self.fault.get();
        if self.abort_stuck && fault != Fault::StuckAbort {
            // The fault was lifted: the abort finally completes.
            self.abort_stuck = false;
            self.reset();
        }
        if let Some(pending) = &mut self.pending {
            if pending.status_reads_left > 0 {
                pending.status_reads_left -= 1;
            } else if let Some(pending) = self.pending.take() {
                self.publish(pending.response);
            }
        }
        self.status_with(fault)
    }

    /// Status without side effects.
    fn peek_status(&self) -> DoeStatus {
        self.status_with(self.fault.get())
    }

    fn status_with(&self, fault: Fault) -> DoeStatus {
        DoeStatus {
            busy: self.busy(fault),
            interrupt_status: self.interrupt_status,
            error: self.error,
            data_object_ready: self.ready,
        }
    }

    fn busy(&self, fault: Fault) -> bool {
        self.pending.is_some() || self.abort_stuck || fault == Fault::StuckBusy
    }

    fn write_control(&mut self, control: DoeControl) {
        // An Abort write acts alone, as in QEMU.
        if control.abort {
            self.abort();
            return;
        }
        self.interrupt_enable = control.interrupt_enable && self.capabilities.interrupt_support;
        if control.go {
            self.go();
        }
    }

    fn abort(&mut self) {
        if self.fault.get() == Fault::StuckAbort {
            debug!("emulated DOE: abort stuck (fault)");
            self.abort_stuck = true;
            return;
        }
        self.reset();
    }

    /// Empties both mailboxes and clears Ready, Error and Busy.
    fn reset(&mut self) {
        self.ready = false;
        self.error = false;
        self.write_mbox.clear();
        self.read_mbox.clear();
        self.read_index = 0;
        self.pending = None;
    }

    fn push_request(&mut self, dword: u32) {
        if self.busy(self.fault.get()) {
            debug!("emulated DOE: write while Busy dropped");
            return;
        }
        if self.write_mbox.len() >= MAX_OBJECT_DWORDS {
            // No object can be longer: the instance cannot take it.
            debug!("emulated DOE: write mailbox overflow");
            self.set_error();
            return;
        }
        self.write_mbox.push(dword);
    }

    fn pop_response(&mut self) {
        if !self.ready {
            // Popping with nothing to read is an underflow.
            self.set_error();
            return;
        }
        self.read_index += 1;
        if self.read_index == self.read_mbox.len() {
            self.read_mbox.clear();
            self.read_index = 0;
            self.ready = false;
        }
    }

    fn go(&mut self) {
        let fault = self.fault.get();
        if self.busy(fault) || self.error {
            debug!("emulated DOE: Go ignored (busy or error)");
            return;
        }
        let request = mem::take(&mut self.write_mbox);
        match fault {
            Fault::NeverReady | Fault::StuckAbort => {
                debug!("emulated DOE: request discarded (fault {fault:?})");
                return;
            }
            Fault::ErrorOnGo => {
                self.set_error();
                return;
            }
            _ => {}
        }
        let Some(mut response) = self.answer(&request) else {
            debug!("emulated DOE: request discarded");
            return;
        };
        if let Fault::WrongLength { delta } = fault {
            skew_length(&mut response, delta);
        }
        match fault {
            Fault::SlowResponse { status_reads } if status_reads > 0 => {
                self.pending = Some(Pending {
                    response,
                    status_reads_left: status_reads,
                });
            }
            _ => self.publish(response),
        }
    }

    /// The response to `request`, or `None` to discard it: a length that does not match
    /// the header (PCIe r6.0 §6.30.1), a protocol no one answers, a responder that
    /// declines, or a response that is empty or too long.
    fn answer(&mut self, request: &[u32]) -> Option<Vec<u32>> {
        let object = DataObject::decode(request).ok()?;
        let response = match self
            .responders
            .iter_mut()
            .find(|r| r.protocol() == object.protocol)
        {
            Some(responder) => responder.respond(&object)?,
            None if object.protocol == ProtocolId::DISCOVERY => {
                let request = DiscoveryRequest::decode(request).ok()?;
                discovery::respond(&self.protocols, &request).encode()
            }
            None => return None,
        };
        if response.is_empty() || response.len() > MAX_OBJECT_DWORDS {
            debug!(
                "emulated DOE: responder gave {} dwords; discarded",
                response.len()
            );
            return None;
        }
        Some(response)
    }

    fn publish(&mut self, response: Vec<u32>) {
        self.read_mbox = response;
        self.read_index = 0;
        self.ready = true;
        self.raise_interrupt();
    }

    fn set_error(&mut self) {
        self.error = true;
        self.raise_interrupt();
    }

    /// Ready or Error just set: flag an interrupt if the instance has one and it is on.
    fn raise_interrupt(&mut self) {
        if self.capabilities.interrupt_support && self.interrupt_enable {
            self.interrupt_status = true;
        }
    }
}

/// Rewrites the length field of `response` to announce `delta` more dwords than it has.
fn skew_length(response: &mut [u32], delta: i32) {
    let Ok(header) = DataObjectHeader::decode(response) else {
        return;
    };
    let announced = (response.len() as i64 + i64::from(delta))
        .clamp(HEADER_DWORDS as i64, MAX_OBJECT_DWORDS as i64) as usize;
    let skewed = DataObjectHeader {
        protocol: header.protocol,
        length_dwords: announced,
    };
    response[1] = skewed.encode()[1];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulated::responder::EchoResponder;
    use crate::mailbox::regs::{CTRL_ABORT, CTRL_GO, CTRL_INT_EN, STATUS_INT_STATUS};
    use crate::protocol::discovery::DiscoveryResponse;

    fn instance(capabilities: DoeCapabilities) -> EmulatedDoe {
        EmulatedDoe::new(
            capabilities,
            vec![Box::new(EchoResponder::new(ProtocolId::CMA_SPDM))],
            FaultHandle::default(),
        )
        .unwrap()
    }

    fn send(doe: &mut EmulatedDoe, object: &[u32]) {
        for &dword in object {
            doe.write_register(DOE_WRITE, dword);
        }
        doe.write_register(DOE_CTRL, CTRL_GO);
    }

    fn status(doe: &mut EmulatedDoe) -> DoeStatus {
        DoeStatus::decode(doe.read_register(DOE_STATUS))
    }

    fn drain(doe: &mut EmulatedDoe) -> Vec<u32> {
        let mut out = Vec::new();
        while status(doe).data_object_ready {
            out.push(doe.read_register(DOE_READ));
            doe.write_register(DOE_READ, 0);
        }
        out
    }

    #[test]
    fn discovery_lists_registered_protocols() {
        let mut doe = instance(DoeCapabilities::default());
        send(
            &mut doe,
            &DiscoveryRequest {
                index: 1,
                version: 0,
            }
            .encode(),
        );
        let response = DiscoveryResponse::decode(&drain(&mut doe)).unwrap();
        assert_eq!(response.protocol, ProtocolId::CMA_SPDM);
        assert_eq!(response.next_index, 0);
        assert_eq!(
            doe.protocols(),
            &[ProtocolId::DISCOVERY, ProtocolId::CMA_SPDM]
        );
    }

    #[test]
    fn control_reads_hide_abort_and_go() {
        let mut doe = instance(DoeCapabilities {
            interrupt_support: true,
            interrupt_message_number: 2,
        });
        doe.write_register(DOE_CTRL, CTRL_INT_EN);
        assert_eq!(doe.read_register(DOE_CTRL), CTRL_INT_EN);
        assert_eq!(doe.read_register(DOE_CAP), 0x5);
        doe.write_register(DOE_CTRL, CTRL_GO | CTRL_INT_EN);
        assert_eq!(doe.read_register(DOE_CTRL), CTRL_INT_EN);
        // Without interrupt support, Interrupt Enable does not stick.
        let mut plain = instance(DoeCapabilities::default());
        plain.write_register(DOE_CTRL, CTRL_INT_EN);
        assert_eq!(plain.read_register(DOE_CTRL), 0);
    }

    #[test]
    fn interrupt_status_is_set_on_ready_and_cleared_by_writing_one() {
        let mut doe = instance(DoeCapabilities {
            interrupt_support: true,
            interrupt_message_number: 0,
        });
        for dword in [0x0001_0001, 3, 9] {
            doe.write_register(DOE_WRITE, dword);
        }
        doe.write_register(DOE_CTRL, CTRL_GO | CTRL_INT_EN);
        let st = status(&mut doe);
        assert!(st.interrupt_status && st.data_object_ready);
        doe.write_register(DOE_STATUS, STATUS_INT_STATUS);
        assert!(!status(&mut doe).interrupt_status);
    }

    #[test]
    fn a_length_mismatch_is_discarded_silently() {
        let mut doe = instance(DoeCapabilities::default());
        send(&mut doe, &[0x0001_0001, 4, 9]);
        assert_eq!(status(&mut doe), DoeStatus::default());
        // The next, well-formed object is answered.
        send(&mut doe, &[0x0001_0001, 3, 9]);
        assert_eq!(drain(&mut doe), vec![0x0001_0001, 3, 9]);
    }

    #[test]
    fn an_unknown_protocol_is_discarded_silently() {
        let mut doe = instance(DoeCapabilities::default());
        send(&mut doe, &[0x0002_1e98, 3, 0]);
        assert_eq!(status(&mut doe), DoeStatus::default());
    }

    #[test]
    fn popping_past_the_end_sets_error_and_abort_clears_it() {
        let mut doe = instance(DoeCapabilities::default());
        send(&mut doe, &[0x0001_0001, 2]);
        assert_eq!(drain(&mut doe).len(), 2);
        assert_eq!(doe.read_register(DOE_READ), 0);
        doe.write_register(DOE_READ, 0);
        assert!(status(&mut doe).error);
        // Go is ignored while Error is set.
        send(&mut doe, &[0x0001_0001, 2]);
        assert!(!status(&mut doe).data_object_ready);
        doe.write_register(DOE_CTRL, CTRL_ABORT);
        assert_eq!(status(&mut doe), DoeStatus::default());
    }

    #[test]
    fn slow_response_holds_busy_for_the_given_status_reads() {
        let mut doe = instance(DoeCapabilities::default());
        doe.fault_handle()
            .set(Fault::SlowResponse { status_reads: 2 });
        send(&mut doe, &[0x0001_0001, 3, 5]);
        let seen: Vec<(bool, bool)> = (0..3)
            .map(|_| {
                let st = status(&mut doe);
                (st.busy, st.data_object_ready)
            })
            .collect();
        assert_eq!(seen, vec![(true, false), (true, false), (false, true)]);
        assert_eq!(drain(&mut doe), vec![0x0001_0001, 3, 5]);
    }

    #[test]
    fn writes_while_busy_are_dropped_and_abort_cancels() {
        let mut doe = instance(DoeCapabilities::default());
        doe.fault_handle()
            .set(Fault::SlowResponse { status_reads: 5 });
        send(&mut doe, &[0x0001_0001, 3, 5]);
        doe.write_register(DOE_WRITE, 0x1234);
        assert!(doe.write_mbox.is_empty());
        doe.write_register(DOE_CTRL, CTRL_ABORT);
        assert_eq!(status(&mut doe), DoeStatus::default());
    }

    #[test]
    fn wrong_length_skews_only_the_header() {
        let mut response = vec![0x0001_0001, 4, 1, 2];
        skew_length(&mut response, 3);
        assert_eq!(response, vec![0x0001_0001, 7, 1, 2]);
        skew_length(&mut response, -10);
        assert_eq!(response[1], 2);
        let mut max = vec![0x0001_0001, 4, 1, 2];
        skew_length(&mut max, i32::MAX);
        assert_eq!(max[1], 0, "2^18 is encoded as 0");
    }

    #[test]
    fn stuck_abort_keeps_busy_until_the_fault_is_lifted() {
        let mut doe = instance(DoeCapabilities::default());
        let fault = doe.fault_handle();
        fault.set(Fault::StuckAbort);
        doe.write_register(DOE_CTRL, CTRL_ABORT);
        assert!(status(&mut doe).busy);
        assert!(status(&mut doe).busy);
        fault.clear();
        assert_eq!(status(&mut doe), DoeStatus::default());
    }

    #[test]
    fn duplicate_protocols_are_refused() {
        let responders: Vec<Box<dyn Responder>> = vec![
            Box::new(EchoResponder::new(ProtocolId::CMA_SPDM)),
            Box::new(EchoResponder::new(ProtocolId::CMA_SPDM)),
        ];
        assert!(matches!(
            EmulatedDoe::new(
                DoeCapabilities::default(),
                responders,
                FaultHandle::default()
            ),
            Err(EmulatedError::DuplicateProtocol(ProtocolId::CMA_SPDM))
        ));
    }

    #[test]
    fn at_most_256_protocols() {
        let responders = |n: u16| -> Vec<Box<dyn Responder>> {
            (1..=n)
                .map(|i| {
                    Box::new(EchoResponder::new(ProtocolId::new(0x1000 + i, 0)))
                        as Box<dyn Responder>
                })
                .collect()
        };
        assert!(EmulatedDoe::new(
            DoeCapabilities::default(),
            responders(255),
            FaultHandle::default()
        )
        .is_ok());
        assert!(matches!(
            EmulatedDoe::new(
                DoeCapabilities::default(),
                responders(256),
                FaultHandle::default()
            ),
            Err(EmulatedError::TooManyProtocols(257))
        ));
    }
}
