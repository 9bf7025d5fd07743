//! The control socket end to end in-process: a [`ControlServer`] in its own event loop over
//! a fake VM, reached by raw streams.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use doe_proxy::socket::BoundSocket;
use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use policies::ClientIdentity;

use super::access::ControlAccess;
use super::server::{ControlLimits, ControlServer, DEFAULT_CONTROL_SOCKET_MODE};
use super::{Control, Reload};

/// Longest any answer may take.
const PATIENCE: Duration = Duration::from_secs(5);

/// A VM that answers at once and notes who was refused.
#[derive(Default)]
struct FakeVm {
    refused: Mutex<Vec<(String, String, String)>>,
}

impl Reload for FakeVm {
    fn reload(&self) -> Result<String, String> {
        Ok("/etc/p.toml".to_owned())
    }

    fn origin(&self) -> String {
        "/etc/p.toml".to_owned()
    }
}

impl Control for FakeVm {
    fn stats(&self) -> String {
        r#"{"exits":{"mmio_read":1}}"#.to_owned()
    }

    fn refused(&self, peer: &ClientIdentity, socket: &str, detail: &str) {
        self.refused
            .lock()
            .unwrap()
            .push((peer.to_string(), socket.to_owned(), detail.to_owned()));
    }
}

/// A control server running in its own loop until dropped.
struct Served {
    path: PathBuf,
    vm: Arc<FakeVm>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A fresh directory for one test.
fn scratch() -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "vmm-control-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Served {
    fn start(access: ControlAccess, limits: ControlLimits) -> Served {
        let path = scratch().join("api.sock");
        let socket = BoundSocket::bind(&path, DEFAULT_CONTROL_SOCKET_MODE).unwrap();
        let vm = Arc::new(FakeVm::default());
        let server = ControlServer::with(socket, vm.clone(), access, limits);
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
        Served {
            path,
            vm,
            stop,
            thread: Some(thread),
        }
    }

    fn mine(limits: ControlLimits) -> Served {
        Served::start(ControlAccess::for_this_process(), limits)
    }

