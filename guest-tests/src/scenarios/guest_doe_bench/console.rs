//! What guest-doe-bench's console holds, taken apart: the `doe-bench` reports of L1 and of
//! every L2 round under vmm and QEMU, per mode, with vmm's exit-counter snapshots. Anything
//! missing or malformed is an error: the benchmark never passes by skipping.

use super::vmm_stats::{self, VmmStats};
use crate::doe_bench::marks::{self, OPERATIONS};
use crate::doe_bench::{Report, Stats};
use crate::scenarios::common::{section_in, section_rc};

/// Rounds of each VMM in one L1 boot (`ROUNDS` in the L1 script).
pub const ROUNDS: usize = 3;
/// What L1 prints of `VMM_ARGS`.
pub const VMM_ARGS_PREFIX: &str = "@@vmm-args";

/// How doe-bench waits for Data Object Ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--poll-us 0`: Status read in a loop.
    Spinning,
    /// `--poll-us 4000`: a jiffy (HZ=250) between Status reads, as Linux's driver.
    LinuxLike,
}

impl Mode {
    /// Both, in the order they run.
    pub const ALL: [Mode; 2] = [Mode::Spinning, Mode::LinuxLike];

    /// How the tables name it.
    pub fn title(self) -> &'static str {
        match self {
            Mode::Spinning => "spinning",
            Mode::LinuxLike => "Linux-like",
        }
    }

    /// doe-bench's `--poll-us` in this mode.
    pub fn poll_us(self) -> u64 {
        match self {
            Mode::Spinning => 0,
            Mode::LinuxLike => 4000,
        }
    }

    fn l1_section(self) -> &'static str {
        match self {
            Mode::Spinning => "l1-bench",
            Mode::LinuxLike => "l1-bench-linux",
        }
    }

    fn l2_section(self) -> &'static str {
        match self {
            Mode::Spinning => "l2-bench-spin",
            Mode::LinuxLike => "l2-bench-linux",
        }
    }
}

/// One doe-bench operation: its mark name, its title, its statistics in a report.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// The name in doe-bench's marks (`cdat-exchange`).
    pub mark: &'static str,
    /// How the tables name it.
    pub title: &'static str,
    /// Its statistics in a report.
    pub pick: fn(&Report) -> Option<&Stats>,
}

/// The four operations, in doe-bench's order.
pub fn ops() -> [Op; 4] {
    let [discovery, walk, cdat, read] = OPERATIONS;
    [
        Op {
            mark: discovery,
            title: "Discovery exchange",
            pick: |r| Some(&r.discovery_exchange),
        },
        Op {
            mark: walk,
            title: "Discovery walk",
            pick: |r| Some(&r.discovery_walk),
        },
        Op {
            mark: cdat,
            title: "CDAT exchange (entry 0)",
            pick: |r| r.cdat_exchange.as_ref(),
        },
        Op {
            mark: read,
            title: "CDAT read (whole table)",
            pick: |r| r.cdat_read.as_ref(),
        },
    ]
}

/// One doe-bench run in L2, with vmm's snapshots around its operations (none under QEMU).
#[derive(Debug, Clone)]
pub struct L2Run {
    /// The report.
    pub report: Report,
    /// `(mark, stats)` in console order.
    pub stats: Vec<(String, VmmStats)>,
}

/// Every report of one mode.
#[derive(Debug, Clone)]
pub struct ModeRuns {
    /// The mode.
    pub mode: Mode,
    /// L1 on the physical function.
    pub l1: Report,
    /// L2 under vmm, one per round.
    pub vmm: Vec<L2Run>,
    /// L2 under QEMU (raw passthrough), one per round.
    pub qemu: Vec<L2Run>,
}

/// The whole benchmark.
#[derive(Debug, Clone)]
pub struct Bench {
    /// `VMM_ARGS` as L1 saw it (empty: none).
    pub vmm_args: String,
    /// Spinning, then Linux-like.
    pub modes: Vec<ModeRuns>,
}

/// The lines after the last `@@l2 init` of `lines` (a retried boot's output comes last).
fn last_boot(lines: &[String]) -> &[String] {
    let start = lines
        .iter()
        .rposition(|l| l.trim() == "@@l2 init")
        .map_or(0, |i| i + 1);
    &lines[start..]
}

