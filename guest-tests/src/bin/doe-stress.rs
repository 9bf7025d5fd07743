//! `doe-stress`: a DOE workload for the contention scenario. Reads the whole CDAT N times
//! (and, with `--discovery`, walks Discovery after each read), timing every exchange, and
//! prints one JSON line: how many reads matched the reference (or the first read), how many
//! differed or failed (with the errors, counted), and the exchange latencies (p50, p99,
//! max). Reaches the mailbox through sysfs `config` (its registers: in L2 our vmm's virtual
//! DOE, in L1 the physical one — bypassing any mediator) or through a DOE socket
//! (`--socket`: `vmm --doe-socket`, `doe-proxyd`). On the registers it refuses a function
//! a mediator owns (as `doectl` does) unless `--force`. `--as-uid` drops to another user
//! first.
//! It exits 0 whenever it ran: the verdict is the reader's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use doe_proxy::cdat_read::read_cdat_entries;
use doe_proxy::config_space::{Access, SysfsConfig};
use doe_proxy::exchange::{walk_discovery, ObjectExchange};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::ownership::{find_owner, HostPaths, Registry};
use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::to_hex;
use doe_proxy::socket::{SocketClient, SocketMailbox};
use doe_proxy::sysfs_scan;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "doe-stress",
    about = "Read a function's CDAT repeatedly, timing each DOE exchange"
)]
struct Cli {
    /// The function, e.g. 0000:0d:00.0.
    bdf: Bdf,
    /// Whole CDAT reads to make.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Also walk Discovery after each read.
    #[arg(long)]
    discovery: bool,
    /// The expected CDAT, hex (as `doectl cdat --json` prints it in "bytes"); without it,
    /// reads are compared with the first.
    #[arg(long, value_name = "HEX")]
    reference: Option<String>,
    /// Go through this DOE socket instead of the registers.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The mailbox's config-space offset (default: the function's first; with --socket,
    /// 0x190 unless given).
    #[arg(long, value_parser = doe_proxy::ext_cap::parse_offset)]
    mailbox: Option<u16>,
    /// Drive the registers even if a mediator owns the mailbox (as `doectl --force`).
    #[arg(long, conflicts_with = "socket")]
    force: bool,
    /// Drop to this uid (and gid = uid) before touching anything (run as root).
    #[arg(long, value_name = "UID")]
    as_uid: Option<u32>,
    /// A label for the report.
    #[arg(long, default_value = "")]
    label: String,
}

/// The offset QEMU's cxl-type3 puts its DOE at (the socket cannot scan config space).
const DEFAULT_SOCKET_MAILBOX: u16 = 0x190;

#[derive(Serialize, Default)]
struct Latency {
    exchanges: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

#[derive(Serialize)]
struct Report {
    label: String,
    device: String,
    via: String,
    reads: usize,
    reads_ok: usize,
    reads_wrong: usize,
    reads_failed: usize,
    discovery_walks: usize,
    discovery_failed: usize,
    /// Error text → count.
    errors: BTreeMap<String, usize>,
    /// The first successful read, hex.
    first_cdat: Option<String>,
    latency: Latency,
    elapsed_ms: f64,
}

/// Times every exchange of the wrapped mailbox.
struct Timed<'a, X: ObjectExchange> {
    inner: X,
    samples: &'a mut Vec<Duration>,
}

impl<X: ObjectExchange> ObjectExchange for Timed<'_, X> {
    type Error = X::Error;

    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, X::Error> {
        let started = Instant::now();
        let result = self.inner.exchange(request);
        self.samples.push(started.elapsed());
        result
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e6
}

