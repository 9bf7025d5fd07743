//! What the benchmarks exchange with: an emulated CXL function, the bare driver on it,
//! and the guest-facing path (virtual mailbox + admin policy + mediator + driver) on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use devices::doe::{VirtualDoe, VirtualDoeConfig};
use doe_proxy::config_space::{ConfigError, ConfigSpace};
use doe_proxy::emulated::{CdatResponder, DoeSpec, EmulatedFunction};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{Mediator, MediatorConfig};
use doe_proxy::protocol::discovery::DiscoveryRequest;
use doe_proxy::protocol::table_access::TableAccessRequest;
use doe_proxy::protocol::ProtocolId;
use policies::{ClientIdentity, FunctionId, Policy};
use vmm::cli::DEFAULT_DOE_COMPLETION_WAIT_US;
use vmm::doe::{max_object_dwords, DoeAdmin, GuestAudit, PolicyFilter};

use crate::guest::GuestDoe;

/// Where the DOE capability sits (as in QEMU's cxl-type3).
const DOE: u16 = 0x190;
/// The function's vendor and device IDs.
const IDS: (u16, u16) = (0x8086, 0x0d93);
/// The function's host address, as the policy sees it.
const BDF: &str = "0000:0d:00.0";

/// Allows CXL Table Access to every guest on the function, with no rate limit (Discovery
/// is always allowed), so the policy costs its evaluation and nothing else.
const POLICY: &str = r#"
version = 1

[[rule]]
name = "bench"
action = "allow"
guests = "*"
functions = "8086:0d93"
protocols = ["0001:00", "1e98:02"]
"#;

/// The Discovery request for index 0 (Discovery itself), version 0 as the emulated
/// capability is version 1.
pub fn discovery_request() -> Vec<u32> {
    DiscoveryRequest {
        index: 0,
        version: 0,
    }
    .encode()
}

/// The CXL Table Access request for CDAT entry 0 (the CDAT header).
pub fn cdat_request() -> Vec<u32> {
    TableAccessRequest::cdat(0).encode()
}

/// A config space whose every access takes at least `cost` (busy-waiting), standing for
/// a real device: an emulated register costs tens of nanoseconds, a PCIe config access on
/// hardware about a microsecond, one through VFIO in the nested bench several.
pub struct Paced {
    function: EmulatedFunction,
    cost: Duration,
}

impl Paced {
    fn pace<T>(&self, access: impl FnOnce() -> T) -> T {
        if self.cost.is_zero() {
            return access();
        }
        let started = Instant::now();
        let result = access();
        while started.elapsed() < self.cost {
            std::hint::spin_loop();
        }
        result
    }
}

impl ConfigSpace for Paced {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        self.pace(|| self.function.read_u32(offset))
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        self.pace(|| self.function.write_u32(offset, value))
    }
}

/// A CXL type 3 function as QEMU lays it out: one DOE at 0x190 answering Discovery and
/// CXL Table Access over a two-entry CDAT (the 16-byte header and one 24-byte structure),
/// each config access taking `cost`. It answers at Go, so neither side ever waits for the
/// device itself.
pub fn cxl_function(cost: Duration) -> Paced {
    let cdat = vec![(0u8..16).collect(), vec![0xa5; 24]];
    let function = EmulatedFunction::builder()
        .ids(IDS.0, IDS.1)
        .doe(DoeSpec::new(DOE).responder(CdatResponder::new(cdat)))
        .build()
        .expect("the emulated function is well formed");
    Paced { function, cost }
}

/// The bare driver on its own emulated function, reset as Linux does before first use.
pub fn bare_mailbox(cost: Duration) -> Mailbox<Paced> {
    let mut mailbox = Mailbox::new(cxl_function(cost), DOE, MailboxConfig::default())
        .expect("a DOE capability at 0x190");
    mailbox.abort().expect("the emulated mailbox resets");
    mailbox
}

/// The guest-facing path as `vmm::doe::virtualise` builds it, `clients` virtual mailboxes
/// on one mediator over one emulated function. All share one [`DoeAdmin`], as every
/// mailbox of a VM does; each is its own guest to the policy. (Without the coalesced-write
/// drain, an option of `virtualise` that is off unless MMIO writes are coalesced.)
pub struct Mediated {
    /// Kept for as long as its clients are used; dropping it shuts it down.
    _mediator: Mediator,
    /// One virtual mailbox per client, each driven as a guest would.
    pub guests: Vec<GuestDoe>,
}

impl Mediated {
    /// Starts the mediator and registers `clients` virtual mailboxes on it, over a
    /// function whose config accesses take `cost`.
    pub fn new(clients: usize, cost: Duration) -> Self {
        let mailbox = Mailbox::new(cxl_function(cost), DOE, MailboxConfig::default())
            .expect("a DOE capability at 0x190");
        let mediator =
            Mediator::start(mailbox, MediatorConfig::default()).expect("the mediator starts");
        assert!(mediator
            .discovered()
            .contains(&ProtocolId::CXL_TABLE_ACCESS));
        let policy = Policy::parse(POLICY, "bench.toml").expect("the bench policy parses");
        let admin = DoeAdmin::new(policy, None, Box::new(std::io::sink()));
        // The bench's policy denies nothing, so nothing is queued (and nobody drains).
        let audit = Arc::new(GuestAudit::new().expect("an eventfd"));
        let function = FunctionId::new(BDF.parse().expect("a PCI address"), IDS.0, IDS.1);
        let guests = (0..clients)
            .map(|i| {
                let client = ClientIdentity::guest(format!("bench-{i}"));
                let config = VirtualDoeConfig {
                    max_object_dwords: max_object_dwords(&admin.policy(), &client, &function),
                    // vmm's default `--doe-completion-wait`.
                    completion_wait: Duration::from_micros(DEFAULT_DOE_COMPLETION_WAIT_US),
                };
                let filter = Arc::new(PolicyFilter::new(
                    admin.clone(),
                    audit.clone(),
                    client,
                    function,
                    DOE,
                ));
                let name = format!("guest bench-{i} ({BDF} DOE {DOE:#x})");
                let doe = VirtualDoe::connect(config, filter, |sink| mediator.register(name, sink))
                    .expect("the mediator takes a client");
                GuestDoe::new(doe)
            })
            .collect();
        Mediated {
            _mediator: mediator,
            guests,
        }
    }

    /// The first (for one client, the only) virtual mailbox.
    pub fn guest(&mut self) -> &mut GuestDoe {
        &mut self.guests[0]
    }
}
