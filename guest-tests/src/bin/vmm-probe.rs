//! `vmm-probe`: runs a VMM (ours or QEMU) in L1, passes its console through, and reports
//! the time to a console marker and the VMM's resident memory beyond guest RAM.
//!
//! `vmm-probe --label vmm --guest-memory-mib 512 -- vmm --kernel ...`
//! prints `@@probe {json}` after the VMM exits and exits with the VMM's exit code — or 124
//! when it killed the VMM at `--timeout-s`, or 125 when the VMM exited 0 without ever
//! printing the marker (the guest did not boot: there is no figure to report).
//! `--no-sample` runs no memory sampler (the memory figures are null), so a benchmark of
//! what the guest does is not perturbed by smaps reads every 20 ms.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use guest_tests::probe::{smaps, ProbeReport, REPORT_PREFIX};

/// vmm-probe's exit code when it killed the VMM at `--timeout-s` (as timeout(1)).
const EXIT_TIMED_OUT: u8 = 124;
/// vmm-probe's exit code when the VMM exited 0 but the marker never appeared.
const EXIT_NO_MARKER: u8 = 125;
/// How often memory is sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Parser)]
#[command(
    name = "vmm-probe",
    about = "Measure a VMM: boot time to a marker, memory beyond guest RAM"
)]
struct Cli {
    /// A label for the report (`vmm`, `qemu`).
    #[arg(long)]
    label: String,
    /// The guest's memory size in MiB (mappings at least half that size count as guest RAM).
    #[arg(long)]
    guest_memory_mib: u64,
    /// Kill the VMM after this many seconds (0: never); a killed run reports
    /// `"timed_out": true` and vmm-probe exits 124.
    #[arg(long, default_value_t = 0)]
    timeout_s: u64,
    /// Do not sample the VMM's memory (no sampling thread; the memory figures are null).
    #[arg(long)]
    no_sample: bool,
    /// The console line that ends the boot measurement.
    #[arg(long, default_value = "@@l2 init")]
    marker: String,
    /// The VMM and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let start = Instant::now();
    let mut child = match Command::new(&cli.command[0])
        .args(&cli.command[1..])
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("vmm-probe: cannot start {}: {e}", cli.command[0]);
            return ExitCode::from(127);
        }
    };
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new((0u64, 0u64, 0u32)));
    let sampler = (!cli.no_sample).then(|| {
        let (done, peak) = (done.clone(), peak.clone());
        // Guest RAM may be split around the PCI hole; the low piece is at least half.
        let guest_min_kib = cli.guest_memory_mib * 1024 / 2;
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let smaps =
                    std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let beyond = smaps::parse(&smaps, guest_min_kib).beyond_guest_kib();
                let mut p = peak.lock().expect("the sampler alone holds the lock");
                p.0 = p.0.max(beyond);
                p.1 = p.1.max(smaps::vmhwm_kib(&status).unwrap_or(0));
                p.2 += 1;
                drop(p);
                thread::sleep(SAMPLE_INTERVAL);
            }
        })
    });
    let timed_out = Arc::new(AtomicBool::new(false));
    if cli.timeout_s > 0 {
        let (done, timed_out) = (done.clone(), timed_out.clone());
        let deadline = start + Duration::from_secs(cli.timeout_s);
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::Relaxed);
                    // What each of its threads was doing, for the post-mortem of a hang.
                    eprint!("{}", guest_tests::probe::threads::describe(pid));
                    // The VMM is our child: kill(2) through the `kill` program keeps this
                    // tool free of unsafe code.
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                    return;
                }
                thread::sleep(SAMPLE_INTERVAL);
            }
        });
    }
    let mut marker_at = None;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if marker_at.is_none() && line.contains(&cli.marker) {
            marker_at = Some(start.elapsed());
        }
        let _ = writeln!(out, "{line}");
    }
    let status = child.wait();
    let total = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let sampled = sampler.map(|sampler| sampler.join()).is_some();
    let (peak_beyond, vmhwm, samples) = *peak.lock().expect("the sampler has stopped");
    let exit_code = status.as_ref().ok().and_then(|s| s.code());
    let report = ProbeReport {
        label: cli.label,
        boot_to_marker_ms: marker_at.map(|d| d.as_secs_f64() * 1000.0),
        total_ms: total.as_secs_f64() * 1000.0,
        peak_rss_beyond_guest_kib: sampled.then_some(peak_beyond),
        vmhwm_kib: sampled.then_some(vmhwm),
        samples,
        exit_code,
        timed_out: timed_out.load(Ordering::Relaxed),
    };
    println!(
        "{REPORT_PREFIX}{}",
        serde_json::to_string(&report).expect("the report serialises")
    );
    if report.timed_out {
        eprintln!(
            "vmm-probe: {} killed after {} s",
            cli.command[0], cli.timeout_s
        );
        return ExitCode::from(EXIT_TIMED_OUT);
    }
    if report.boot_to_marker_ms.is_none() && exit_code == Some(0) {
        eprintln!(
            "vmm-probe: {} exited 0 without printing `{}`",
            cli.command[0], cli.marker
        );
        return ExitCode::from(EXIT_NO_MARKER);
    }
    ExitCode::from(exit_code.unwrap_or(128).clamp(0, 255) as u8)
}