fn drop_privileges(uid: u32) -> Result<(), String> {
    // SAFETY: setgroups with an empty list, setgid and setuid take plain integers and
    // touch no memory of ours; each result is checked.
    let rc = unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(uid) != 0 {
            -1
        } else {
            libc::setuid(uid)
        }
    };
    if rc != 0 {
        return Err(format!(
            "cannot become uid {uid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Runs the workload on `mailbox`.
fn workload<X: ObjectExchange>(cli: &Cli, mut mailbox: X, report: &mut Report) -> Vec<Duration> {
    let mut samples = Vec::new();
    let reference = cli.reference.clone();
    let started = Instant::now();
    for _ in 0..cli.iterations {
        let mut timed = Timed {
            inner: &mut mailbox,
            samples: &mut samples,
        };
        report.reads += 1;
        match read_cdat_entries(&mut timed) {
            Ok(entries) => {
                let got = to_hex(&entries.concat());
                let expected = reference.as_ref().or(report.first_cdat.as_ref());
                match expected {
                    Some(want) if *want != got => {
                        report.reads_wrong += 1;
                        *report.errors.entry("CDAT differs".into()).or_default() += 1;
                    }
                    _ => report.reads_ok += 1,
                }
                if report.first_cdat.is_none() {
                    report.first_cdat = Some(got);
                }
            }
            Err(e) => {
                report.reads_failed += 1;
                *report.errors.entry(e.to_string()).or_default() += 1;
            }
        }
        if cli.discovery {
            report.discovery_walks += 1;
            let mut timed = Timed {
                inner: &mut mailbox,
                samples: &mut samples,
            };
            if let Err(e) = walk_discovery(&mut timed, 2) {
                report.discovery_failed += 1;
                *report.errors.entry(format!("Discovery: {e}")).or_default() += 1;
            }
        }
    }
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    samples
}

/// An error if a mediator owns `bdf`'s mailboxes (`doe_proxy::ownership`).
fn refuse_if_owned(bdf: Bdf) -> Result<(), String> {
    let check = find_owner(&HostPaths::system(), &Registry::from_env(), bdf);
    match check.owner {
        Some(owner) => Err(format!(
            "{bdf}: its DOE mailboxes are owned by {owner}; use --socket, or --force to drive the registers anyway"
        )),
        None => Ok(()),
    }
}

fn run(cli: &Cli) -> Result<Report, String> {
    if let Some(uid) = cli.as_uid {
        drop_privileges(uid)?;
    }
    let mut report = Report {
        label: cli.label.clone(),
        device: cli.bdf.to_string(),
        via: cli.socket.as_ref().map_or("registers".to_owned(), |p| {
            format!("socket {}", p.display())
        }),
        reads: 0,
        reads_ok: 0,
        reads_wrong: 0,
        reads_failed: 0,
        discovery_walks: 0,
        discovery_failed: 0,
        errors: BTreeMap::new(),
        first_cdat: None,
        latency: Latency::default(),
        elapsed_ms: 0.0,
    };
    if cli.socket.is_none() && !cli.force {
        refuse_if_owned(cli.bdf)?;
    }
    let mut samples = match &cli.socket {
        Some(path) => {
            let mut client =
                SocketClient::connect(path, Duration::from_secs(30)).map_err(|e| e.to_string())?;
            let offset = cli.mailbox.unwrap_or(DEFAULT_SOCKET_MAILBOX);
            workload(
                cli,
                SocketMailbox::new(&mut client, cli.bdf, offset),
                &mut report,
            )
        }
        None => {
            let offset = match cli.mailbox {
                Some(offset) => offset,
                None => *sysfs_scan::examine_sysfs(cli.bdf)
                    .map_err(|e| e.to_string())?
                    .mailboxes
                    .first()
                    .ok_or_else(|| format!("{} has no DOE mailbox", cli.bdf))?,
            };
            let cfg = SysfsConfig::open(&cli.bdf, Access::ReadWrite).map_err(|e| e.to_string())?;
            let mailbox =
                Mailbox::new(cfg, offset, MailboxConfig::default()).map_err(|e| e.to_string())?;
            workload(cli, mailbox, &mut report)
        }
    };
    samples.sort_unstable();
    report.latency = Latency {
        exchanges: samples.len(),
        p50_us: percentile(&samples, 0.50),
        p99_us: percentile(&samples, 0.99),
        max_us: samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
    };
    Ok(report)
}

fn main() -> ExitCode {
    guest_tests::tool::finish_compact("doe-stress", run(&Cli::parse()))
}
