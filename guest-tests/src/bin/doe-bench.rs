//! `doe-bench`: DOE exchange latency from user space, through sysfs `config` (needs root).
//! Runs N Discovery exchanges, N Discovery walks, and (if the mailbox offers CXL Table
//! Access) N CDAT entry-0 exchanges and N whole CDAT reads with doe-proxy's mailbox driver,
//! and prints one JSON summary (min/median/p90/mean in µs per operation, the raw samples,
//! and how many exchanges were not ready at the first Status read after Go). The same tool
//! runs in L1 on the physical function and in L2 through our `vmm` or QEMU, so the figures
//! compare. With `--pause-ms M` it prints a mark before and after each operation and
//! pauses M ms after each (see `guest_tests::doe_bench::marks`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use doe_proxy::cdat_read;
use doe_proxy::config_space::{Access, ConfigSpace, SysfsConfig};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::discovery::DiscoveryRequest;
use doe_proxy::protocol::table_access::TableAccessRequest;
use doe_proxy::protocol::ProtocolId;
use doe_proxy::sysfs_scan;
use guest_tests::doe_bench::marks::{self, Edge, Marker};
use guest_tests::doe_bench::{AfterGo, RegisterAccess, Report, Stats};

#[derive(Parser)]
#[command(
    name = "doe-bench",
    about = "Measure DOE exchange latency through sysfs config"
)]
struct Cli {
    /// The function, e.g. 0000:00:01.0.
    bdf: Bdf,
    /// The mailbox's config-space offset (default: the function's first mailbox).
    #[arg(long, value_parser = doe_proxy::ext_cap::parse_offset)]
    mailbox: Option<u16>,
    /// How many times each operation runs.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Pause between two Status reads, in microseconds (0: spin, as a latency tool should;
    /// 4000: Linux-like, the kernel sleeps a jiffy between reads at HZ=250). The first
    /// Status read after Go comes at once.
    #[arg(long, default_value_t = 0)]
    poll_us: u64,
    /// Print `@@doe-bench mark <op>-begin` / `-end` around each operation, each followed
    /// by a pause of this many milliseconds (0: no marks, the report is the only output).
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// A label for the report (`l1`, `vmm`, `qemu`).
    #[arg(long, default_value = "")]
    label: String,
}

/// Runs `op` `n` times and returns the times (the caller has warmed up).
fn time_runs<T>(
    n: usize,
    mut op: impl FnMut() -> Result<(usize, T), String>,
) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        op()?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Runs `op` `n` times (after one warm-up run) and summarises the times.
fn measure<T>(
    n: usize,
    mut op: impl FnMut() -> Result<(usize, T), String>,
) -> Result<Stats, String> {
    let (exchanges, _) = op()?;
    let samples = time_runs(n, op)?;
    Stats::from_samples(&samples, exchanges).ok_or_else(|| "no iterations".to_owned())
}

/// One DOE operation's measurement: between its marks, its warm-up run and `n` timed runs,
/// keeping the samples and the mailbox's count of exchanges not ready at the first Status
/// read after Go (timed runs only).
fn measure_op<C: ConfigSpace, T>(
    mb: &mut Mailbox<C>,
    name: &str,
    n: usize,
    marker: Marker,
    mut op: impl FnMut(&mut Mailbox<C>) -> Result<(usize, T), String>,
) -> Result<Stats, String> {
    marker.mark(name, Edge::Begin)?;
    let (exchanges, _) = op(mb)?;
    let before = mb.tally();
    let samples = time_runs(n, || op(mb))?;
    let tally = mb.tally().since(&before);
    marker.mark(name, Edge::End)?;
    let mut stats =
        Stats::with_samples(&samples, exchanges).ok_or_else(|| "no iterations".to_owned())?;
    stats.after_go = Some(AfterGo {
        exchanges: tally.exchanges,
        not_ready_at_first_read: tally.not_ready_at_first_read,
        status_reads: tally.status_reads_after_go,
    });
    Ok(stats)
}

