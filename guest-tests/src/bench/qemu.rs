//! Booting L1 under QEMU/TCG and following its serial console.
//!
//! The console is streamed line by line to the terminal and to a log file. L1's init
//! prints markers `@@bench <nonce> phase <name>` and `@@bench <nonce> verdict <rc>`; the
//! nonce is fresh for every boot and passed on the kernel command line, so nothing a
//! script or guest prints can forge the verdict.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::error::BenchError;
use super::runner::{describe, run_output};
use super::topology::Topology;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// The oldest QEMU major version the bench supports.
const MIN_QEMU_MAJOR: u32 = 10;

/// QEMU's version line.
pub fn qemu_version() -> Result<String, BenchError> {
    let out = run_output(Command::new(QEMU).arg("--version")).map_err(|e| {
        BenchError::QemuUnavailable(format!("{QEMU} is not usable ({e}); run `bench setup`"))
    })?;
    Ok(out.lines().next().unwrap_or_default().to_owned())
}

/// Checks that QEMU is installed and recent enough.
pub fn check_qemu() -> Result<(), BenchError> {
    let line = qemu_version()?;
    let major = line
        .split_whitespace()
        .find_map(|w| w.split('.').next()?.parse::<u32>().ok())
        .unwrap_or(0);
    if major < MIN_QEMU_MAJOR {
        return Err(BenchError::QemuUnavailable(format!(
            "{line}: QEMU {MIN_QEMU_MAJOR} or newer is needed; run `bench setup`"
        )));
    }
    Ok(())
}

/// What to boot.
#[derive(Debug)]
pub struct L1Boot<'a> {
    /// The machine layout.
    pub topology: &'a Topology,
    /// L1's bzImage.
    pub kernel: &'a Path,
    /// L1's initramfs.
    pub initramfs: &'a Path,
    /// Where the serial console is logged.
    pub log: &'a Path,
    /// How long the whole boot may take.
    pub timeout: Duration,
    /// Whether console lines are echoed to the terminal.
    pub echo: bool,
}

/// How a boot ended.
#[derive(Debug)]
pub struct Console {
    /// Every console line (carriage returns stripped).
    pub lines: Vec<String>,
    /// The script's exit status, if L1 reported one.
    pub verdict: Option<i32>,
    /// Each phase marker L1 printed, with the time since QEMU started.
    pub phases: Vec<(String, Duration)>,
    /// Total time from QEMU's start to its exit.
    pub total: Duration,
    /// Set when the boot was killed at the timeout.
    pub timed_out: bool,
    /// Set when L1 printed nothing for [`SILENCE_LIMIT`] and was killed: a wedged L1.
    pub stalled: bool,
    /// QEMU's exit status.
    pub exit: String,
}

/// Kills QEMU if the bench stops early (error, panic): nothing is left running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A nonce for this boot's markers.
fn fresh_nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// The QEMU command line for `boot`.
pub fn command(boot: &L1Boot<'_>, nonce: &str) -> Command {
    let t = boot.topology;
    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-nodefaults",
        "-no-user-config",
    ])
    .args(["-machine", &t.machine])
    .args(["-m", &t.memory])
    .args(["-smp", &t.cpus.to_string()])
    .args(&t.qemu_args)
    .arg("-kernel")
    .arg(boot.kernel)
    .arg("-initrd")
    .arg(boot.initramfs)
    .arg("-append")
    .arg(format!(
        "console=ttyS0 panic=-1 quiet rdinit=/init bench.nonce={nonce} {}",
        t.cmdline
    ))
    .args([
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
    ]);
    cmd
}

/// Forwards the lines of `stream` into `tx`.
fn forward(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        while let Ok(n) = reader.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .replace('\r', "");
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });
}

/// How long L1 may print nothing before it counts as wedged and is killed. Every script
/// prints as it goes; the longest quiet stretch a scenario has is `vmm-probe`'s 180 s
/// timeout on a hung L2 boot. Seen: an L1 that stopped mid-line during QEMU's L2 baseline.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(300);

/// Boots L1 and follows its console until QEMU exits, the timeout passes or L1 stays
/// silent for [`SILENCE_LIMIT`].
pub fn boot(boot: &L1Boot<'_>) -> Result<Console, BenchError> {
    check_qemu()?;
    let nonce = fresh_nonce();
    let mut cmd = command(boot, &nonce);
    let command_line = describe(&cmd);
    let mut log = File::create(boot.log).map_err(BenchError::io(boot.log))?;
    writeln!(log, "# {command_line}").map_err(BenchError::io(boot.log))?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            command: command_line,
            source,
        })?;
    let (tx, rx) = mpsc::channel();
    forward(child.stdout.take().expect("stdout is piped"), tx.clone());
    forward(child.stderr.take().expect("stderr is piped"), tx);
    let mut child = KillOnDrop(child);

    let marker = format!("@@bench {nonce} ");
    let deadline = start + boot.timeout;
    let mut console = Console {
        lines: Vec::new(),
        verdict: None,
        phases: Vec::new(),
        total: Duration::ZERO,
        timed_out: false,
        stalled: false,
        exit: String::new(),
    };
    let mut last_line = Instant::now();
    loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        let quiet_left = (last_line + SILENCE_LIMIT).saturating_duration_since(now);
        match rx.recv_timeout(left.min(quiet_left)) {
            Ok(line) => {
                last_line = Instant::now();
                if boot.echo {
                    println!("{line}");
                }
                let _ = writeln!(log, "{line}");
                if let Some(rest) = line.find(&marker).map(|at| &line[at + marker.len()..]) {
                    let mut words = rest.split_whitespace();
                    match (words.next(), words.next()) {
                        (Some("phase"), Some(name)) => {
                            console.phases.push((name.to_owned(), start.elapsed()))
                        }
                        (Some("verdict"), Some(rc)) => console.verdict = rc.parse().ok(),
                        _ => {}
                    }
                }
                console.lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if quiet_left < left => {
                console.stalled = true;
                let _ = writeln!(
                    log,
                    "# bench: L1 printed nothing for {SILENCE_LIMIT:?}; killed"
                );
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                console.timed_out = true;
                let _ = writeln!(log, "# bench: timed out after {:?}", boot.timeout);
                break;
            }
        }
    }
    if console.timed_out || console.stalled {
        let _ = child.0.kill();
    }
    let status = child
        .0
        .wait()
        .map_err(BenchError::io(PathBuf::from(QEMU)))?;
    console.total = start.elapsed();
    console.exit = status.to_string();
    Ok(console)
}