/// A doe-bench report from section `name` of `lines`, with the marks and snapshot lines
/// inside it set aside.
fn report_in(lines: &[String], name: &str, poll_us: u64) -> Result<Report, String> {
    let body = section_in(lines, name).ok_or_else(|| format!("section `{name}` missing"))?;
    if section_rc(lines, name) != Some(0) {
        return Err(format!(
            "doe-bench in section `{name}` exited {:?}: {}",
            section_rc(lines, name),
            body.join(" | ")
        ));
    }
    let json: Vec<&str> = body
        .iter()
        .map(String::as_str)
        .filter(|l| {
            let l = l.trim();
            !l.starts_with(marks::PREFIX) && !l.starts_with(vmm_stats::PREFIX)
        })
        .collect();
    let report: Report = serde_json::from_str(&json.join("\n"))
        .map_err(|e| format!("section `{name}`: not a doe-bench report: {e}"))?;
    validate(&report, poll_us).map_err(|e| format!("section `{name}`: {e}"))?;
    Ok(report)
}

/// Checks that a report has what the tables need: every operation (CDAT included), with
/// its samples and its count of exchanges not ready at the first Status read, taken over
/// the timed runs only.
pub fn validate(report: &Report, poll_us: u64) -> Result<(), String> {
    if report.poll_us != poll_us {
        return Err(format!(
            "doe-bench ran with --poll-us {}, not {poll_us}",
            report.poll_us
        ));
    }
    for op in ops() {
        let stats = (op.pick)(report).ok_or_else(|| format!("no {} figures", op.title))?;
        if stats.samples_us.len() != stats.iterations {
            return Err(format!(
                "{}: {} samples for {} iterations",
                op.title,
                stats.samples_us.len(),
                stats.iterations
            ));
        }
        let counted = stats
            .after_go
            .ok_or_else(|| format!("{}: no count of exchanges after Go", op.title))?
            .exchanges;
        let timed = (stats.iterations * stats.exchanges) as u64;
        if counted != timed {
            return Err(format!(
                "{}: {counted} exchanges counted after Go, but {} timed runs of {} make {timed}",
                op.title, stats.iterations, stats.exchanges
            ));
        }
    }
    Ok(())
}

/// The L2 run of `mode` in the VMM section `round` of `lines`; `with_stats`: vmm's
/// snapshots must be there for every operation.
fn l2_run(lines: &[String], round: &str, mode: Mode, with_stats: bool) -> Result<L2Run, String> {
    let round_lines =
        section_in(lines, round).ok_or_else(|| format!("section `{round}` missing"))?;
    let boot = last_boot(round_lines);
    let report =
        report_in(boot, mode.l2_section(), mode.poll_us()).map_err(|e| format!("{round}: {e}"))?;
    let body = section_in(boot, mode.l2_section()).unwrap_or_default();
    let stats = vmm_stats::snapshots(body).map_err(|e| format!("{round}: {e}"))?;
    if with_stats {
        for op in ops() {
            for edge in [marks::Edge::Begin, marks::Edge::End] {
                let mark = marks::name(op.mark, edge);
                if !stats.iter().any(|(m, _)| *m == mark) {
                    return Err(format!(
                        "{round} ({}): no vmm stats at mark `{mark}`",
                        mode.title()
                    ));
                }
            }
        }
    }
    Ok(L2Run { report, stats })
}

/// Takes the console apart.
pub fn parse(lines: &[String]) -> Result<Bench, String> {
    let vmm_args = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(VMM_ARGS_PREFIX))
        .ok_or_else(|| format!("no `{VMM_ARGS_PREFIX}` line from L1"))?
        .trim()
        .to_owned();
    let modes = Mode::ALL
        .into_iter()
        .map(|mode| {
            let l1 = report_in(lines, mode.l1_section(), mode.poll_us())?;
            let rounds = |vmm: &str, with_stats: bool| {
                (1..=ROUNDS)
                    .map(|r| l2_run(lines, &format!("{vmm}-bench-{r}"), mode, with_stats))
                    .collect::<Result<Vec<_>, _>>()
            };
            Ok(ModeRuns {
                mode,
                l1,
                vmm: rounds("vmm", true)?,
                qemu: rounds("qemu", false)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Bench { vmm_args, modes })
}

/// The `--doe-completion-wait` value in `vmm_args`, if given (`--doe-completion-wait N`
/// or `--doe-completion-wait=N`).
pub fn completion_wait_arg(vmm_args: &str) -> Option<&str> {
    let mut words = vmm_args.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--doe-completion-wait" {
            return words.next();
        }
        if let Some(value) = word.strip_prefix("--doe-completion-wait=") {
            return Some(value);
        }
    }
    None
}
