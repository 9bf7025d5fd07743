//! The lines guest-doe-bench prints (never asserts): per mode, the latency table (medians
//! pooled over the rounds, and each round's), vmm's exits per exchange, the exchanges not
//! ready at the first Status read; then the must-show figures with met / NOT met.

use super::console::{ops, Bench, L2Run, Mode, ModeRuns, Op};
use super::vmm_stats::Window;
use crate::doe_bench::{median, Stats};

/// vmm/QEMU goal for the latency ratio.
const GOAL_VS_QEMU: f64 = 0.7;
/// Linux-like: vmm may be at most this much slower than QEMU raw for CDAT.
const LINUX_LIKE_LIMIT: f64 = 1.1;
/// At most this many CDAT entry-0 exchanges per round of [`PER_ROUND`] may be not ready at
/// the first Status read after Go.
const NOT_READY_LIMIT: u64 = 2;
/// The round size [`NOT_READY_LIMIT`] is stated for.
const PER_ROUND: u64 = 50;

/// The median of every sample of `op` over `runs` (pooled), in µs.
pub fn pooled_median(runs: &[L2Run], op: &Op) -> Option<f64> {
    let all: Vec<f64> = runs
        .iter()
        .filter_map(|r| (op.pick)(&r.report))
        .flat_map(|s| s.samples_us.iter().copied())
        .collect();
    median(&all)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    }
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.0} µs"))
}

/// A path's pooled median and its round medians: `412 µs [410, 395, 420]`.
fn path_cell(runs: &[L2Run], op: &Op) -> String {
    let rounds: Vec<String> = runs
        .iter()
        .filter_map(|r| (op.pick)(&r.report))
        .map(|s| format!("{:.0}", s.median_us))
        .collect();
    format!("{} [{}]", us(pooled_median(runs, op)), rounds.join(", "))
}

/// `a/b` of exchanges not ready at the first Status read after Go.
fn not_ready(stats: Option<&Stats>) -> (u64, u64) {
    stats
        .and_then(|s| s.after_go)
        .map_or((0, 0), |a| (a.not_ready_at_first_read, a.exchanges))
}

/// Per round `a/b`, and the sum over the rounds.
fn not_ready_rounds(runs: &[L2Run], op: &Op) -> (Vec<(u64, u64)>, (u64, u64)) {
    let rounds: Vec<(u64, u64)> = runs
        .iter()
        .map(|r| not_ready((op.pick)(&r.report)))
        .collect();
    let total = rounds.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    (rounds, total)
}

