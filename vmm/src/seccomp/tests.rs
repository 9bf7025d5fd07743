//! Filters are checked for real without KVM: each `child_*` test is a no-op unless
//! `VMM_SECCOMP_CHILD` names it; the parent tests run it in a fresh process (this test binary,
//! one test) and look at how that process ended.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use vmm_sys_util::eventfd::EventFd;

use super::*;

mod mediator;
use crate::devices::serial::SerialDevice;
use crate::exit::{ExitNotifier, VmExit};

const CHILD_ENV: &str = "VMM_SECCOMP_CHILD";

/// Runs test `seccomp::tests::<name>` alone in a new process with `CHILD_ENV=<name>`.
fn run_child(name: &str) -> Output {
    run_child_with_stdin(name, None)
}

/// [`run_child`] with `stdin` (a pipe holding those bytes, then its end) or /dev/null.
fn run_child_with_stdin(name: &str, stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &format!("seccomp::tests::{name}"), "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, name)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Whether this process is the child running `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Ends the child from the filtered thread (returning to the test harness would make calls
/// the filter forbids).
fn end_child() -> ! {
    // SAFETY: _exit ends the process at once; exit_group is allowed by every filter.
    unsafe { libc::_exit(0) }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_filter_compiles_in_every_mode() {
    for kind in [
        ThreadKind::Vcpu,
        ThreadKind::EventLoop,
        ThreadKind::DoeMediator,
        ThreadKind::DmaMap,
    ] {
        for mode in [SeccompMode::Trap, SeccompMode::Kill, SeccompMode::Log] {
            let program = filter(kind, mode).unwrap().unwrap();
            assert!(!program.is_empty(), "{kind} {mode}");
        }
        assert!(filter(kind, SeccompMode::Off).unwrap().is_none());
    }
}

#[test]
fn every_filter_lets_the_sigsys_handler_report() {
    let runtime: Vec<i64> = rules::runtime().unwrap().into_iter().map(|s| s.0).collect();
    assert!(runtime.contains(&libc::SYS_write));
    assert!(runtime.contains(&libc::SYS_exit_group));
}

#[test]
fn seccomp_flag() {
    let parse = |extra: &[&str]| {
        let mut args = vec!["vmm", "--kernel", "/k"];
        args.extend_from_slice(extra);
        crate::cli::parse_from(args)
    };
    assert_eq!(parse(&[]).unwrap().seccomp, SeccompMode::Trap);
    for (arg, mode) in [
        ("kill", SeccompMode::Kill),
        ("trap", SeccompMode::Trap),
        ("log", SeccompMode::Log),
        ("off", SeccompMode::Off),
    ] {
        assert_eq!(parse(&["--seccomp", arg]).unwrap().seccomp, mode);
    }
    let e = parse(&["--seccomp", "loose"]).unwrap_err();
    assert!(crate::cli::one_line(&e).contains("--seccomp"));
}

#[test]
fn child_open_on_vcpu_thread() {
    if !is_child("child_open_on_vcpu_thread") {
        return;
    }
    let mode = if std::env::var("MODE").as_deref() == Ok("kill") {
        SeccompMode::Kill
    } else {
        SeccompMode::Trap
    };
    apply_mode(ThreadKind::Vcpu, mode).unwrap();
    // SAFETY: a NUL-terminated path; the filter stops the call before it runs.
    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    end_child();
}

#[test]
fn kill_mode_kills_on_a_forbidden_call() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "seccomp::tests::child_open_on_vcpu_thread"])
        .env(CHILD_ENV, "child_open_on_vcpu_thread")
        .env("MODE", "kill")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{out:?}");
}

#[test]
fn trap_mode_names_the_call_and_exits_1() {
    let out = run_child("child_open_on_vcpu_thread");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    // glibc's open() is the openat system call.
    assert!(
        err.contains("vmm: seccomp: the vcpu thread made the forbidden system call 257 (openat)"),
        "{err}"
    );
}

#[test]
fn child_terminal_ioctl_on_vcpu_thread() {
    if !is_child("child_terminal_ioctl_on_vcpu_thread") {
        return;
    }
    apply_mode(ThreadKind::Vcpu, SeccompMode::Trap).unwrap();
    let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: TCGETS writes a termios into `termios`; the filter stops it first.
    unsafe { libc::ioctl(0, libc::TCGETS, termios.as_mut_ptr()) };
    end_child();
}

