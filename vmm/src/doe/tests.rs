//! The policy glue: policy → verdict, the SPDM ERROR answers, one audit line per denial,
//! written by the audit writer and never by the deciding thread.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use devices::doe::{DoeFilter, FilterVerdict};
use doe_proxy::protocol::{DataObject, ProtocolId, MAX_OBJECT_DWORDS};
use policies::{ClientIdentity, FunctionId, Policy};

use super::{max_object_dwords, DoeAdmin, GuestAudit, PolicyFilter};

/// An audit sink the test can read back, which notes the thread of every write.
#[derive(Clone, Default)]
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    threads: Arc<Mutex<Vec<ThreadId>>>,
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.threads.lock().unwrap().push(thread::current().id());
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn written(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.bytes.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A guest's filter, its audit queue and the log behind it.
struct Fixture {
    filter: PolicyFilter,
    admin: Arc<DoeAdmin>,
    queue: Arc<GuestAudit>,
    audit: Captured,
}

impl Fixture {
    /// The audit lines, once the writer (this thread) has written what is queued.
    fn lines(&self) -> Vec<serde_json::Value> {
        self.queue.write(&self.admin);
        self.audit.written()
    }
}

const POLICY: &str = r#"
version = 1

[[rule]]
name = "no-cdat-for-b"
action = "deny"
guests = "vm-b"
protocols = "1e98:02"

[[rule]]
name = "guests"
action = "allow"
guests = "*"
functions = "8086:0d93"
protocols = ["0001:01", "1e98:02"]
max_object_dwords = 64
rate = { per_second = 1, burst = 2 }

[rule.spdm]
allow = ["GET_VERSION", "GET_CAPABILITIES"]
"#;

fn function() -> FunctionId {
    FunctionId::new("0000:0d:00.0".parse().unwrap(), 0x8086, 0x0d93)
}

fn fixture(guest: &str) -> Fixture {
    let audit = Captured::default();
    let policy = Policy::parse(POLICY, "p.toml").unwrap();
    let admin = DoeAdmin::new(policy, None, Box::new(audit.clone()));
    let queue = Arc::new(GuestAudit::new().unwrap());
    let filter = PolicyFilter::new(
        admin.clone(),
        queue.clone(),
        ClientIdentity::guest(guest),
        function(),
        0x190,
    );
    Fixture {
        filter,
        admin,
        queue,
        audit,
    }
}

/// A CMA/SPDM request: `code` at SPDM `version`.
fn spdm(version: u8, code: u8) -> DataObject {
    DataObject::new(
        ProtocolId::CMA_SPDM,
        vec![u32::from_le_bytes([version, code, 0, 0])],
    )
}

/// A CDAT read (CXL Table Access, entry 0).
fn cdat() -> DataObject {
    DataObject::new(ProtocolId::CXL_TABLE_ACCESS, vec![0])
}

#[test]
fn discovery_lists_what_the_policy_allows_this_guest() {
    let discovered = [ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS];
    assert_eq!(fixture("vm-a").filter.protocols(&discovered), discovered);
    assert_eq!(
        fixture("vm-b").filter.protocols(&discovered),
        [ProtocolId::DISCOVERY]
    );
}

#[test]
fn allowed_requests_pass_without_audit() {
    let fx = fixture("vm-a");
    let filter = &fx.filter;
    assert_eq!(filter.check(&cdat()), FilterVerdict::Allow);
    assert_eq!(filter.check(&spdm(0x10, 0x84)), FilterVerdict::Allow);
    assert!(fx.lines().is_empty());
}

#[test]
fn a_denied_protocol_is_discarded_and_audited_once() {
    let fx = fixture("vm-b");
    let filter = &fx.filter;
    assert_eq!(filter.check(&cdat()), FilterVerdict::DenyDiscard);
    let lines = fx.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["event"], "denied");
    assert_eq!(line["client"], "guest:vm-b", "{line}");
    assert_eq!(line["mailbox"], "0x190", "{line}");
    assert_eq!(line["protocol"], "1e98:02", "{line}");
    assert_eq!(line["reason"], "protocol-denied", "{line}");
}

#[test]
fn a_denied_spdm_code_gets_an_unsupported_request_error() {
    let fx = fixture("vm-a");
    let filter = &fx.filter;
    // KEY_EXCHANGE (0xE4) at SPDM 1.2: ERROR(0x7F), UnsupportedRequest (0x07), 0xE4.
    assert_eq!(
        filter.check(&spdm(0x12, 0xE4)),
        FilterVerdict::DenyWithResponse(vec![0x0001_0001, 3, 0xE407_7F12])
    );
    let lines = fx.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["reason"], "spdm-request-denied");
    assert_eq!(lines[0]["spdm"]["code"], "0xe4", "{}", lines[0]);
}