    fn connect(&self) -> UnixStream {
        let stream = UnixStream::connect(&self.path).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sends `request` and reads one answer line (without its newline).
fn ask(stream: &mut UnixStream, request: &[u8]) -> String {
    stream.write_all(request).unwrap();
    read_line(stream)
}

fn read_line(stream: &UnixStream) -> String {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end_matches('\n').to_owned()
}

/// True once the server has closed `stream` (end of file, or reset), within
/// [`PATIENCE`]; whatever it sent before is skipped.
fn closed_by_server(stream: &mut UnixStream) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return false
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn the_socket_file_is_for_its_owner_only_by_default() {
    let served = Served::mine(ControlLimits::default());
    let mode = std::fs::metadata(&served.path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn commands_are_answered_in_order_on_one_connection() {
    let served = Served::mine(ControlLimits::default());
    let mut stream = served.connect();
    assert_eq!(ask(&mut stream, b"policy reload\n"), "ok");
    stream.write_all(b"policy show\nstats\n").unwrap();
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ok /etc/p.toml\n");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ok {\"exits\":{\"mmio_read\":1}}\n");
}

#[test]
fn malformed_requests_get_an_error_line_and_the_server_goes_on() {
    let served = Served::mine(ControlLimits::default());
    let mut stream = served.connect();
    assert_eq!(
        ask(&mut stream, b"\xff\xfe stats\n"),
        "error: the command is not UTF-8"
    );
    assert!(ask(&mut stream, b"reboot\n").starts_with("error: unknown command"));
    assert!(ask(&mut stream, b"\n").starts_with("error: empty command"));
    // The same connection still works.
    assert!(ask(&mut stream, b"stats\n").starts_with("ok {"));
    // A line too long is answered, then the connection is closed.
    let long = vec![b'x'; 4000];
    assert_eq!(
        ask(&mut stream, &long),
        "error: command longer than 1024 bytes"
    );
    assert!(closed_by_server(&mut stream));
    // Others are served as before.
    assert!(ask(&mut served.connect(), b"stats\n").starts_with("ok {"));
}

#[test]
fn a_client_that_never_reads_stalls_nobody_and_is_dropped() {
    let limits = ControlLimits {
        max_output: 4096,
        ..ControlLimits::default()
    };
    let served = Served::mine(limits);
    // Sends commands as fast as it can and never reads an answer.
    let mut hog = served.connect();
    let mut hog_writer = hog.try_clone().unwrap();
    let sent = thread::spawn(move || {
        let burst = b"stats\n".repeat(10_000);
        let mut sent = 0;
        // Stops when the server drops it (EPIPE or reset) or after 20 MiB.
        while sent < 20 << 20 && hog_writer.write_all(&burst).is_ok() {
            sent += burst.len();
        }
        sent
    });
    // Meanwhile another client is answered at once, again and again.
    let mut other = served.connect();
    for _ in 0..20 {
        let started = Instant::now();
        assert!(ask(&mut other, b"stats\n").starts_with("ok {"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "an answer took {:?}",
            started.elapsed()
        );
    }
    let sent = sent.join().unwrap();
    assert!(sent < 20 << 20, "the hog was never dropped");
    assert!(closed_by_server(&mut hog));
    assert!(ask(&mut other, b"stats\n").starts_with("ok {"));
}

#[test]
fn a_client_that_reads_late_gets_every_answer() {
    let served = Served::mine(ControlLimits {
        max_output: 1 << 20,
        ..ControlLimits::default()
    });
    let mut slow = served.connect();
    let count = 5_000;
    // More answers than the socket buffers: the rest waits in the server for EPOLLOUT.
    slow.write_all(&b"stats\n".repeat(count)).unwrap();
    thread::sleep(Duration::from_millis(200));
    let reader = BufReader::new(&slow);
    let answers = reader
        .lines()
        .take(count)
        .map(|line| line.unwrap())
        .filter(|line| line.starts_with("ok {"))
        .count();
    assert_eq!(answers, count);
}

#[test]
fn a_peer_whose_uid_is_not_allowed_is_refused_closed_and_audited() {
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    let served = Served::start(
        ControlAccess::only(me.wrapping_add(1)),
        ControlLimits::default(),
    );
    let mut stream = served.connect();
    let line = read_line(&stream);
    assert!(
        line.starts_with(&format!("error: permission denied: uid {me} ")),
        "{line}"
    );
    assert!(closed_by_server(&mut stream));
    let refused = served.vm.refused.lock().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (peer, socket, detail) = &refused[0];
    assert!(peer.starts_with(&format!("host:uid={me},")), "{peer}");
    assert_eq!(Path::new(socket), served.path);
    assert!(
        detail.contains("may not use vmm's control socket"),
        "{detail}"
    );
}

#[test]
fn connections_over_the_limit_are_refused_with_a_reason() {
    let served = Served::mine(ControlLimits {
        max_connections: 2,
        ..ControlLimits::default()
    });
    let mut first = served.connect();
    let mut second = served.connect();
    assert!(ask(&mut first, b"stats\n").starts_with("ok"));
    assert!(ask(&mut second, b"stats\n").starts_with("ok"));
    let mut third = served.connect();
    let line = read_line(&third);
    assert!(
        line.starts_with("error: too many control connections"),
        "{line}"
    );
    assert!(closed_by_server(&mut third));
    // A place frees when a client leaves.
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    loop {
        // A refused connection may be closed before the request is even written.
        let mut next = served.connect();
        let _ = next.write_all(b"stats\n");
        let mut line = String::new();
        let _ = BufReader::new(&next).read_line(&mut line);
        if line.starts_with("ok") {
            break;
        }
        assert!(Instant::now() < deadline, "the place never freed");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(served.vm.refused.lock().unwrap().is_empty());
}
