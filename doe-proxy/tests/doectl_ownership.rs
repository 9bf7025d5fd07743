//! The user's story of "one owner per mailbox": a mediator has registered a function, and
//! `doectl` without `--socket` refuses to drive its registers (exit 9), naming the owner and
//! the socket to use, before it touches the function at all (the function here does not
//! even exist); `--force` gets past the check (and then finds no such device, exit 3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use doe_proxy::ownership::liveness::start_time;
use doe_proxy::ownership::OWNER_DIR_ENV;

/// A function no machine has (bus 0xee is past any test host's).
const ABSENT: &str = "0000:ee:1f.7";
const SOCKET: &str = "/run/test-vmm-doe.sock";

/// A temporary registry directory, removed on drop.
struct TempRegistry(PathBuf);

impl TempRegistry {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "doectl-ownership-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempRegistry(dir)
    }

    fn write(&self, bdf: &str, text: &str) {
        std::fs::write(self.0.join(bdf), text).unwrap();
    }

    /// A registration of `bdf` by this test process, as a vmm serving `socket`.
    fn register_self(&self, bdf: &str, socket: Option<&str>) {
        let pid = std::process::id();
        let started = start_time(Path::new("/proc"), pid).expect("own start time");
        let socket = socket.map_or(String::new(), |s| format!("socket = \"{s}\"\n"));
        self.write(
            bdf,
            &format!(
                "program = \"vmm\"\npid = {pid}\nstart_time = {started}\n{socket}\
                 mailboxes = [\"0x190\"]\n"
            ),
        );
    }
}

impl Drop for TempRegistry {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn doectl(registry: &TempRegistry, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doectl"))
        .args(args)
        .env(OWNER_DIR_ENV, &registry.0)
        .output()
        .expect("doectl runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_owned_function_is_refused_with_the_socket_to_use() {
    let registry = TempRegistry::new();
    registry.register_self(ABSENT, Some(SOCKET));
    let pid = std::process::id();
    for args in [
        vec!["discover", ABSENT],
        vec!["cdat", ABSENT],
        vec!["exchange", ABSENT, "0001:01", "1011"],
        // The short form of the address names the same function.
        vec!["discover", "ee:1f.7", "--json"],
    ] {
        let out = doectl(&registry, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(9), "{args:?}: {err}");
        assert_eq!(
            err.trim_end(),
            format!(
                "doectl: {ABSENT}: its DOE mailboxes are owned by vmm (pid {pid}); use doectl \
                 --socket {SOCKET} ..., or --force to drive the registers anyway"
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_owner_without_a_socket_is_named_too() {
    let registry = TempRegistry::new();
    registry.register_self(ABSENT, None);
    let out = doectl(&registry, &["discover", ABSENT]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(err.contains("serves them on no DOE socket"), "{err}");
}

#[test]
fn force_gets_past_the_check_with_a_warning() {
    let registry = TempRegistry::new();
    registry.register_self(ABSENT, Some(SOCKET));
    let out = doectl(&registry, &["discover", ABSENT, "--force"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("doectl: warning: --force"), "{err}");
    assert!(lines[1].starts_with("doectl: no such device"), "{err}");
}

#[test]
fn force_with_a_socket_is_a_usage_error() {
    let registry = TempRegistry::new();
    let out = doectl(
        &registry,
        &["--socket", SOCKET, "--force", "discover", ABSENT],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_registration_of_a_process_that_is_gone_is_ignored() {
    let registry = TempRegistry::new();
    // This pid, but another start time: the process that registered has gone and its pid
    // was reused.
    registry.write(
        ABSENT,
        &format!(
            "program = \"doe-proxyd\"\npid = {}\nstart_time = 1\n",
            std::process::id()
        ),
    );
    let out = doectl(&registry, &["discover", ABSENT]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("owned"), "{err}");
}

#[test]
fn a_garbage_registration_is_ignored_with_a_warning() {
    let registry = TempRegistry::new();
    registry.write(ABSENT, "\u{0}\u{1}not a registration = [");
    let out = doectl(&registry, &["cdat", ABSENT]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.starts_with("doectl: warning: ignoring "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn doctor_on_a_missing_function_is_no_such_device() {
    let registry = TempRegistry::new();
    registry.register_self(ABSENT, Some(SOCKET));
    let out = doectl(&registry, &["doctor", ABSENT]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.starts_with("doectl: no such device"), "{err}");
}

#[test]
fn doctor_reports_on_a_function_of_this_machine() {
    // Any function will do: the report reads sysfs only (the test host may have none).
    let Some(bdf) = std::fs::read_dir("/sys/bus/pci/devices")
        .ok()
        .and_then(|mut entries| entries.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
    else {
        eprintln!("no PCI function on this host: nothing to report on");
        return;
    };
    let registry = TempRegistry::new();
    let out = doectl(&registry, &["doctor", &bdf, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["device"], bdf);
    assert_eq!(report["registry"], registry.0.display().to_string());
    assert!(report["conclusion"].as_str().is_some_and(|c| !c.is_empty()));
    let human = doectl(&registry, &["doctor", &bdf]);
    assert_eq!(human.status.code(), Some(0));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.starts_with(&bdf), "{text}");
    assert!(text.contains("\n  verdict "), "{text}");
}
