//! What the guest costs: vCPU exits by kind and the DOE completion waits, counted on the
//! vCPU threads (relaxed atomics: one add per exit) and reported by the control socket's
//! `stats` command as one JSON line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use devices::doe::WaitOutcome;
use serde::Serialize;

/// The kinds of guest exits vmm handles in user space, and the writes KVM queued
/// instead of exiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// An MMIO read exit (ECAM config reads, trapped BAR reads).
    MmioRead,
    /// An MMIO write exit.
    MmioWrite,
    /// A write KVM queued in its coalesced MMIO ring (no exit of its own), dispatched
    /// when a vCPU drained the ring.
    CoalescedWrite,
    /// A port read exit.
    PioRead,
    /// A port write exit.
    PioWrite,
}

/// Exit counters.
#[derive(Debug, Default)]
struct ExitCounters {
    mmio_read: AtomicU64,
    mmio_write: AtomicU64,
    coalesced_write: AtomicU64,
    pio_read: AtomicU64,
    pio_write: AtomicU64,
}

/// Completion-wait counters.
#[derive(Debug, Default)]
struct WaitCounters {
    waits: AtomicU64,
    completed: AtomicU64,
    timed_out: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// The counters of one VM, shared by its vCPUs and the control socket.
#[derive(Debug, Default)]
pub struct VmStats {
    exits: ExitCounters,
    waits: WaitCounters,
    wait_bound: Duration,
}

/// Exits by kind since the VM started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExitSnapshot {
    /// MMIO read exits.
    pub mmio_read: u64,
    /// MMIO write exits.
    pub mmio_write: u64,
    /// Writes queued in the coalesced MMIO ring instead of exiting.
    pub coalesced_write: u64,
    /// Port read exits.
    pub pio_read: u64,
    /// Port write exits.
    pub pio_write: u64,
}

/// The DOE completion waits since the VM started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WaitSnapshot {
    /// `--doe-completion-wait`, µs (0: waits are off).
    pub bound_us: u64,
    /// Waits run (after a Go or a Status read).
    pub waits: u64,
    /// Waits that ended because the exchange finished (or was aborted) within the bound.
    pub completed: u64,
    /// Waits that reached the bound.
    pub timed_out: u64,
    /// Time spent waiting, µs.
    pub total_us: u64,
    /// The longest wait, µs.
    pub max_us: u64,
}

/// Everything `stats` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Exits by kind.
    pub exits: ExitSnapshot,
    /// DOE completion waits.
    pub doe_completion_wait: WaitSnapshot,
}

impl VmStats {
    /// Counters at zero, for a VM whose vCPUs wait at most `wait_bound`.
    pub fn new(wait_bound: Duration) -> Self {
        VmStats {
            wait_bound,
            ..VmStats::default()
        }
    }

    /// Counts `n` exits of `kind`.
    pub fn count(&self, kind: ExitKind, n: u64) {
        let e = &self.exits;
        let counter = match kind {
            ExitKind::MmioRead => &e.mmio_read,
            ExitKind::MmioWrite => &e.mmio_write,
            ExitKind::CoalescedWrite => &e.coalesced_write,
            ExitKind::PioRead => &e.pio_read,
            ExitKind::PioWrite => &e.pio_write,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records a completion wait.
    pub fn record_wait(&self, outcome: &WaitOutcome) {
        let w = &self.waits;
        let ns = u64::try_from(outcome.waited.as_nanos()).unwrap_or(u64::MAX);
        w.waits.fetch_add(1, Ordering::Relaxed);
        if outcome.completed {
            w.completed.fetch_add(1, Ordering::Relaxed);
        } else {
            w.timed_out.fetch_add(1, Ordering::Relaxed);
        }
        w.total_ns.fetch_add(ns, Ordering::Relaxed);
        w.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (e, w) = (&self.exits, &self.waits);
        StatsSnapshot {
            exits: ExitSnapshot {
                mmio_read: get(&e.mmio_read),
                mmio_write: get(&e.mmio_write),
                coalesced_write: get(&e.coalesced_write),
                pio_read: get(&e.pio_read),
                pio_write: get(&e.pio_write),
            },
            doe_completion_wait: WaitSnapshot {
                bound_us: u64::try_from(self.wait_bound.as_micros()).unwrap_or(u64::MAX),
                waits: get(&w.waits),
                completed: get(&w.completed),
                timed_out: get(&w.timed_out),
                total_us: get(&w.total_ns) / 1000,
                max_us: get(&w.max_ns) / 1000,
            },
        }
    }

    /// The snapshot as one JSON line (no newline).
    pub fn to_json(&self) -> String {
        // Plain integers in plain structs: serialising cannot fail.
        serde_json::to_string(&self.snapshot()).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use devices::doe::WaitCause;

    use super::*;

    #[test]
    fn counts_and_waits_add_up_in_the_json() {
        let stats = VmStats::new(Duration::from_micros(1000));
        stats.count(ExitKind::MmioRead, 3);
        stats.count(ExitKind::CoalescedWrite, 5);
        stats.count(ExitKind::PioWrite, 1);
        for (completed, us) in [(true, 200), (true, 500), (false, 1000)] {
            stats.record_wait(&WaitOutcome {
                cause: WaitCause::Go,
                completed,
                waited: Duration::from_micros(us),
            });
        }
        let json: serde_json::Value = serde_json::from_str(&stats.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "exits": {"mmio_read": 3, "mmio_write": 0, "coalesced_write": 5,
                          "pio_read": 0, "pio_write": 1},
                "doe_completion_wait": {"bound_us": 1000, "waits": 3, "completed": 2,
                                        "timed_out": 1, "total_us": 1700, "max_us": 1000}
            })
        );
    }
}
