//! The report of `intx-test` (a guest-side tool that raises the legacy INTx interrupt of
//! QEMU's `edu` device through `uio_pci_generic`), shared by the tool and the host-side
//! check of scenario `guest-intx`.

use serde::{Deserialize, Serialize};

use crate::edu::{latency_range_us, Raised};

/// One raised, received and acknowledged interrupt (latency: from the raise write to
/// `poll` reporting it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interrupt {
    /// The edu side of it.
    #[serde(flatten)]
    pub raised: Raised,
    /// The interrupt count `/dev/uioN` returned (every interrupt of the device since
    /// `uio_pci_generic` bound it).
    pub uio_count: u32,
}

/// What `intx-test` prints (one JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The function, e.g. `0000:00:01.0`.
    pub device: String,
    /// Its uio device, e.g. `uio0`.
    pub uio: String,
    /// The identification register (`0x00`; `0x010000ed` for edu 1.0).
    pub ident: u32,
    /// The interrupt status register before the first interrupt (non-zero: a stale
    /// interrupt, acknowledged before the test).
    pub initial_status: u32,
    /// How long each interrupt was waited for.
    pub timeout_ms: u64,
    /// Every interrupt, in order.
    pub interrupts: Vec<Interrupt>,
}

impl Report {
    /// The uio counts of the interrupts, in order.
    pub fn uio_counts(&self) -> Vec<u32> {
        self.interrupts.iter().map(|i| i.uio_count).collect()
    }

    /// The smallest and largest latency in microseconds (`None` without interrupts).
    pub fn latency_range_us(&self) -> Option<(f64, f64)> {
        latency_range_us(self.interrupts.iter().map(|i| &i.raised))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interrupt(uio_count: u32, latency_us: f64) -> Interrupt {
        Interrupt {
            raised: Raised {
                bit: 1,
                latency_us,
                status: 1,
                status_after_ack: 0,
            },
            uio_count,
        }
    }

    #[test]
    fn counts_and_latency_range_are_read() {
        let mut report = Report {
            device: "0000:00:01.0".into(),
            uio: "uio0".into(),
            ident: 0x0100_00ed,
            initial_status: 0,
            timeout_ms: 1000,
            interrupts: vec![interrupt(1, 80.0), interrupt(2, 40.5), interrupt(3, 95.0)],
        };
        assert_eq!(report.uio_counts(), [1, 2, 3]);
        assert_eq!(report.latency_range_us(), Some((40.5, 95.0)));
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        report.interrupts.clear();
        assert_eq!(report.latency_range_us(), None);
    }
}
