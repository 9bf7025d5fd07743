//! Measuring a VMM from the outside (runs in L1, around our `vmm` or QEMU): time from start
//! to a console marker (L2's init), and resident memory beyond guest RAM, sampled from
//! `/proc/<pid>/smaps` while the VMM runs (unless `--no-sample`: a benchmark of the guest's
//! own work then runs without 20 ms smaps reads competing with it).

pub mod smaps;
pub mod threads;

use serde::{Deserialize, Serialize};

/// What one measured VMM run gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Which VMM (a label chosen by the caller: `vmm`, `qemu`).
    pub label: String,
    /// Milliseconds from spawning the VMM to the marker line, if it appeared.
    pub boot_to_marker_ms: Option<f64>,
    /// Milliseconds from spawning the VMM to its exit.
    pub total_ms: f64,
    /// Peak of (resident memory − resident guest RAM), in KiB; `None` (null) when memory
    /// was not sampled (`vmm-probe --no-sample`).
    pub peak_rss_beyond_guest_kib: Option<u64>,
    /// Peak resident memory as the kernel reports it (`VmHWM`), in KiB; likewise.
    pub vmhwm_kib: Option<u64>,
    /// How many times memory was sampled (0 with `--no-sample`).
    pub samples: u32,
    /// The VMM's exit code (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether vmm-probe killed the VMM at its `--timeout-s`.
    #[serde(default)]
    pub timed_out: bool,
}

/// The prefix of the line that carries a report on the console.
pub const REPORT_PREFIX: &str = "@@probe ";
