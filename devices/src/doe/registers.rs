//! The register state machine of one virtual DOE instance, dword by dword (PCIe r6.0
//! §7.9.24, the contract in this module's parent). It never blocks: Go either answers
//! locally or hands the object to the [`Exchanger`] and sets Busy; the result arrives
//! later through [`DoeRegisters::complete`].

use doe_proxy::mailbox::regs::{
    DoeCapabilities, DoeControl, DoeStatus, DOE_CAP, DOE_CTRL, DOE_READ, DOE_STATUS, DOE_WRITE,
};
use doe_proxy::mediator::{ExchangeError, ExchangeResult, SubmissionId};
use doe_proxy::protocol::discovery::{self, DiscoveryRequest};
use doe_proxy::protocol::{DataObject, ProtocolId, MAX_OBJECT_DWORDS};

use super::config::VirtualDoeConfig;
use super::exchanger::Exchanger;
use super::filter::{guest_protocols, DoeFilter, FilterVerdict};
use super::log::debug_limited;
use super::read_mailbox::ReadMailbox;
use super::write_mailbox::WriteMailbox;

/// What the registers need from outside to act on Go and Abort.
pub(super) struct Context<'a> {
    pub(super) exchanger: &'a dyn Exchanger,
    pub(super) filter: &'a dyn DoeFilter,
    /// The vCPU will wait for (and drive) what Go submits: submit without waking anyone.
    pub(super) quiet_submit: bool,
}

/// The state of one virtual DOE instance.
#[derive(Debug)]
pub(super) struct DoeRegisters {
    request_limit: usize,
    discovered: Vec<ProtocolId>,
    write: WriteMailbox,
    read: ReadMailbox,
    busy: bool,
    error: bool,
    /// The submission Busy waits for; a result for any other is stale.
    awaiting: Option<SubmissionId>,
}

impl DoeRegisters {
    /// An idle instance in front of a device that listed `discovered` (empty if it is
    /// not known yet: each Go asks the exchanger again, and fails until it is).
    pub(super) fn new(config: VirtualDoeConfig, discovered: Vec<ProtocolId>) -> Self {
        DoeRegisters {
            request_limit: config.request_limit(),
            discovered,
            write: WriteMailbox::default(),
            read: ReadMailbox::default(),
            busy: false,
            error: false,
            awaiting: None,
        }
    }

    /// The Status register.
    pub(super) fn status(&self) -> DoeStatus {
        DoeStatus {
            busy: self.busy,
            // No interrupt support, so never set.
            interrupt_status: false,
            error: self.error,
            data_object_ready: self.read.ready() && !self.error,
        }
    }

    /// The submission Busy waits for, if any.
    pub(super) fn awaiting(&self) -> Option<SubmissionId> {
        self.awaiting
    }

