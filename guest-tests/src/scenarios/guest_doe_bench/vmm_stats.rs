//! vmm's exit counters as L1 snapshots them around each doe-bench operation: lines
//! `@@vmm-stats <mark> <json>` where the JSON is what `doectl stats --vmm <socket>` prints,
//! read leniently (counters it does not name are 0, fields it adds are ignored).

use serde::Deserialize;

/// What each snapshot line starts with.
pub const PREFIX: &str = "@@vmm-stats ";

/// KVM exits vmm handled in user space, by kind, and the guest writes it took from the
/// coalesced-MMIO ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Exits {
    /// MMIO reads (ECAM: extended config space, where the DOE registers are).
    pub mmio_read: u64,
    /// MMIO writes.
    pub mmio_write: u64,
    /// Writes drained from the coalesced-MMIO ring (no exit of their own).
    pub coalesced_write: u64,
    /// Port reads (0xCFC config accesses below 0x100, the serial console).
    pub pio_read: u64,
    /// Port writes.
    pub pio_write: u64,
}

impl Exits {
    /// The accesses a DOE exchange makes through ECAM: MMIO reads, writes and coalesced
    /// writes.
    pub fn doe_path(&self) -> u64 {
        self.mmio_read + self.mmio_write + self.coalesced_write
    }

    /// The MMIO accesses that exited to vmm (coalesced writes did not).
    pub fn mmio_exits(&self) -> u64 {
        self.mmio_read + self.mmio_write
    }

    /// What was added since `earlier`.
    pub fn since(&self, earlier: &Exits) -> Exits {
        Exits {
            mmio_read: self.mmio_read.saturating_sub(earlier.mmio_read),
            mmio_write: self.mmio_write.saturating_sub(earlier.mmio_write),
            coalesced_write: self.coalesced_write.saturating_sub(earlier.coalesced_write),
            pio_read: self.pio_read.saturating_sub(earlier.pio_read),
            pio_write: self.pio_write.saturating_sub(earlier.pio_write),
        }
    }

    /// The sum of two counts.
    pub fn plus(&self, other: &Exits) -> Exits {
        Exits {
            mmio_read: self.mmio_read + other.mmio_read,
            mmio_write: self.mmio_write + other.mmio_write,
            coalesced_write: self.coalesced_write + other.coalesced_write,
            pio_read: self.pio_read + other.pio_read,
            pio_write: self.pio_write + other.pio_write,
        }
    }
}

/// vmm's bounded wait for a DOE completion on the vCPU (`--doe-completion-wait`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CompletionWait {
    /// The bound in force, in µs (0: off).
    pub bound_us: u64,
    /// Waits started.
    pub waits: u64,
    /// Waits that saw the completion within the bound.
    pub completed: u64,
    /// Waits that reached the bound.
    pub timed_out: u64,
    /// Time spent waiting, in µs.
    pub total_us: u64,
    /// The longest wait, in µs.
    pub max_us: u64,
}

impl CompletionWait {
    /// The counts added since `earlier` (the bound and the maximum are this snapshot's).
    pub fn since(&self, earlier: &CompletionWait) -> CompletionWait {
        CompletionWait {
            waits: self.waits.saturating_sub(earlier.waits),
            completed: self.completed.saturating_sub(earlier.completed),
            timed_out: self.timed_out.saturating_sub(earlier.timed_out),
            total_us: self.total_us.saturating_sub(earlier.total_us),
            ..*self
        }
    }

    /// The sum of two windows' counts (the larger bound and maximum).
    pub fn plus(&self, other: &CompletionWait) -> CompletionWait {
        CompletionWait {
            bound_us: self.bound_us.max(other.bound_us),
            waits: self.waits + other.waits,
            completed: self.completed + other.completed,
            timed_out: self.timed_out + other.timed_out,
            total_us: self.total_us + other.total_us,
            max_us: self.max_us.max(other.max_us),
        }
    }
}

/// One `doectl stats` snapshot. `exits` must be there; everything else may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct VmmStats {
    /// The exit counters.
    pub exits: Exits,
    /// The completion wait's counters, if vmm reports them.
    #[serde(default)]
    pub doe_completion_wait: Option<CompletionWait>,
}

/// Every snapshot in `lines`, in order, as (mark, stats); an `ERROR` line or malformed JSON
/// is an error naming the mark.
pub fn snapshots(lines: &[String]) -> Result<Vec<(String, VmmStats)>, String> {
    lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix(PREFIX))
        .map(|rest| {
            let (mark, json) = rest.split_once(' ').unwrap_or((rest, ""));
            let stats = serde_json::from_str(json).map_err(|e| {
                format!("vmm stats at mark `{mark}`: not doectl stats JSON ({e}): {json}")
            })?;
            Ok((mark.to_owned(), stats))
        })
        .collect()
}

