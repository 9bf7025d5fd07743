//! A virtual mailbox on a mock exchanger, and the guest's view of it as config space.

use std::sync::{Arc, Mutex};
use std::thread;

use doe_proxy::config_space::{check_offset, ConfigError, ConfigSpace};
use doe_proxy::ext_cap::{ExtCapHeader, EXT_CAP_ID_DOE};
use doe_proxy::mailbox::regs::{
    DoeStatus, CTRL_ABORT, CTRL_GO, DOE_CAP_SIZEOF, DOE_CTRL, DOE_READ, DOE_STATUS, DOE_WRITE,
};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{Completion, ExchangeError, ExchangeResult, SubmissionId};
use doe_proxy::protocol::{DataObject, ProtocolId};

use crate::doe::completion_wait::discard_pending;
use crate::doe::{
    take_pending, AllowAll, DoeFilter, Exchanger, PendingWait, VirtualDoe, VirtualDoeConfig,
    WaitCause,
};
use crate::pci::capability::CapabilityHandler;

/// Where the guest finds the capability in the tests.
pub(super) const CAP: u16 = 0x190;
/// Version of the capability header the guest sees.
const CAP_VERSION: u8 = 2;
/// Bytes of the extended capability header, served by the layout, not the handler.
const HEADER_BYTES: u16 = 4;

/// How the mock answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mode {
    /// Records submissions; the test completes them by hand.
    Manual,
    /// Echoes each request from another thread, as the mediator would answer.
    EchoLater,
    /// Refuses every submission with this error.
    Refuse(ExchangeError),
}

/// What the mock saw.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) submitted: Vec<(SubmissionId, Vec<u32>)>,
    pub(super) cancelled: Vec<SubmissionId>,
    next: u64,
}

/// A mock [`Exchanger`].
pub(super) struct MockExchanger {
    discovered: Vec<ProtocolId>,
    mode: Mode,
    seen: Arc<Mutex<Seen>>,
    sink: Arc<dyn Completion>,
}

impl Exchanger for MockExchanger {
    fn discovered(&self) -> Vec<ProtocolId> {
        self.discovered.clone()
    }

    fn submit(&self, request: Vec<u32>) -> Result<SubmissionId, ExchangeError> {
        if let Mode::Refuse(e) = &self.mode {
            return Err(e.clone());
        }
        let mut seen = self.seen.lock().unwrap();
        let id = SubmissionId::new(seen.next);
        seen.next += 1;
        seen.submitted.push((id, request.clone()));
        if self.mode == Mode::EchoLater {
            let sink = self.sink.clone();
            thread::spawn(move || sink.complete(id, Ok(request)));
        }
        Ok(id)
    }

    fn cancel(&self, submission: SubmissionId) {
        self.seen.lock().unwrap().cancelled.push(submission);
    }
}

/// The protocols the mock device lists.
pub(super) const DEVICE_PROTOCOLS: [ProtocolId; 3] = [
    ProtocolId::DISCOVERY,
    ProtocolId::CMA_SPDM,
    ProtocolId::CXL_TABLE_ACCESS,
];

/// A virtual mailbox on a mock, driven register by register as a guest would.
pub(super) struct Harness {
    pub(super) doe: VirtualDoe,
    pub(super) seen: Arc<Mutex<Seen>>,
    sink: Arc<dyn Completion>,
}

impl Harness {
    pub(super) fn new(mode: Mode) -> Self {
        Self::with(mode, VirtualDoeConfig::default(), Arc::new(AllowAll))
    }