#[test]
fn ioctls_are_filtered_by_request() {
    let out = run_child("child_terminal_ioctl_on_vcpu_thread");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("system call 16 (ioctl)"), "{out:?}");
}

#[test]
fn child_exec_mapping_on_vcpu_thread() {
    if !is_child("child_exec_mapping_on_vcpu_thread") {
        return;
    }
    apply_mode(ThreadKind::Vcpu, SeccompMode::Trap).unwrap();
    // SAFETY: an anonymous mapping; the filter stops it first (PROT_EXEC).
    unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    end_child();
}

#[test]
fn executable_mappings_are_refused() {
    let out = run_child("child_exec_mapping_on_vcpu_thread");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("system call 9 (mmap)"), "{out:?}");
}

/// What a vCPU thread does besides KVM_RUN: allocate, lock, log, write eventfds and the
/// serial output, the VFIO calls, then end.
fn vcpu_thread_work(shared: &Mutex<Vec<u8>>, irq: &EventFd) {
    apply_mode(ThreadKind::Vcpu, SeccompMode::Trap).unwrap();
    let big = vec![1u8; 64 << 20];
    let mut small: Vec<String> = (0..1000).map(|i| format!("{i}")).collect();
    small.shrink_to_fit();
    shared.lock().unwrap().extend_from_slice(&big[..16]);
    drop(big);
    crate::warn_ratelimited!("a rate-limited line from a filtered vCPU thread");
    eprintln!("stderr from a filtered vCPU thread");
    irq.write(1).unwrap();
    let mut out = std::io::stdout();
    out.write_all(b"serial output\n").unwrap();
    out.flush().unwrap();
    // An allowed ioctl request reaches the kernel (here EBADF: no vCPU fd).
    // SAFETY: KVM_RUN takes no argument; -1 is no fd.
    let rc = unsafe { libc::ioctl(-1, ioctls::KVM_RUN(), 0) };
    assert_eq!(rc, -1);
    // VFIO: a new irqfd, a config read (ESPIPE on an eventfd), then closing the irqfd.
    let vector = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let mut word = [0u8; 4];
    // SAFETY: `word` is writable for 4 bytes.
    unsafe { libc::pread64(vector.as_raw_fd(), word.as_mut_ptr().cast(), 4, 0) };
    drop(vector);
}

use std::os::fd::AsRawFd;

#[test]
fn child_vcpu_thread_lifecycle() {
    if !is_child("child_vcpu_thread_lifecycle") {
        return;
    }
    let shared = Arc::new(Mutex::new(Vec::new()));
    let irq = Arc::new(EventFd::new(libc::EFD_NONBLOCK).unwrap());
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (shared, irq) = (shared.clone(), irq.clone());
            std::thread::Builder::new()
                .name(format!("vcpu{i}"))
                .spawn(move || vcpu_thread_work(&shared, &irq))
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(irq.read().unwrap(), 2);
    end_child();
}