#[test]
fn over_the_rate_spdm_gets_busy_and_other_protocols_are_discarded() {
    let fx = fixture("vm-a");
    let filter = &fx.filter;
    // burst = 2: two pass, the third is over the rate.
    assert_eq!(filter.check(&spdm(0x11, 0x84)), FilterVerdict::Allow);
    assert_eq!(filter.check(&cdat()), FilterVerdict::Allow);
    assert_eq!(
        filter.check(&spdm(0x11, 0x84)),
        FilterVerdict::DenyWithResponse(vec![0x0001_0001, 3, 0x0003_7F11])
    );
    assert_eq!(filter.check(&cdat()), FilterVerdict::DenyDiscard);
    let lines = fx.lines();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["reason"] == "rate-limited"));
}

#[test]
fn a_denial_is_written_by_the_writer_not_by_the_deciding_thread() {
    let fx = Arc::new(fixture("vm-b"));
    let vcpu = {
        let fx = fx.clone();
        thread::spawn(move || {
            assert_eq!(fx.filter.check(&cdat()), FilterVerdict::DenyDiscard);
            thread::current().id()
        })
    };
    let vcpu_id = vcpu.join().unwrap();
    // Queued, nothing written yet, and the writer has been woken.
    assert!(fx.audit.written().is_empty());
    assert_eq!(fx.queue.len(), 1);
    assert_eq!(fx.queue.wake_fd().read().unwrap(), 1);
    fx.queue.wake_fd().write(1).unwrap();
    let lines = fx.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["reason"], "protocol-denied");
    let threads = fx.audit.threads.lock().unwrap();
    assert!(!threads.is_empty());
    assert!(
        !threads.contains(&vcpu_id),
        "the deciding thread wrote the log"
    );
    assert!(threads.iter().all(|id| *id == thread::current().id()));
    // The write cleared the wake-up.
    assert!(fx.queue.wake_fd().read().is_err());
}

#[test]
fn a_full_queue_drops_and_the_writer_says_how_many() {
    let audit = Captured::default();
    let policy = Policy::parse(POLICY, "p.toml").unwrap();
    let admin = DoeAdmin::new(policy, None, Box::new(audit.clone()));
    let queue = Arc::new(GuestAudit::with_capacity(2).unwrap());
    let filter = PolicyFilter::new(
        admin.clone(),
        queue.clone(),
        ClientIdentity::guest("vm-b"),
        function(),
        0x190,
    );
    for _ in 0..5 {
        assert_eq!(filter.check(&cdat()), FilterVerdict::DenyDiscard);
    }
    let drained = queue.write(&admin);
    assert_eq!((drained.records, drained.dropped), (2, 3));
    let lines = audit.written();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[2]["event"], "dropped");
    assert_eq!(lines[2]["dropped"], 3);
}

#[test]
fn too_long_and_unmatched_requests_are_discarded() {
    let fx = fixture("vm-a");
    let filter = &fx.filter;
    let long = DataObject::new(ProtocolId::CXL_TABLE_ACCESS, vec![0; 63]);
    assert_eq!(filter.check(&long), FilterVerdict::DenyDiscard);
    let compliance = DataObject::new(ProtocolId::CXL_COMPLIANCE, vec![0]);
    assert_eq!(filter.check(&compliance), FilterVerdict::DenyDiscard);
}

#[test]
fn the_buffer_limit_is_the_largest_allow_limit_for_this_guest() {
    let policy = Policy::parse(POLICY, "p.toml").unwrap();
    let other = FunctionId::new("0000:0e:00.0".parse().unwrap(), 0x1234, 0x5678);
    let guest = ClientIdentity::guest("vm-a");
    assert_eq!(max_object_dwords(&policy, &guest, &function()), 64);
    assert_eq!(
        max_object_dwords(&policy, &guest, &other),
        MAX_OBJECT_DWORDS
    );
}

#[test]
fn a_bad_reload_keeps_the_policy_in_force() {
    let dir = std::env::temp_dir().join(format!("vmm-doe-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.toml");
    std::fs::write(&path, POLICY).unwrap();
    let admin = DoeAdmin::load(Some(&path), Box::new(Captured::default())).unwrap();
    assert_eq!(admin.origin(), path.display().to_string());
    std::fs::write(&path, "version = 1\n[[rule]]\naction = \"maybe\"\n").unwrap();
    let err = admin.reload().unwrap_err();
    assert!(err.starts_with(&format!("{}:3:", path.display())), "{err}");
    assert_eq!(admin.policy().rules().len(), 2);
    std::fs::write(&path, "version = 1\n").unwrap();
    assert!(admin.reload().is_ok());
    assert!(admin.policy().rules().is_empty());
    let builtin = DoeAdmin::load(None, Box::new(Captured::default())).unwrap();
    assert!(builtin.reload().unwrap_err().contains("built-in default"));
    std::fs::remove_dir_all(&dir).unwrap();
}
