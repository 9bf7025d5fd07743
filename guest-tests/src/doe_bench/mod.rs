//! The report of `doe-bench` (a guest-side DOE latency tool) and its statistics, shared by
//! the tool and the host-side check that compares L1, our `vmm` and QEMU; the console
//! marks it prints around each operation are in [`marks`].

pub mod marks;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Microseconds, rounded to 0.1 µs (what the report keeps of a raw sample).
fn micros(d: &Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

/// The median of `us` as [`Stats`] takes it: the upper one of an even count. `None` when
/// empty. Used to pool the samples of several runs.
pub fn median(us: &[f64]) -> Option<f64> {
    let mut sorted = us.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// How the exchanges of an operation's timed runs went after Go (counted by the mailbox
/// driver, warm-up excluded): a requester that sleeps between Status reads, as Linux's
/// does, sleeps once for every exchange not ready at the first read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterGo {
    /// Exchanges counted (iterations × exchanges per operation).
    pub exchanges: u64,
    /// Of them, those whose first Status read after Go did not show Data Object Ready.
    pub not_ready_at_first_read: u64,
    /// Status reads after Go, summed over the exchanges.
    pub status_reads: u64,
}

/// Latency of one kind of operation over its iterations, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// How many times the operation ran.
    pub iterations: usize,
    /// DOE exchanges per operation (a Discovery walk or a CDAT read takes several).
    pub exchanges: usize,
    /// The fastest run.
    pub min_us: f64,
    /// The median run (the upper one of an even count).
    pub median_us: f64,
    /// The 90th percentile (nearest rank).
    pub p90_us: f64,
    /// The mean.
    pub mean_us: f64,
    /// Every timed run in µs (0.1 µs resolution), in the order run, so several runs can
    /// be pooled; empty (and absent from the JSON) where not kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_us: Vec<f64>,
    /// For DOE operations: how their exchanges went after Go (absent in older reports and
    /// for single config accesses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_go: Option<AfterGo>,
}

impl Stats {
    /// Summarises `samples` (any order; at least one).
    pub fn from_samples(samples: &[Duration], exchanges: usize) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let n = us.len();
        // Nearest rank: the smallest value with at least 90 % of the samples at or below it.
        let p90_rank = (n * 9).div_ceil(10).max(1);
        Some(Stats {
            iterations: n,
            exchanges,
            min_us: us[0],
            median_us: us[n / 2],
            p90_us: us[p90_rank - 1],
            mean_us: us.iter().sum::<f64>() / n as f64,
            samples_us: Vec::new(),
            after_go: None,
        })
    }

    /// The same, keeping the raw samples in the report.
    pub fn with_samples(samples: &[Duration], exchanges: usize) -> Option<Stats> {
        let mut stats = Stats::from_samples(samples, exchanges)?;
        stats.samples_us = samples.iter().map(micros).collect();
        Some(stats)
    }

    /// The exchanges not ready at the first Status read after Go, if counted.
    pub fn not_ready(&self) -> Option<u64> {
        self.after_go.map(|a| a.not_ready_at_first_read)
    }
}

/// What `doe-bench` prints (one JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// A label for the run (`l1`, `vmm`, `qemu`).
    pub label: String,
    /// The function, e.g. `0000:00:01.0`.
    pub device: String,
    /// The mailbox's config-space offset.
    pub mailbox: u16,
    /// The driver's pause between two Status reads, in microseconds (0: spin; 4000:
    /// Linux-like, a jiffy at HZ=250).
    pub poll_us: u64,
    /// One Discovery exchange (index 0).
    pub discovery_exchange: Stats,
    /// A whole Discovery walk (index 0 until the device says the list is over).
    pub discovery_walk: Stats,
    /// One CXL Table Access exchange (CDAT entry 0, the header); absent when the mailbox
    /// does not offer CDAT.
    pub cdat_exchange: Option<Stats>,
    /// A whole CDAT read (every entry), likewise.
    pub cdat_read: Option<Stats>,
    /// Single config accesses, each one guest exit under a VMM: what an exchange is made of.
    #[serde(default)]
    pub register_access: Option<RegisterAccess>,
}

/// The cost of single config-space accesses through sysfs `config` (one per iteration,
/// none of which changes the mailbox's state): under a VMM each is one guest exit, so
/// these show the exit budget of an exchange (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterAccess {
    /// Reading the Vendor/Device ID dword (offset 0).
    pub vendor_read: Stats,
    /// Reading the mailbox's Status register.
    pub status_read: Stats,
    /// Writing 0 to the mailbox's Control register (neither Abort nor GO).
    pub control_write: Stats,
    /// Writing 0 to the Read Data Mailbox while no response is ready (a pop of nothing,
    /// which changes nothing; the write Linux makes after reading each response dword).
    pub read_mailbox_write: Stats,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&u| Duration::from_micros(u)).collect()
    }

    #[test]
    fn statistics_of_ten_samples() {
        let s = Stats::from_samples(&us(&[10, 1, 9, 2, 8, 3, 7, 4, 6, 5]), 2).unwrap();
        assert_eq!(s.iterations, 10);
        assert_eq!(s.exchanges, 2);
        assert_eq!(s.min_us, 1.0);
        assert_eq!(s.median_us, 6.0);
        assert_eq!(s.p90_us, 9.0);
        assert!((s.mean_us - 5.5).abs() < 1e-9);
        assert!(s.samples_us.is_empty() && s.after_go.is_none());
    }

    #[test]
    fn samples_are_kept_in_order_and_pool_to_the_same_median() {
        let s = Stats::with_samples(&[Duration::from_nanos(12_345), Duration::from_micros(3)], 1)
            .unwrap();
        assert_eq!(s.samples_us, vec![12.3, 3.0]);
        assert_eq!(median(&s.samples_us), Some(12.3));
        assert_eq!(median(&[3.0, 1.0, 2.0, 4.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn an_older_report_without_samples_or_counts_still_parses() {
        let old = r#"{"iterations":2,"exchanges":1,"min_us":5.0,"median_us":6.0,"p90_us":6.0,"mean_us":5.5}"#;
        let s: Stats = serde_json::from_str(old).unwrap();
        assert!(s.samples_us.is_empty());
        assert_eq!(s.not_ready(), None);
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            !text.contains("samples_us") && !text.contains("after_go"),
            "{text}"
        );
    }

    #[test]
    fn one_sample_is_every_statistic() {
        let s = Stats::from_samples(&us(&[42]), 1).unwrap();
        assert_eq!((s.min_us, s.median_us, s.p90_us), (42.0, 42.0, 42.0));
        assert!(Stats::from_samples(&[], 1).is_none());
    }

    #[test]
    fn report_round_trips_through_json() {
        let mut stats = Stats::with_samples(&us(&[5, 6]), 1).unwrap();
        stats.after_go = Some(AfterGo {
            exchanges: 2,
            not_ready_at_first_read: 1,
            status_reads: 3,
        });
        let r = Report {
            label: "vmm".into(),
            device: "0000:00:01.0".into(),
            mailbox: 0x190,
            poll_us: 0,
            discovery_exchange: stats.clone(),
            discovery_walk: stats,
            cdat_exchange: None,
            cdat_read: None,
            register_access: None,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), r);
    }
}