#[test]
fn vcpu_filter_allows_the_vcpu_thread_work() {
    let out = run_child("child_vcpu_thread_lifecycle");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn child_event_loop_lifecycle() {
    if !is_child("child_event_loop_lifecycle") {
        return;
    }
    let exit = Arc::new(ExitNotifier::new().unwrap());
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let serial = Arc::new(Mutex::new(SerialDevice::new(
        irq,
        Box::new(std::io::stdout()),
    )));
    let admin = admin_subscribers();
    // SAFETY: gettid has no preconditions.
    let loop_tid = unsafe { libc::gettid() };
    let notifier = exit.clone();
    let client_socket = admin.socket.clone();
    let filter = admin.filter;
    let vcpu = std::thread::spawn(move || {
        // A denial decided on a thread under the vCPU filter: queued (no write of the
        // log there), written by the loop.
        std::thread::Builder::new()
            .name("vcpu0".to_owned())
            .spawn(move || {
                apply_mode(ThreadKind::Vcpu, SeccompMode::Trap).unwrap();
                assert_eq!(filter.check(&denied_request()), FilterVerdict::DenyDiscard);
            })
            .unwrap()
            .join()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        admin_client(&client_socket, loop_tid);
        notifier.notify(VmExit::PowerOff);
    });
    apply_mode(ThreadKind::EventLoop, SeccompMode::Trap).unwrap();
    let reason = crate::event_loop::run(exit, Some(serial.clone()), admin.subscribers).unwrap();
    assert_eq!(reason, VmExit::PowerOff);
    serial.lock().unwrap().flush();
    drop(serial);
    // As at the end of `builder::run`: the loop's subscribers are gone, and with the
    // control server its socket's file (a failure here ends the child non-zero).
    assert!(
        !admin.socket.exists(),
        "the control socket file is still there"
    );
    drop(vcpu);
    // As at the end of main: exit runs the C library's exit handlers.
    // SAFETY: ends the process.
    unsafe { libc::exit(0) };
}

#[test]
fn event_loop_filter_allows_the_loop_and_the_exit() {
    // stdin is a pipe with bytes for the serial console, then its end (the loop stops
    // watching it).
    let out = run_child_with_stdin("child_event_loop_lifecycle", Some(b"root\n"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The SIGHUP reload ran (and refused the bad file the client left).
    assert!(
        stderr(&out).contains("policy reload refused (SIGHUP)"),
        "{out:?}"
    );
    // The vCPU's denial was written, by the loop (the audit goes to stderr here).
    assert!(
        stderr(&out).contains(r#""event":"denied","client":"guest:seccomp""#),
        "{out:?}"
    );
}

/// The admin side of the loop as vmm sets it up.
struct Admin {
    /// SIGHUP, the audit writer, the control socket.
    subscribers: Vec<crate::event_loop::Subscriber>,
    /// The control socket's path.
    socket: std::path::PathBuf,
    /// A guest's policy filter, its denials queued for the audit writer.
    filter: crate::doe::PolicyFilter,
}

/// A request the (empty) policy denies.
fn denied_request() -> doe_proxy::protocol::DataObject {
    doe_proxy::protocol::DataObject::new(doe_proxy::protocol::ProtocolId::CXL_TABLE_ACCESS, vec![0])
}

use devices::doe::{DoeFilter, FilterVerdict};

/// The admin side of the loop as vmm sets it up (a policy file, SIGHUP, the audit writer
/// and a guest's filter feeding it, the control socket).
fn admin_subscribers() -> Admin {
    use crate::control::audit::AuditWriter;
    use crate::control::server::ControlServer;
    use crate::control::sighup::{sighup_fd, SighupReload};
    let dir = std::env::temp_dir().join(format!("vmm-seccomp-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "version = 1\n").unwrap();
    let admin = crate::doe::DoeAdmin::load(Some(&policy), Box::new(std::io::stderr())).unwrap();
    let queue = Arc::new(crate::doe::GuestAudit::new().unwrap());
    let filter = crate::doe::PolicyFilter::new(
        admin.clone(),
        queue.clone(),
        policies::ClientIdentity::guest("seccomp"),
        policies::FunctionId::new("0000:0d:00.0".parse().unwrap(), 0x8086, 0x0d93),
        0x190,
    );
    let socket = dir.join("api.sock");
    let bound = doe_proxy::socket::BoundSocket::bind(&socket, 0o600).unwrap();
    let subscribers: Vec<crate::event_loop::Subscriber> = vec![
        Arc::new(Mutex::new(SighupReload::new(
            sighup_fd().unwrap(),
            admin.clone(),
        ))),
        Arc::new(Mutex::new(AuditWriter::new(queue, admin.clone()).unwrap())),
        Arc::new(Mutex::new(ControlServer::new(
            bound,
            Arc::new(crate::control::VmControl {
                admin,
                stats: Arc::new(crate::stats::VmStats::default()),
            }),
        ))),
    ];
    Admin {
        subscribers,
        socket,
        filter,
    }
}

/// What an admin does while the guest runs: reloads through the socket (twice on one
/// connection, once with a bad file), then with SIGHUP.
fn admin_client(socket: &std::path::Path, loop_tid: libc::pid_t) {
    use std::io::{BufRead, BufReader};
    let policy = socket.with_file_name("policy.toml");
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    stream.write_all(b"policy reload\n").unwrap();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ok\n");
    std::fs::write(&policy, "version = 2\n").unwrap();
    stream
        .write_all(b"policy reload\npolicy show\nstats\n")
        .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("error: "), "{line}");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("ok ") && line.contains("policy.toml"),
        "{line}"
    );
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("ok {\"exits\":"), "{line}");
    drop((stream, reader));
    // To the loop's thread, which has it blocked (sighup_fd); in vmm every thread has (the
    // test harness's own threads do not, so not to the whole process here).
    // SAFETY: tgkill with this process's id, a live thread of it and a valid signal.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), loop_tid, libc::SIGHUP) };
    // Long enough for the audit writer's timer to fire once too.
    std::thread::sleep(std::time::Duration::from_millis(1200));
}