    /// Dwords of memory the two mailboxes hold (for tests of the buffering bound).
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.write.capacity()
    }

    /// A dword read of the register at `reg` (offset from the capability header).
    /// Reads have no side effects.
    pub(super) fn read(&self, reg: u32) -> u32 {
        match reg {
            // No interrupt support: Interrupt Support and the message number read 0.
            r if r == u32::from(DOE_CAP) => DoeCapabilities::default().encode(),
            // Abort and Go read 0; Interrupt Enable is read-only 0 without interrupts.
            r if r == u32::from(DOE_CTRL) => DoeControl::default().encode(),
            r if r == u32::from(DOE_STATUS) => self.status().encode(),
            r if r == u32::from(DOE_READ) && self.status().data_object_ready => self.read.current(),
            // The Write Data Mailbox reads 0, as does the Read Data Mailbox when
            // nothing is ready.
            _ => 0,
        }
    }

    /// A dword write of `value` to the register at `reg`.
    pub(super) fn write(&mut self, reg: u32, value: u32, ctx: &Context<'_>) {
        match reg {
            r if r == u32::from(DOE_CTRL) => self.control(DoeControl::decode(value), ctx),
            r if r == u32::from(DOE_WRITE) => self.append(value),
            r if r == u32::from(DOE_READ) => self.pop(),
            // Capabilities and Status are read-only here (Interrupt Status, the only
            // writable Status bit, is never set without interrupt support).
            _ => debug_limited!("virtual DOE: write of {value:#x} to read-only {reg:#x} dropped"),
        }
    }

    /// A write of fewer than four bytes: the bytes in `mask` of `value`, the others
    /// zero. Control acts on it (its other bytes read 0, so this is the dword the guest
    /// would see); a partial dword is no data-object dword, so the mailboxes ignore it.
    pub(super) fn write_partial(&mut self, reg: u32, value: u32, mask: u32, ctx: &Context<'_>) {
        if reg == u32::from(DOE_CTRL) {
            self.control(DoeControl::decode(value & mask), ctx);
        } else {
            debug_limited!("virtual DOE: partial write ({mask:#x}) to {reg:#x} dropped");
        }
    }

    /// The result of `submission` arrived.
    pub(super) fn complete(&mut self, submission: SubmissionId, result: ExchangeResult) {
        if self.awaiting != Some(submission) {
            debug_limited!("virtual DOE: stale result for {submission} dropped");
            return;
        }
        self.awaiting = None;
        self.busy = false;
        match result {
            Ok(response) => self.publish(response),
            // The mediator's policy refused it: as a local denial, nothing is answered.
            Err(ExchangeError::Denied) => {
                debug_limited!("virtual DOE: {submission} denied by the mediator; discarded");
            }
            Err(e) => {
                debug_limited!("virtual DOE: {submission} failed: {e}; setting Error");
                self.error = true;
            }
        }
    }

    fn control(&mut self, control: DoeControl, ctx: &Context<'_>) {
        // Abort acts alone (as in QEMU and the emulated responder).
        if control.abort {
            self.abort(ctx);
        } else if control.go {
            self.go(ctx);
        }
    }

    /// Cancels this guest's exchange (never the physical mailbox) and empties both
    /// mailboxes; clears Busy, Error and Ready.
    fn abort(&mut self, ctx: &Context<'_>) {
        if let Some(submission) = self.awaiting.take() {
            ctx.exchanger.cancel(submission);
        }
        self.busy = false;
        self.error = false;
        self.write.clear();
        self.read.clear();
    }

    fn append(&mut self, dword: u32) {
        if self.busy || self.error {
            debug_limited!("virtual DOE: write while Busy or Error dropped");
            return;
        }
        self.write.push(dword, self.request_limit);
    }

    fn pop(&mut self) {
        if self.error {
            return;
        }
        if self.read.pop().is_err() {
            // Reading past the end is an underflow (QEMU sets Error too).
            debug_limited!("virtual DOE: pop with no object ready; setting Error");
            self.error = true;
        }
    }

    fn go(&mut self, ctx: &Context<'_>) {
        if self.busy || self.error {
            debug_limited!("virtual DOE: Go while Busy or Error ignored");
            return;
        }
        let request = match self.write.take() {
            Ok(request) => request,
            Err(discard) => {
                debug_limited!("virtual DOE: request discarded: {discard}");
                return;
            }
        };
        // A new request replaces a response the guest did not read.
        self.read.clear();
        let Ok(object) = DataObject::decode(&request) else {
            return;
        };
        if !self.learn_protocols(ctx) {
            debug_limited!("virtual DOE: the physical mailbox is not usable yet; setting Error");
            self.error = true;
            return;
        }
        if object.protocol == ProtocolId::DISCOVERY {
            self.discovery(&request, ctx);
            return;
        }
        match ctx.filter.check(&object) {
            FilterVerdict::Allow if self.discovered.contains(&object.protocol) => {
                self.submit(request, ctx)
            }
            FilterVerdict::Allow => {
                debug_limited!("virtual DOE: {} unsupported; discarded", object.protocol);
            }
            FilterVerdict::DenyDiscard => {
                debug_limited!("virtual DOE: {} denied; discarded", object.protocol);
            }
            FilterVerdict::DenyWithResponse(response) => self.publish(response),
        }
    }

    /// Whether the device's Discovery list is known, asking the exchanger if not yet (a
    /// mediator whose mailbox was not usable at start learns it at a retry).
    fn learn_protocols(&mut self, ctx: &Context<'_>) -> bool {
        if self.discovered.is_empty() {
            self.discovered = ctx.exchanger.discovered();
        }
        !self.discovered.is_empty()
    }

    /// Answers Discovery from the device's list as the filter lets the guest see it.
    fn discovery(&mut self, request: &[u32], ctx: &Context<'_>) {
        match DiscoveryRequest::decode(request) {
            Ok(asked) => {
                let listed = guest_protocols(ctx.filter, &self.discovered);
                self.read
                    .publish(discovery::respond(&listed, &asked).encode());
            }
            Err(e) => debug_limited!("virtual DOE: Discovery request discarded: {e}"),
        }
    }

    fn submit(&mut self, request: Vec<u32>, ctx: &Context<'_>) {
        let submitted = if ctx.quiet_submit {
            ctx.exchanger.submit_quiet(request)
        } else {
            ctx.exchanger.submit(request)
        };
        match submitted {
            Ok(submission) => {
                self.busy = true;
                self.awaiting = Some(submission);
            }
            Err(ExchangeError::Denied) | Err(ExchangeError::Malformed(_)) => {
                debug_limited!("virtual DOE: request refused by the mediator; discarded");
            }
            Err(e) => {
                debug_limited!("virtual DOE: submission failed: {e}; setting Error");
                self.error = true;
            }
        }
    }

    /// Makes `response` readable if it is one whole object; anything else is the
    /// device's (or the filter's) fault and sets Error.
    fn publish(&mut self, response: Vec<u32>) {
        if response.len() > MAX_OBJECT_DWORDS || DataObject::decode(&response).is_err() {
            debug_limited!(
                "virtual DOE: malformed response of {} dwords; setting Error",
                response.len()
            );
            self.error = true;
            return;
        }
        self.read.publish(response);
    }
}