    pub(super) fn with(mode: Mode, config: VirtualDoeConfig, filter: Arc<dyn DoeFilter>) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut kept = None;
        let doe = VirtualDoe::connect(config, filter, |sink| {
            kept = Some(sink.clone());
            Ok::<_, ()>(MockExchanger {
                discovered: DEVICE_PROTOCOLS.to_vec(),
                mode,
                seen: seen.clone(),
                sink,
            })
        })
        .unwrap();
        Harness {
            doe,
            seen,
            sink: kept.unwrap(),
        }
    }

    /// The mailbox, what the mock saw, and the sink to complete with — for tests that
    /// share the mailbox between threads.
    pub(super) fn into_parts(self) -> (VirtualDoe, Arc<Mutex<Seen>>, Arc<dyn Completion>) {
        (self.doe, self.seen, self.sink)
    }

    pub(super) fn read(&mut self, reg: u16) -> u32 {
        let mut data = [0u8; 4];
        self.doe.read(reg, &mut data);
        u32::from_le_bytes(data)
    }

    pub(super) fn write(&mut self, reg: u16, value: u32) {
        self.doe.write(reg, &value.to_le_bytes());
    }

    pub(super) fn status(&mut self) -> DoeStatus {
        DoeStatus::decode(self.read(DOE_STATUS))
    }

    /// Writes `object` and sets Go.
    pub(super) fn send(&mut self, object: &[u32]) {
        for &dword in object {
            self.write(DOE_WRITE, dword);
        }
        self.go();
    }

    pub(super) fn go(&mut self) {
        self.write(DOE_CTRL, CTRL_GO);
    }

    pub(super) fn abort(&mut self) {
        self.write(DOE_CTRL, CTRL_ABORT);
    }

    /// Reads and pops while Data Object Ready holds.
    pub(super) fn drain(&mut self) -> Vec<u32> {
        let mut out = Vec::new();
        while self.status().data_object_ready {
            out.push(self.read(DOE_READ));
            self.write(DOE_READ, 0);
        }
        out
    }

    pub(super) fn submitted(&self) -> Vec<(SubmissionId, Vec<u32>)> {
        self.seen.lock().unwrap().submitted.clone()
    }

    pub(super) fn cancelled(&self) -> Vec<SubmissionId> {
        self.seen.lock().unwrap().cancelled.clone()
    }

    /// Delivers `result` for `submission`, as the mediator's notifier would.
    pub(super) fn complete(&self, submission: SubmissionId, result: ExchangeResult) {
        self.sink.complete(submission, result);
    }

    /// A well-formed exchange answered by hand: the request reaches the exchanger and
    /// the response comes back whole.
    pub(super) fn exchange_ok(&mut self) {
        let request = cma(&[0xabcd]);
        self.send(&request);
        assert!(self.status().busy);
        let (id, sent) = self.submitted().last().unwrap().clone();
        assert_eq!(sent, request);
        let response = cma(&[1, 2, 3]);
        self.complete(id, Ok(response.clone()));
        assert_eq!(self.drain(), response);
        assert_eq!(self.status(), DoeStatus::default());
    }
}

/// A CMA/SPDM object carrying `payload`.
pub(super) fn cma(payload: &[u32]) -> Vec<u32> {
    DataObject::new(ProtocolId::CMA_SPDM, payload.to_vec())
        .encode()
        .unwrap()
}

/// The guest's config space around a virtual mailbox: the capability header at
/// [`CAP`], the handler's registers after it, zeroes elsewhere. Lets doe-proxy's own
/// requester driver (which behaves as Linux's) act as the guest.
pub(super) struct GuestView {
    doe: Mutex<VirtualDoe>,
}

impl GuestView {
    pub(super) fn new(doe: VirtualDoe) -> Self {
        GuestView {
            doe: Mutex::new(doe),
        }
    }

    /// The guest's requester over this view.
    pub(super) fn requester(self, config: MailboxConfig) -> Mailbox<GuestView> {
        Mailbox::new(self, CAP, config).unwrap()
    }

    fn register(offset: u16) -> Option<u16> {
        let reg = offset.checked_sub(CAP)?;
        (HEADER_BYTES..DOE_CAP_SIZEOF).contains(&reg).then_some(reg)
    }
}

impl ConfigSpace for GuestView {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        check_offset(offset)?;
        if offset == CAP {
            let header = ExtCapHeader {
                id: EXT_CAP_ID_DOE,
                version: CAP_VERSION,
                next: 0,
            };
            return Ok(header.encode());
        }
        let mut data = [0u8; 4];
        if let Some(reg) = Self::register(offset) {
            self.doe.lock().unwrap().read(reg, &mut data);
            // As a vCPU does: wait with no lock held, then handle a waiting read again.
            if let Some(outcome) = take_pending().map(PendingWait::wait) {
                if outcome.cause == WaitCause::StatusRead {
                    self.doe.lock().unwrap().read(reg, &mut data);
                    discard_pending();
                }
            }
        }
        Ok(u32::from_le_bytes(data))
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        check_offset(offset)?;
        if let Some(reg) = Self::register(offset) {
            self.doe.lock().unwrap().write(reg, &value.to_le_bytes());
            if let Some(wait) = take_pending() {
                wait.wait();
            }
        }
        Ok(())
    }
}
