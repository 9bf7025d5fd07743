//! The DOE socket end to end in-process: a server in its own event loop over mediators of
//! emulated functions, reached by [`SocketClient`] and by raw streams.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use policies::{FunctionId, Policy};

use super::wire::{frame_length, Reply, Request, Status, LENGTH_BYTES};
use super::*;
use crate::admin::DoeAdmin;
use crate::emulated::{CdatResponder, DoeSpec, EchoResponder, EmulatedFunction, FnResponder};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::mediator::{Mediator, MediatorConfig};
use crate::pci_address::Bdf;
use crate::protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use crate::protocol::table_access::{TableAccessRequest, TableAccessResponse};
use crate::protocol::{DataObject, ProtocolId};

const DOE: u16 = 0x190;
const PATIENCE: Duration = Duration::from_secs(10);

fn me() -> (u32, u32) {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    unsafe { (libc::getuid(), libc::getgid()) }
}

fn bdf() -> Bdf {
    "0000:0d:00.0".parse().unwrap()
}

/// Audit lines, shared with the admin's writer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A policy for this test's own uid: `rules` is the TOML of its rules, `{uid}` replaced.
fn policy(rules: &str) -> Policy {
    let (uid, _) = me();
    let text = format!("version = 1\n{}", rules.replace("{uid}", &uid.to_string()));
    Policy::parse(&text, "test.toml").unwrap()
}

/// Two CDAT entries for the CXL Table Access responder (it serves them as given).
fn cdat_entries() -> Vec<Vec<u8>> {
    vec![vec![1; 16], vec![2; 8]]
}

