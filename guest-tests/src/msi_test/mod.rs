//! `msi-test`, a guest-side tool that has QEMU's `edu` device signal its interrupt by MSI
//! and checks that each message reaches the guest's CPU: its report, shared by the tool
//! and the host-side check of scenario `guest-msi`, and the pieces the tool is built from.
//!
//! No driver of the Debian kernels the bench runs can own edu's MSI from user space (their
//! `vfio` lacks the no-IOMMU mode: `CONFIG_VFIO_NOIOMMU` is not set, and `uio_pci_generic`
//! only does INTx), so the tool programs the function's MSI capability itself, through
//! sysfs `config`, as a driver would: the message goes to the local APIC of CPU 0 on a
//! vector Linux does not use (default [`DEFAULT_VECTOR`]). Linux's IDT sends such a vector
//! to its spurious-interrupt handler, which counts it in `/proc/interrupts` (`SPU`) and
//! logs `Spurious interrupt (vector 0xf5) on CPU#0. Acked` — "Acked" meaning the vector
//! was in service in the local APIC, i.e. a real interrupt was delivered on it. The tool
//! waits for that record on `/dev/kmsg`.

pub mod capability;
pub mod kmsg;
pub mod message;

use serde::{Deserialize, Serialize};

use crate::edu::{latency_range_us, Raised};

/// The vector the tool asks for by default: `0xf5`, a system vector that x86-64 Linux
/// 6.x leaves unused ("was UV_BAU_MESSAGE"), so only the spurious handler takes it.
pub const DEFAULT_VECTOR: u8 = 0xf5;

/// One raised interrupt, its MSI seen by the guest kernel, acknowledged (latency: from the
/// raise write to the kernel's record of it being readable on `/dev/kmsg`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interrupt {
    /// The edu side of it.
    #[serde(flatten)]
    pub raised: Raised,
    /// The kernel's record of it (`Spurious interrupt (vector 0xf5) on CPU#0. Acked`).
    pub kernel_record: String,
    /// The `SPU` count of `/proc/interrupts` (every CPU) after it.
    pub spurious_count: u64,
}

/// What `msi-test` prints (one JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The function, e.g. `0000:00:01.0`.
    pub device: String,
    /// The identification register (`0x00`; `0x010000ed` for edu 1.0).
    pub ident: u32,
    /// Where the MSI capability is in config space.
    pub msi_capability: u16,
    /// Message Control read back after enabling MSI.
    pub msi_control: u16,
    /// Whether MSI Enable read back as 1.
    pub msi_enabled: bool,
    /// Message Address read back (both halves for a 64-bit capability).
    pub msi_address: u64,
    /// Message Data read back.
    pub msi_data: u16,
    /// The vector the messages carry.
    pub vector: u8,
    /// The local APIC the messages are addressed to (CPU 0's).
    pub apic_id: u32,
    /// The Command register read back after enabling memory space and bus mastering.
    pub command: u16,
    /// The interrupt status register before the first interrupt (non-zero: a stale
    /// interrupt, acknowledged before the test).
    pub initial_status: u32,
    /// How long each interrupt was waited for.
    pub timeout_ms: u64,
    /// The `SPU` count of `/proc/interrupts` before the first interrupt.
    pub spurious_before: u64,
    /// Every interrupt, in order.
    pub interrupts: Vec<Interrupt>,
}

impl Report {
    /// The `SPU` counts after each interrupt, in order.
    pub fn spurious_counts(&self) -> Vec<u64> {
        self.interrupts.iter().map(|i| i.spurious_count).collect()
    }

    /// The smallest and largest latency in microseconds (`None` without interrupts).
    pub fn latency_range_us(&self) -> Option<(f64, f64)> {
        latency_range_us(self.interrupts.iter().map(|i| &i.raised))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interrupt(spurious_count: u64, latency_us: f64) -> Interrupt {
        Interrupt {
            raised: Raised {
                bit: 1,
                latency_us,
                status: 1,
                status_after_ack: 0,
            },
            kernel_record: "Spurious interrupt (vector 0xf5) on CPU#0. Acked".into(),
            spurious_count,
        }
    }

    #[test]
    fn counts_and_latency_range_are_read() {
        let mut report = Report {
            device: "0000:00:01.0".into(),
            ident: 0x0100_00ed,
            msi_capability: 0x40,
            msi_control: 0x0081,
            msi_enabled: true,
            msi_address: 0xfee0_0000,
            msi_data: 0xf5,
            vector: 0xf5,
            apic_id: 0,
            command: 0x0506,
            initial_status: 0,
            timeout_ms: 1000,
            spurious_before: 0,
            interrupts: vec![interrupt(1, 80.0), interrupt(2, 40.5), interrupt(3, 95.0)],
        };
        assert_eq!(report.spurious_counts(), [1, 2, 3]);
        assert_eq!(report.latency_range_us(), Some((40.5, 95.0)));
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        report.interrupts.clear();
        assert_eq!(report.latency_range_us(), None);
    }
}
