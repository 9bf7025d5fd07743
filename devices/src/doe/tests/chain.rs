//! The whole exchange path in one process: doe-proxy's requester driver (which behaves
//! as Linux's) as the guest → the virtual mailbox → the mediator → the physical mailbox
//! driver → an emulated CXL type 3 function serving QEMU's CDAT.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doe_proxy::cdat_read::{read_cdat, CdatReadError};
use doe_proxy::emulated::{CdatResponder, DoeSpec, EmulatedFunction};
use doe_proxy::mailbox::{Mailbox, MailboxConfig, MailboxError};
use doe_proxy::mediator::{Mediator, MediatorConfig};
use doe_proxy::protocol::cdat::example_type3_table;
use doe_proxy::protocol::{DataObject, ProtocolId};

use super::harness::{GuestView, CAP};
use crate::doe::{AllowAll, DoeFilter, FilterVerdict, VirtualDoe, VirtualDoeConfig};

/// The guest's requester: Linux's timeouts are 1 s; shorter here so the denial case
/// (which waits for the timeout) runs quickly.
const GUEST: MailboxConfig = MailboxConfig {
    timeout: Duration::from_millis(500),
    poll_interval: Duration::from_millis(1),
    abort_timeout: Duration::from_millis(500),
};

/// The physical side: QEMU's cxl-type3 DOE at 0x190 with Discovery and CDAT.
fn mediator() -> Mediator {
    let function = EmulatedFunction::builder()
        .ids(0x8086, 0x0d93)
        .doe(DoeSpec::new(CAP).responder(CdatResponder::new(example_type3_table().to_entries())))
        .build()
        .unwrap();
    let physical = Mailbox::new(function, CAP, MailboxConfig::default()).unwrap();
    Mediator::start(physical, MediatorConfig::default()).unwrap()
}

fn guest(mediator: &Mediator, filter: Arc<dyn DoeFilter>) -> Mailbox<GuestView> {
    let doe = VirtualDoe::connect(VirtualDoeConfig::default(), filter, |sink| {
        mediator.register("guest", sink)
    })
    .unwrap();
    GuestView::new(doe).requester(GUEST)
}

#[test]
fn a_guest_reads_the_whole_cdat_through_the_virtual_mailbox() {
    let mediator = mediator();
    let mut guest = guest(&mediator, Arc::new(AllowAll));
    guest.abort().unwrap();
    assert_eq!(
        guest.discover().unwrap(),
        [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
    );
    assert_eq!(read_cdat(&mut guest).unwrap(), example_type3_table());
    // Twice, to be sure nothing is left behind between exchanges.
    assert_eq!(read_cdat(&mut guest).unwrap(), example_type3_table());
    drop(guest);
    mediator.shutdown();
}

/// A reloadable policy that can deny CXL Table Access.
#[derive(Default)]
struct CdatSwitch {
    deny: AtomicBool,
}

impl DoeFilter for CdatSwitch {
    fn protocols(&self, discovered: &[ProtocolId]) -> Vec<ProtocolId> {
        let deny = self.deny.load(Ordering::SeqCst);
        discovered
            .iter()
            .copied()
            .filter(|&p| !(deny && p == ProtocolId::CXL_TABLE_ACCESS))
            .collect()
    }

    fn check(&self, request: &DataObject) -> FilterVerdict {
        if self.deny.load(Ordering::SeqCst) && request.protocol == ProtocolId::CXL_TABLE_ACCESS {
            FilterVerdict::DenyDiscard
        } else {
            FilterVerdict::Allow
        }
    }
}

#[test]
fn a_denied_protocol_times_out_and_a_reload_lets_it_through() {
    let mediator = mediator();
    let policy = Arc::new(CdatSwitch::default());
    policy.deny.store(true, Ordering::SeqCst);
    let mut guest = guest(&mediator, policy.clone());
    assert_eq!(guest.discover().unwrap(), [ProtocolId::DISCOVERY]);
    assert!(matches!(
        read_cdat(&mut guest),
        Err(CdatReadError::Mailbox(MailboxError::Timeout))
    ));
    assert!(!guest.is_dead());
    policy.deny.store(false, Ordering::SeqCst);
    assert_eq!(
        guest.discover().unwrap(),
        [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
    );
    assert_eq!(read_cdat(&mut guest).unwrap(), example_type3_table());
}

#[test]
fn two_guests_share_one_physical_mailbox() {
    let mediator = mediator();
    let guests: Vec<_> = (0..2)
        .map(|_| guest(&mediator, Arc::new(AllowAll)))
        .collect();
    let readers: Vec<_> = guests
        .into_iter()
        .map(|mut guest| {
            std::thread::spawn(move || {
                for _ in 0..3 {
                    assert_eq!(read_cdat(&mut guest).unwrap(), example_type3_table());
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
}

/// A physical mailbox another requester holds at start (its abort never completes): the
/// guest keeps its virtual mailbox, sees errors, and reads CDAT once the mediator's retry
/// works — the same virtual mailbox, nothing rebuilt.
#[test]
fn a_guest_keeps_its_mailbox_while_the_physical_one_recovers() {
    use doe_proxy::emulated::Fault;
    use doe_proxy::mediator::RecoveryConfig;

    let spec = DoeSpec::new(CAP).responder(CdatResponder::new(example_type3_table().to_entries()));
    let fault = spec.fault_handle();
    fault.set(Fault::StuckAbort);
    let function = EmulatedFunction::builder()
        .ids(0x8086, 0x0d93)
        .doe(spec)
        .build()
        .unwrap();
    let fast = MailboxConfig {
        abort_timeout: Duration::from_millis(20),
        ..MailboxConfig::default()
    };
    let physical = Mailbox::new(function, CAP, fast).unwrap();
    let config = MediatorConfig {
        recovery: Some(RecoveryConfig {
            first_retry: Duration::from_millis(5),
            max_retry: Duration::from_millis(20),
        }),
        ..MediatorConfig::default()
    };
    let mediator = Mediator::start(physical, config).unwrap();
    assert!(mediator.is_dead());
    let mut guest = guest(&mediator, Arc::new(AllowAll));
    guest.abort().unwrap();
    // Discovery fails (Error) while the physical mailbox is unusable; the guest's driver
    // aborts after it, as Linux does.
    assert!(matches!(
        guest.discover(),
        Err(MailboxError::DeviceError | MailboxError::AbortTimeout)
    ));
    fault.clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while mediator.is_dead() {
        assert!(std::time::Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(2));
    }
    guest.abort().unwrap();
    assert_eq!(
        guest.discover().unwrap(),
        [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
    );
    assert_eq!(read_cdat(&mut guest).unwrap(), example_type3_table());
    drop(guest);
    mediator.shutdown();
}