fn fractions(rounds: &[(u64, u64)]) -> String {
    rounds
        .iter()
        .map(|(a, b)| format!("{a}/{b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// vmm's exits in `op`'s windows, pooled over the rounds: exchanges in a window are
/// (iterations + 1 warm-up) × exchanges per operation.
pub fn vmm_window(runs: &[L2Run], op: &Op) -> Result<Window, String> {
    runs.iter().try_fold(Window::default(), |pooled, run| {
        let Some(stats) = (op.pick)(&run.report) else {
            return Ok(pooled);
        };
        let exchanges = (stats.iterations as u64 + 1) * stats.exchanges as u64;
        Ok(pooled.plus(&Window::of(&run.stats, op.mark, exchanges)?))
    })
}

/// The latency table, the exits and the not-ready counts of one mode.
pub fn mode_lines(m: &ModeRuns) -> Result<Vec<String>, String> {
    let title = m.mode.title();
    let iterations = m
        .vmm
        .first()
        .map_or(0, |r| r.report.discovery_exchange.iterations);
    let mut out = vec![format!(
        "benchmark {title} (doe-bench --poll-us {}; median pooled over {} rounds of {iterations}, each round's median in brackets): operation | L1 sysfs | L2 via vmm | L2 via QEMU raw | vmm/QEMU (goal <= {GOAL_VS_QEMU}) | vmm/L1 | vmm exits (+ queued writes) per exchange",
        m.mode.poll_us(),
        m.vmm.len(),
    )];
    let mut details = Vec::new();
    for op in ops() {
        let l1 = (op.pick)(&m.l1).map(|s| s.median_us);
        let (vmm, qemu) = (pooled_median(&m.vmm, &op), pooled_median(&m.qemu, &op));
        let window = vmm_window(&m.vmm, &op)?;
        let exchanges = (op.pick)(&m.l1).map_or(0, |s| s.exchanges);
        out.push(format!(
            "benchmark {title}: {} ({exchanges} exchange(s)) | {} | {} | {} | {} | {} | {:.1} (+{:.1})",
            op.title,
            us(l1),
            path_cell(&m.vmm, &op),
            path_cell(&m.qemu, &op),
            ratio(vmm, qemu),
            ratio(vmm, l1),
            window.per_exchange(window.exits.mmio_exits()),
            window.per_exchange(window.exits.coalesced_write),
        ));
        details.push(exits_line(title, &op, &window));
        let (vmm_rounds, vmm_total) = not_ready_rounds(&m.vmm, &op);
        let (qemu_rounds, qemu_total) = not_ready_rounds(&m.qemu, &op);
        let (l1_a, l1_b) = not_ready((op.pick)(&m.l1));
        details.push(format!(
            "benchmark {title}: {} not ready at first Status read: vmm {}/{} [{}], QEMU {}/{} [{}], L1 {l1_a}/{l1_b}",
            op.mark,
            vmm_total.0,
            vmm_total.1,
            fractions(&vmm_rounds),
            qemu_total.0,
            qemu_total.1,
            fractions(&qemu_rounds),
        ));
    }
    out.extend(details);
    Ok(out)
}

/// vmm's exits per exchange in `op`'s windows, by kind, and its completion waits.
fn exits_line(mode: &str, op: &Op, w: &Window) -> String {
    let per = |n: u64| w.per_exchange(n);
    let e = &w.exits;
    let waits = w.waits.map_or(
        "no completion-wait counters".to_owned(),
        |c| {
            format!(
                "completion waits per exchange {:.2} (completed {}, timed out {}, {:.0} µs per wait; bound {} µs)",
                per(c.waits),
                c.completed,
                c.timed_out,
                c.total_us as f64 / c.waits.max(1) as f64,
                c.bound_us
            )
        },
    );
    format!(
        "benchmark {mode}: {} vmm accesses per exchange {:.2} = exits (mmio_read {:.2} + mmio_write {:.2}) + writes queued without an exit (coalesced_write {:.2}) (also pio_read {:.2}, pio_write {:.2}: the console; {} exchanges in the windows); {waits}",
        op.mark,
        per(e.doe_path()),
        per(e.mmio_read),
        per(e.mmio_write),
        per(e.coalesced_write),
        per(e.pio_read),
        per(e.pio_write),
        w.exchanges,
    )
}

/// Single config accesses (the cost of one exit on each path), from the spinning runs:
/// the median of the round medians.
pub fn access_lines(m: &ModeRuns) -> Vec<String> {
    type Pick = fn(&crate::doe_bench::RegisterAccess) -> &Stats;
    let kinds: [(&str, Pick); 4] = [
        ("Vendor ID read", |a| &a.vendor_read),
        ("DOE Status read", |a| &a.status_read),
        ("DOE Control write (no-op)", |a| &a.control_write),
        ("DOE Read Data Mailbox write (pop)", |a| {
            &a.read_mailbox_write
        }),
    ];
    let of_runs = |runs: &[L2Run], pick: Pick| {
        let medians: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.report.register_access.as_ref())
            .map(|a| pick(a).median_us)
            .collect();
        median(&medians)
    };
    kinds
        .into_iter()
        .filter_map(|(name, pick)| {
            let l1 = m.l1.register_access.as_ref().map(|a| pick(a).median_us);
            let (vmm, qemu) = (of_runs(&m.vmm, pick), of_runs(&m.qemu, pick));
            l1.or(vmm).or(qemu)?;
            Some(format!(
                "benchmark {}: one access: {name} (median of round medians) | {} | {} | {} | {} | {}",
                m.mode.title(),
                us(l1),
                us(vmm),
                us(qemu),
                ratio(vmm, qemu),
                ratio(vmm, l1)
            ))
        })
        .collect()
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The must-show figures: CDAT entry-0 exchanges not ready at the first Status
/// read under vmm, per round (each mode), and the Linux-like vmm/QEMU CDAT ratios.
pub fn must_show(bench: &Bench) -> Vec<String> {
    let [_, _, cdat, read] = ops();
    let mut out = Vec::new();
    for m in &bench.modes {
        let (vmm_rounds, _) = not_ready_rounds(&m.vmm, &cdat);
        let (qemu_rounds, _) = not_ready_rounds(&m.qemu, &cdat);
        let ok = vmm_rounds
            .iter()
            .all(|&(a, b)| b > 0 && a * PER_ROUND <= NOT_READY_LIMIT * b);
        out.push(format!(
            "must-show: CDAT entry-0 not ready at first Status read ({}), vmm, per round of {}: {} (must be <= {NOT_READY_LIMIT}/{PER_ROUND} each): {}; QEMU raw: {}",
            m.mode.title(),
            vmm_rounds.first().map_or(0, |r| r.1),
            fractions(&vmm_rounds),
            met(ok),
            fractions(&qemu_rounds),
        ));
    }
    if let Some(m) = bench.modes.iter().find(|m| m.mode == Mode::LinuxLike) {
        let r = |op: &Op| match (pooled_median(&m.vmm, op), pooled_median(&m.qemu, op)) {
            (Some(v), Some(q)) if q > 0.0 => Some(v / q),
            _ => None,
        };
        let (one, all) = (r(&cdat), r(&read));
        let ok = [one, all]
            .iter()
            .all(|x| x.is_some_and(|x| x <= LINUX_LIKE_LIMIT));
        let show = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.2}"));
        out.push(format!(
            "must-show: Linux-like: vmm/QEMU CDAT entry-0 median ratio {} (must be <= {LINUX_LIKE_LIMIT}), whole CDAT {} (must be <= {LINUX_LIKE_LIMIT}): {}",
            show(one),
            show(all),
            met(ok)
        ));
    }
    out
}
