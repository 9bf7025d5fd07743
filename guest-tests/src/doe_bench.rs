//! The report of `doe-bench` (a guest-side DOE latency tool) and its statistics, shared by
//! the tool and the host-side check that compares L1, our `vmm` and QEMU.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
        })
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
    /// The driver's pause between two Status reads, in microseconds (0: spin).
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
    }

    #[test]
    fn one_sample_is_every_statistic() {
        let s = Stats::from_samples(&us(&[42]), 1).unwrap();
        assert_eq!((s.min_us, s.median_us, s.p90_us), (42.0, 42.0, 42.0));
        assert!(Stats::from_samples(&[], 1).is_none());
    }

    #[test]
    fn report_round_trips_through_json() {
        let stats = Stats::from_samples(&us(&[5, 6]), 1).unwrap();
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