fn run(cli: &Cli) -> Result<Report, String> {
    let offset = match cli.mailbox {
        Some(o) => o,
        None => *sysfs_scan::examine_sysfs(cli.bdf)
            .map_err(|e| format!("{}: {e}", cli.bdf))?
            .mailboxes
            .first()
            .ok_or_else(|| format!("{} has no DOE mailbox", cli.bdf))?,
    };
    let cfg = SysfsConfig::open(&cli.bdf, Access::ReadWrite).map_err(|e| e.to_string())?;
    let config = MailboxConfig {
        poll_interval: Duration::from_micros(cli.poll_us),
        ..MailboxConfig::default()
    };
    let mut mb = Mailbox::new(cfg, offset, config).map_err(|e| e.to_string())?;
    let version = if mb.cap_version() >= 2 { 2 } else { 0 };
    let protocols = mb.discover().map_err(|e| format!("Discovery: {e}"))?;
    let n = cli.iterations;
    let marker = Marker {
        pause: Duration::from_millis(cli.pause_ms),
    };
    let [discovery_op, walk_op, cdat_op, read_op] = marks::OPERATIONS;

    let request = DiscoveryRequest { index: 0, version }.encode();
    let discovery_exchange = measure_op(&mut mb, discovery_op, n, marker, |mb| {
        mb.exchange(&request)
            .map(|r| (1, r))
            .map_err(|e| format!("Discovery exchange: {e}"))
    })?;
    let discovery_walk = measure_op(&mut mb, walk_op, n, marker, |mb| {
        mb.discover()
            .map(|p| (p.len(), p))
            .map_err(|e| format!("Discovery walk: {e}"))
    })?;
    let (cdat_exchange, cdat_read) = if protocols.contains(&ProtocolId::CXL_TABLE_ACCESS) {
        let request = TableAccessRequest::cdat(0).encode();
        let one = measure_op(&mut mb, cdat_op, n, marker, |mb| {
            mb.exchange(&request)
                .map(|r| (1, r))
                .map_err(|e| format!("CDAT exchange: {e}"))
        })?;
        let all = measure_op(&mut mb, read_op, n, marker, |mb| {
            cdat_read::read_cdat_entries(mb)
                .map(|e| (e.len(), e))
                .map_err(|e| format!("CDAT read: {e}"))
        })?;
        (Some(one), Some(all))
    } else {
        (None, None)
    };
    let register_access = register_access(mb.config_space(), offset, n * 4)?;
    Ok(Report {
        label: cli.label.clone(),
        device: cli.bdf.to_string(),
        mailbox: offset,
        poll_us: cli.poll_us,
        discovery_exchange,
        discovery_walk,
        cdat_exchange,
        cdat_read,
        register_access: Some(register_access),
    })
}

/// DOE register offsets from the capability (PCIe r6.0 §7.9.24).
const DOE_CONTROL: u16 = 0x08;
const DOE_STATUS: u16 = 0x0c;
const DOE_READ_MAILBOX: u16 = 0x14;
/// Status: Data Object Ready.
const STATUS_DATA_OBJECT_READY: u32 = 1 << 31;

/// Times `n` single accesses of each kind that leaves the mailbox as it is.
fn register_access(cfg: &impl ConfigSpace, cap: u16, n: usize) -> Result<RegisterAccess, String> {
    let read = |at: u16| {
        measure(n, || {
            cfg.read_u32(at)
                .map(|v| (0, v))
                .map_err(|e| format!("config read at {at:#x}: {e}"))
        })
    };
    let write = |at: u16| {
        measure(n, || {
            cfg.write_u32(at, 0)
                .map(|()| (0, ()))
                .map_err(|e| format!("config write at {at:#x}: {e}"))
        })
    };
    let status = cfg
        .read_u32(cap + DOE_STATUS)
        .map_err(|e| format!("Status: {e}"))?;
    if status & STATUS_DATA_OBJECT_READY != 0 {
        return Err(format!(
            "Status {status:#010x}: a response is pending, popping it would change the mailbox"
        ));
    }
    Ok(RegisterAccess {
        vendor_read: read(0)?,
        status_read: read(cap + DOE_STATUS)?,
        control_write: write(cap + DOE_CONTROL)?,
        read_mailbox_write: write(cap + DOE_READ_MAILBOX)?,
    })
}

fn main() -> ExitCode {
    guest_tests::tool::finish_compact("doe-bench", run(&Cli::parse()))
}