/// A server in its own loop, over one emulated function with echo (CMA/SPDM), CDAT and
/// a gate protocol whose responder waits until released.
struct Bench {
    path: PathBuf,
    audit: Captured,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    release: std::sync::mpsc::Sender<()>,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "doe-socket-test-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

impl Bench {
    fn start(policy: Policy, config: impl FnOnce(&mut ServerConfig)) -> Bench {
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let gate = FnResponder::new(ProtocolId::CXL_COMPLIANCE, move |request: &DataObject| {
            let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
            request.encode().ok()
        });
        let spec = DoeSpec::new(DOE)
            .responder(EchoResponder::new(ProtocolId::CMA_SPDM))
            .responder(CdatResponder::new(cdat_entries()))
            .responder(gate);
        let function = Arc::new(EmulatedFunction::builder().doe(spec).build().unwrap());
        let mailbox = Mailbox::new(function, DOE, MailboxConfig::default()).unwrap();
        let mediator = Arc::new(Mediator::start(mailbox, MediatorConfig::default()).unwrap());
        let audit = Captured::default();
        let admin = DoeAdmin::new(policy, None, Box::new(audit.clone()));
        let service = Arc::new(DoeService::new(
            admin,
            vec![ServedMailbox {
                function: FunctionId::new(bdf(), 0x8086, 0x0d93),
                class: 0x05_02_10,
                mediator,
            }],
        ));
        let dir = temp_dir();
        let path = dir.0.join("doe.sock");
        let mut server_config = ServerConfig::new(&path);
        config(&mut server_config);
        let server = DoeSocketServer::bind(server_config, service).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut manager =
                    EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new().unwrap();
                manager.add_subscriber(Arc::new(Mutex::new(server)));
                while !stop.load(Ordering::SeqCst) {
                    manager.run_with_timeout(20).unwrap();
                }
            })
        };
        Bench {
            path,
            audit,
            stop,
            thread: Some(thread),
            release,
            _dir: dir,
        }
    }

    fn client(&self) -> SocketClient {
        SocketClient::connect(&self.path, PATIENCE).unwrap()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for _ in 0..64 {
            let _ = self.release.send(());
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const ALLOW_ALL_MINE: &str = r#"
[[rule]]
name = "mine"
action = "allow"
uids = [{uid}]
protocols = "*"
"#;

fn echo(payload: Vec<u32>) -> Vec<u32> {
    DataObject::new(ProtocolId::CMA_SPDM, payload)
        .encode()
        .unwrap()
}

fn gate(payload: u32) -> Vec<u32> {
    DataObject::new(ProtocolId::CXL_COMPLIANCE, vec![payload])
        .encode()
        .unwrap()
}

#[test]
fn a_host_user_exchanges_lists_and_discovers() {
    let bench = Bench::start(policy(ALLOW_ALL_MINE), |_| {});
    let mut client = bench.client();
    // SPDM-looking payload (GET_VERSION at 1.0), echoed by the emulated responder.
    let request = echo(vec![0x0000_8410]);
    assert_eq!(client.exchange(bdf(), DOE, &request).unwrap(), request);
    let entry0 = client
        .exchange(bdf(), DOE, &TableAccessRequest::cdat(0).encode())
        .unwrap();
    let entry0 = TableAccessResponse::decode(&entry0).unwrap();
    assert_eq!(entry0.entry[..], cdat_entries()[0][..]);
    let listed = client.list().unwrap();
    assert_eq!(
        listed,
        [ServedFunction {
            device: "0000:0d:00.0".into(),
            vendor_id: 0x8086,
            device_id: 0x0d93,
            class: 0x05_02_10,
            mailboxes: vec![DOE],
        }]
    );
    let first = client
        .exchange(
            bdf(),
            DOE,
            &DiscoveryRequest {
                index: 0,
                version: 0,
            }
            .encode(),
        )
        .unwrap();
    let first = DiscoveryResponse::decode(&first).unwrap();
    assert_eq!(first.protocol, ProtocolId::DISCOVERY);
    assert_eq!(
        std::fs::metadata(&bench.path).unwrap().permissions().mode() & 0o777,
        0o660
    );
}

#[test]
fn a_denied_protocol_is_an_explicit_answer_and_one_audit_line() {
    let rules = r#"
[[rule]]
name = "no-cdat"
action = "deny"
uids = [{uid}]
protocols = "1e98:02"

[[rule]]
name = "spdm-without-measurements"
action = "allow"
uids = [{uid}]
protocols = ["0001:01"]

[rule.spdm]
allow = ["GET_VERSION"]
"#;
    let bench = Bench::start(policy(rules), |_| {});
    let mut client = bench.client();
    match client.exchange(bdf(), DOE, &TableAccessRequest::cdat(0).encode()) {
        Err(SocketError::Refused {
            status, message, ..
        }) => {
            assert_eq!(status, Status::Denied);
            assert!(message.contains("no-cdat"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // GET_MEASUREMENTS (0xE0) at 1.2: denied by code, answered with an SPDM ERROR.
    match client.exchange(bdf(), DOE, &echo(vec![0x0000_e012])) {
        Err(SocketError::Refused { status, object, .. }) => {
            assert_eq!(status, Status::Denied);
            // UnsupportedRequest (0x07) naming the code, version echoed.
            assert_eq!(object, [0x0001_0001, 3, 0xe007_7f12]);
        }
        other => panic!("{other:?}"),
    }
    // Discovery lists only what the policy allows this user.
    let mut protocols = Vec::new();
    let mut index = 0;
    loop {
        let response = client
            .exchange(bdf(), DOE, &DiscoveryRequest { index, version: 0 }.encode())
            .unwrap();
        let response = DiscoveryResponse::decode(&response).unwrap();
        protocols.push(response.protocol);
        if response.next_index == 0 {
            break;
        }
        index = response.next_index;
    }
    assert_eq!(protocols, [ProtocolId::DISCOVERY, ProtocolId::CMA_SPDM]);
    let lines = bench.audit.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["protocol"], "1e98:02");
    assert_eq!(lines[0]["rule"]["name"], "no-cdat");
    assert_eq!(lines[1]["reason"], "spdm-request-denied");
    let (uid, gid) = me();
    assert_eq!(lines[0]["client"], format!("host:uid={uid},gid={gid}"));
}

#[test]
fn a_user_no_rule_allows_is_refused_at_the_door() {
    let rules = r#"
[[rule]]
action = "allow"
uids = [4294967]
protocols = "*"
"#;
    let bench = Bench::start(policy(rules), |_| {});
    let mut client = bench.client();
    match client.list() {
        Err(SocketError::Refused {
            status, message, ..
        }) => {
            assert_eq!(status, Status::NotAllowed);
            assert!(message.contains("no rule"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let lines = bench.audit.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "connection-refused");
}

#[test]
fn a_refusal_is_read_even_when_the_server_closed_before_the_request() {
    let dir = temp_dir();
    let path = dir.0.join("refusing.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut client = SocketClient::connect(&path, PATIENCE).unwrap();
    // The server refuses and closes before the client writes anything.
    let (mut server, _) = listener.accept().unwrap();
    server
        .write_all(&Reply::error(0, Status::NotAllowed, "no rule allows you".to_owned()).encode())
        .unwrap();
    drop(server);
    match client.list() {
        Err(SocketError::Refused {
            status, message, ..
        }) => {
            assert_eq!(status, Status::NotAllowed);
            assert_eq!(message, "no rule allows you");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_requests_get_their_own_answer() {
    let bench = Bench::start(policy(ALLOW_ALL_MINE), |_| {});
    let mut client = bench.client();
    let other: Bdf = "0000:0e:00.0".parse().unwrap();
    match client.exchange(other, DOE, &echo(vec![1])) {
        Err(SocketError::Refused { status, .. }) => assert_eq!(status, Status::NoSuchMailbox),
        r => panic!("{r:?}"),
    }
    match client.exchange(bdf(), DOE, &[0x0001_0001, 9]) {
        Err(SocketError::Refused { status, .. }) => assert_eq!(status, Status::BadRequest),
        r => panic!("{r:?}"),
    }
    // A frame that is not a request: answered under its tag, and the connection lives.
    let mut raw = UnixStream::connect(&bench.path).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut junk = vec![12, 0, 0, 0];
    junk.extend_from_slice(&[1, 77, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    raw.write_all(&junk).unwrap();
    let reply = read_reply(&mut raw);
    assert_eq!((reply.tag, reply.status), (5, Status::BadRequest));
    raw.write_all(&Request::exchange(6, bdf(), DOE, echo(vec![2])).encode())
        .unwrap();
    let reply = read_reply(&mut raw);
    assert_eq!((reply.tag, reply.status), (6, Status::Ok));
    // A length beyond the limit: answered, then the connection ends.
    raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let reply = read_reply(&mut raw);
    assert_eq!(reply.status, Status::BadRequest);
    let mut rest = Vec::new();
    assert_eq!(raw.read_to_end(&mut rest).unwrap(), 0);
}

fn read_reply(stream: &mut UnixStream) -> Reply {
    let mut prefix = [0u8; LENGTH_BYTES];
    stream.read_exact(&mut prefix).unwrap();
    let mut body = vec![0u8; frame_length(prefix).unwrap()];
    stream.read_exact(&mut body).unwrap();
    Reply::decode(&body).unwrap()
}

#[test]
fn pipelined_requests_are_each_answered_once_under_their_tags() {
    let bench = Bench::start(policy(ALLOW_ALL_MINE), |_| {});
    let mut raw = UnixStream::connect(&bench.path).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut frames = Vec::new();
    for tag in 0..20u32 {
        frames.extend(Request::exchange(tag, bdf(), DOE, echo(vec![tag])).encode());
    }
    raw.write_all(&frames).unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let reply = read_reply(&mut raw);
        match reply.status {
            Status::Ok => assert_eq!(reply.object, echo(vec![reply.tag])),
            // 20 at once exceeds the mediator's queue of 8: an explicit busy, never lost.
            Status::Busy => {}
            other => panic!("{other:?}: {}", reply.message),
        }
        seen.push(reply.tag);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_reader_that_never_reads_blocks_nobody() {
    let bench = Bench::start(policy(ALLOW_ALL_MINE), |c| c.max_outstanding = 4);
    // A client that sends a lot of large requests and never reads its replies.
    let mut hog = UnixStream::connect(&bench.path).unwrap();
    hog.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let big = echo(vec![0xaaaa_aaaa; 4096]);
    let mut sent = 0;
    for tag in 0..10_000u32 {
        if hog
            .write_all(&Request::exchange(tag, bdf(), DOE, big.clone()).encode())
            .is_err()
        {
            break; // its socket buffer is full: the server stopped reading it
        }
        sent += 1;
    }
    assert!(
        sent < 10_000,
        "the server kept reading a client that never reads"
    );
    // Another client is served promptly all the same.
    let mut other = bench.client();
    let started = Instant::now();
    for i in 0..20 {
        assert_eq!(
            other.exchange(bdf(), DOE, &echo(vec![i])).unwrap(),
            echo(vec![i])
        );
    }
    assert!(started.elapsed() < PATIENCE);
    drop(hog);
}

#[test]
fn a_client_that_disconnects_mid_exchange_frees_its_place() {
    let bench = Bench::start(policy(ALLOW_ALL_MINE), |_| {});
    let mut leaver = UnixStream::connect(&bench.path).unwrap();
    // One exchange held on the device by the gate, seven more queued behind it.
    let mut frames = Vec::new();
    for tag in 0..8u32 {
        frames.extend(Request::exchange(tag, bdf(), DOE, gate(tag)).encode());
    }
    leaver.write_all(&frames).unwrap();
    thread::sleep(Duration::from_millis(100));
    drop(leaver);
    thread::sleep(Duration::from_millis(100));
    // Release the one on the device; the queued ones were cancelled with the connection,
    // so the next client's request runs at once instead of after seven gated ones.
    bench.release.send(()).unwrap();
    let mut next = bench.client();
    let started = Instant::now();
    assert_eq!(
        next.exchange(bdf(), DOE, &echo(vec![9])).unwrap(),
        echo(vec![9])
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "queued requests of a gone client still ran"
    );
}

#[test]
fn a_live_socket_is_not_taken_over_and_a_stale_one_is() {
    let bench = Bench::start(policy(ALLOW_ALL_MINE), |_| {});
    let admin = DoeAdmin::new(policy(ALLOW_ALL_MINE), None, Box::new(Captured::default()));
    let service = Arc::new(DoeService::new(admin, Vec::new()));
    match DoeSocketServer::bind(ServerConfig::new(&bench.path), service.clone()) {
        Err(ServerError::InUse(_)) => {}
        other => panic!("{other:?}"),
    }
    let dir = temp_dir();
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let server = DoeSocketServer::bind(ServerConfig::new(&stale), service).unwrap();
    assert!(stale.exists());
    drop(server);
    assert!(
        !stale.exists(),
        "the socket is removed when the server ends"
    );
}