/// What vmm counted in one operation's window (between its `-begin` and `-end` marks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// DOE exchanges the guest made in the window (warm-up included).
    pub exchanges: u64,
    /// The exits in the window.
    pub exits: Exits,
    /// The completion waits in the window, if reported.
    pub waits: Option<CompletionWait>,
}

impl Window {
    /// The window of operation `op` in `snapshots`, which made `exchanges` exchanges.
    pub fn of(
        snapshots: &[(String, VmmStats)],
        op: &str,
        exchanges: u64,
    ) -> Result<Window, String> {
        let at = |edge: &str| {
            let mark = format!("{op}-{edge}");
            snapshots
                .iter()
                .find(|(m, _)| *m == mark)
                .map(|(_, s)| s)
                .ok_or_else(|| format!("no vmm stats at mark `{mark}`"))
        };
        let (begin, end) = (at("begin")?, at("end")?);
        let waits = match (begin.doe_completion_wait, end.doe_completion_wait) {
            (Some(b), Some(e)) => Some(e.since(&b)),
            _ => None,
        };
        Ok(Window {
            exchanges,
            exits: end.exits.since(&begin.exits),
            waits,
        })
    }

    /// Two windows as one (to pool rounds).
    pub fn plus(&self, other: &Window) -> Window {
        let waits = match (self.waits, other.waits) {
            (Some(a), Some(b)) => Some(a.plus(&b)),
            (a, b) => a.or(b),
        };
        Window {
            exchanges: self.exchanges + other.exchanges,
            exits: self.exits.plus(&other.exits),
            waits,
        }
    }

    /// `count` per exchange of the window.
    pub fn per_exchange(&self, count: u64) -> f64 {
        count as f64 / self.exchanges.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    const BEGIN: &str = r#"@@vmm-stats cdat-exchange-begin {"exits":{"mmio_read":100,"mmio_write":10,"coalesced_write":50,"pio_read":7,"pio_write":900},"doe_completion_wait":{"bound_us":1000,"waits":5,"completed":5,"timed_out":0,"total_us":300,"max_us":90},"new_field":1}"#;
    const END: &str = r#"@@vmm-stats cdat-exchange-end {"exits":{"mmio_read":610,"mmio_write":61,"coalesced_write":356,"pio_read":7,"pio_write":950},"doe_completion_wait":{"bound_us":1000,"waits":56,"completed":55,"timed_out":1,"total_us":5400,"max_us":1000}}"#;

    #[test]
    fn a_window_is_the_difference_of_its_marks() {
        let s = snapshots(&lines(&format!(
            "x\n{BEGIN}\r\n@@doe-bench mark y\n{END}\n"
        )))
        .unwrap();
        assert_eq!(s.len(), 2);
        let w = Window::of(&s, "cdat-exchange", 51).unwrap();
        assert_eq!(
            w.exits,
            Exits {
                mmio_read: 510,
                mmio_write: 51,
                coalesced_write: 306,
                pio_read: 0,
                pio_write: 50
            }
        );
        assert_eq!(w.exits.doe_path(), 867);
        assert!((w.per_exchange(w.exits.doe_path()) - 17.0).abs() < 1e-9);
        let waits = w.waits.unwrap();
        assert_eq!((waits.waits, waits.completed, waits.timed_out), (51, 50, 1));
        assert_eq!((waits.bound_us, waits.total_us), (1000, 5100));
        let pooled = w.plus(&w);
        assert_eq!(pooled.exchanges, 102);
        assert_eq!(pooled.exits.doe_path(), 2 * 867);
        assert_eq!(pooled.waits.unwrap().waits, 102);
        assert!(Window::of(&s, "cdat-read", 1).is_err());
    }

    #[test]
    fn stats_are_read_leniently_but_must_be_there() {
        let s = snapshots(&lines(r#"@@vmm-stats a-begin {"exits":{"mmio_read":3}}"#)).unwrap();
        assert_eq!(s[0].1.exits.mmio_read, 3);
        assert_eq!(s[0].1.exits.coalesced_write, 0);
        assert_eq!(s[0].1.doe_completion_wait, None);
        let err = snapshots(&lines("@@vmm-stats a-end ERROR doectl: no such command")).unwrap_err();
        assert!(err.contains("a-end"), "{err}");
        assert!(snapshots(&lines(r#"@@vmm-stats a-end {"other":1}"#)).is_err());
    }
}
