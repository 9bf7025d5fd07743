//! The guest's side of a virtual mailbox: Linux's `drivers/pci/doe.c` register sequence,
//! dword by dword through the [`CapabilityHandler`] as trapped config accesses reach it.
//!
//! Anything a correct virtual mailbox would not show (not idle before sending, Error, a
//! truncated or overlong response, no response at all) is a bug and panics the bench.

use std::hint::spin_loop;
use std::thread;
use std::time::{Duration, Instant};

use devices::doe::completion_wait::discard_pending;
use devices::doe::{take_pending, PendingWait, VirtualDoe, WaitCause};
use devices::pci::capability::CapabilityHandler;
use doe_proxy::mailbox::regs::{
    DoeControl, DoeStatus, DOE_CTRL, DOE_READ, DOE_READ_POP, DOE_STATUS, DOE_WRITE,
};
use doe_proxy::protocol::header::HEADER_DWORDS;
use doe_proxy::protocol::DataObjectHeader;

/// Status reads spun before each further one yields the CPU (the mediator's two threads
/// need it on a 2-core machine).
const SPINS_BEFORE_YIELD: u32 = 64;
/// After this long without Data Object Ready the completion is taken as lost (Linux gives
/// up after 1 s; a loaded bench machine gets more).
const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);

/// A virtual mailbox driven as a guest kernel drives a DOE capability.
pub struct GuestDoe {
    doe: VirtualDoe,
}

impl GuestDoe {
    /// The guest's view of `doe`.
    pub fn new(doe: VirtualDoe) -> Self {
        GuestDoe { doe }
    }

    /// One exchange as `pci_doe_send_req` / `pci_doe_recv_resp` do it: Status must be
    /// idle, the request dword by dword, Go, wait for Data Object Ready, then read and
    /// pop the response dword by dword (Ready checked before the last pop) and a final
    /// Status read. Returns the whole response object.
    pub fn exchange(&mut self, request: &[u32]) -> Vec<u32> {
        let status = self.status();
        assert_eq!(
            status,
            DoeStatus::default(),
            "mailbox not idle before sending"
        );
        for &dword in request {
            self.write(DOE_WRITE, dword);
        }
        self.write(DOE_CTRL, DoeControl::GO.encode());
        wait_for_response(self);
        self.receive()
    }

    /// Reads and pops the response; the length comes from its second dword.
    fn receive(&mut self) -> Vec<u32> {
        let mut response = Vec::with_capacity(HEADER_DWORDS);
        let mut length = HEADER_DWORDS;
        while response.len() < length {
            let dword = self.read(DOE_READ);
            if response.len() == 1 {
                length = DataObjectHeader::decode_length(dword).expect("a valid length");
                response.reserve_exact(length - HEADER_DWORDS);
            }
            if response.len() + 1 == length {
                assert!(self.status().data_object_ready, "response truncated");
            }
            response.push(dword);
            self.write(DOE_READ, DOE_READ_POP);
        }
        let status = self.status();
        assert!(!status.error, "Error after reading the response");
        assert!(!status.data_object_ready, "response longer than announced");
        response
    }

    /// The Status register.
    pub fn status(&mut self) -> DoeStatus {
        DoeStatus::decode(self.read(DOE_STATUS))
    }

    /// A dword read of the register at `reg` (from the capability header), as a vCPU
    /// handles it: the access, then the completion wait it asked for (if any), then the
    /// access once more if it was a Status read that waited.
    fn read(&mut self, reg: u16) -> u32 {
        let mut data = [0u8; 4];
        self.doe.read(reg, &mut data);
        if let Some(outcome) = take_pending().map(PendingWait::wait) {
            if outcome.cause == WaitCause::StatusRead {
                self.doe.read(reg, &mut data);
                discard_pending();
            }
        }
        u32::from_le_bytes(data)
    }

    /// A dword write of `value` to the register at `reg`, then the completion wait it
    /// asked for (a Go that submitted), as a vCPU does.
    fn write(&mut self, reg: u16, value: u32) {
        self.doe.write(reg, &value.to_le_bytes());
        if let Some(wait) = take_pending() {
            wait.wait();
        }
    }
}

/// Waits, after Go, until the virtual mailbox shows Data Object Ready: reads Status (each
/// read that finds the exchange in flight runs vmm's bounded completion wait, so the
/// first one normally finds the response), spinning, then yielding between reads if it
/// does not. Error, or nothing within [`RESPONSE_DEADLINE`], is a bug and panics.
fn wait_for_response(guest: &mut GuestDoe) {
    let started = Instant::now();
    let mut polls = 0u32;
    loop {
        let status = guest.status();
        assert!(!status.error, "Error instead of a response");
        if status.data_object_ready {
            return;
        }
        if polls < SPINS_BEFORE_YIELD {
            polls += 1;
            spin_loop();
        } else {
            assert!(
                started.elapsed() < RESPONSE_DEADLINE,
                "no response {RESPONSE_DEADLINE:?} after Go: a lost completion"
            );
            thread::yield_now();
        }
    }
}
