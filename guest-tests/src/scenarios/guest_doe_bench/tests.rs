//! The check on a made-up console: three rounds of each VMM in both modes, vmm's stats
//! around each operation, a QEMU round that was run again.

use super::console::{completion_wait_arg, parse, validate, ROUNDS};
use super::*;
use crate::doe_bench::marks::{self, Edge, OPERATIONS};
use crate::doe_bench::{AfterGo, RegisterAccess, Report, Stats};

/// Exchanges per operation: Discovery exchange, walk, CDAT entry 0, whole CDAT.
const EXCHANGES: [usize; 4] = [1, 2, 1, 7];
/// MMIO accesses vmm counts per exchange in the made-up stats.
const EXITS_PER_EXCHANGE: u64 = 17;

fn stats(median: f64, exchanges: usize, not_ready: u64) -> Stats {
    Stats {
        iterations: 50,
        exchanges,
        min_us: median,
        median_us: median,
        p90_us: median,
        mean_us: median,
        samples_us: vec![median; 50],
        after_go: Some(AfterGo {
            exchanges: 50 * exchanges as u64,
            not_ready_at_first_read: not_ready,
            status_reads: 50 * exchanges as u64 + not_ready,
        }),
    }
}

/// A report whose operations all take `median` µs (times their exchanges), with
/// `not_ready` CDAT entry-0 exchanges not ready at the first read.
fn report(poll_us: u64, median: f64, not_ready: u64) -> Report {
    let op = |i: usize, n: u64| stats(median * EXCHANGES[i] as f64, EXCHANGES[i], n);
    let access = stats(median / 10.0, 0, 0);
    Report {
        label: "x".into(),
        device: "0000:00:01.0".into(),
        mailbox: 0x190,
        poll_us,
        discovery_exchange: op(0, 0),
        discovery_walk: op(1, 0),
        cdat_exchange: Some(op(2, not_ready)),
        cdat_read: Some(op(3, 0)),
        register_access: Some(RegisterAccess {
            vendor_read: access.clone(),
            status_read: access.clone(),
            control_write: access.clone(),
            read_mailbox_write: access,
        }),
    }
}

fn section(name: &str, body: &[String]) -> Vec<String> {
    let mut out = vec![format!("@@begin {name}")];
    out.extend_from_slice(body);
    out.push(format!("@@end {name} rc=0"));
    out
}

/// An L2 doe-bench run as it reaches the console: marks (with `\r`, as from L2's serial),
/// each followed by vmm's stats when `stats`, then the report.
fn l2_run(name: &str, r: &Report, stats: bool, counter: &mut u64) -> Vec<String> {
    let mut body = Vec::new();
    for (i, op) in OPERATIONS.into_iter().enumerate() {
        for edge in [Edge::Begin, Edge::End] {
            if edge == Edge::End {
                *counter += 51 * EXCHANGES[i] as u64 * EXITS_PER_EXCHANGE;
            }
            let mark = marks::name(op, edge);
            body.push(format!("{}{mark}\r", marks::PREFIX));
            if stats {
                // 10 reads, 2 writes, 5 coalesced writes of every 17.
                let c = *counter / EXITS_PER_EXCHANGE;
                body.push(format!(
                    r#"@@vmm-stats {mark} {{"exits":{{"mmio_read":{},"mmio_write":{},"coalesced_write":{},"pio_read":3,"pio_write":{}}},"doe_completion_wait":{{"bound_us":1000,"waits":{c},"completed":{c},"timed_out":0,"total_us":{},"max_us":80}}}}"#,
                    c * 10,
                    c * 2,
                    c * 5,
                    c,
                    c * 40
                ));
            }
        }
    }
    body.extend(
        serde_json::to_string_pretty(r)
            .unwrap()
            .lines()
            .map(|l| format!("{l}\r")),
    );
    section(name, &body)
}

/// The whole console. vmm's CDAT entry-0 not-ready counts per round are `not_ready`;
/// vmm takes `vmm_us` per exchange, QEMU 1000, L1 60.
fn console(vmm_us: f64, not_ready: [u64; ROUNDS]) -> Vec<String> {
    let mut lines = vec!["@@vmm-args --doe-completion-wait 0".to_owned()];
    lines.extend(section(
        "l1-bench",
        &serde_json::to_string_pretty(&report(0, 60.0, 0))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    ));
    lines.extend(section(
        "l1-bench-linux",
        &serde_json::to_string_pretty(&report(4000, 60.0, 0))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    ));
    let mut counter = 1000;
    for (i, n) in not_ready.into_iter().enumerate() {
        let round = i + 1;
        let mut vmm = vec!["@@l2 init\r".to_owned()];
        vmm.extend(l2_run(
            "l2-bench-spin",
            &report(0, vmm_us, n),
            true,
            &mut counter,
        ));
        vmm.extend(l2_run(
            "l2-bench-linux",
            &report(4000, vmm_us, n),
            true,
            &mut counter,
        ));
        vmm.push("@@l2 verdict 0\r".to_owned());
        lines.extend(section(&format!("vmm-bench-{round}"), &vmm));
        let mut qemu = Vec::new();
        if round == 2 {
            // A first attempt whose L2 died mid-benchmark: its figures must not be used.
            qemu.push("@@l2 init\r".to_owned());
            qemu.extend(l2_run("l2-bench-spin", &report(0, 1.0, 9), false, &mut 0));
            qemu.push("QEMU (qemu-2): L2 ended without verdict 0".to_owned());
        }
        qemu.push("@@l2 init\r".to_owned());
        qemu.extend(l2_run(
            "l2-bench-spin",
            &report(0, 1000.0, 0),
            false,
            &mut 0,
        ));
        qemu.extend(l2_run(
            "l2-bench-linux",
            &report(4000, 1000.0, 0),
            false,
            &mut 0,
        ));
        qemu.push("@@l2 verdict 0\r".to_owned());
        lines.extend(section(&format!("qemu-bench-{round}"), &qemu));
    }
    lines
}

fn facts_of(lines: &[String]) -> Result<Vec<String>, String> {
    facts(&parse(lines)?)
}

fn line_with<'a>(facts: &'a [String], needle: &str) -> &'a str {
    facts
        .iter()
        .find(|f| f.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in {facts:#?}"))
}

#[test]
fn the_tables_pool_the_rounds_and_show_the_must_show_figures() {
    let f = facts_of(&console(600.0, [1, 0, 2])).unwrap();
    let row = line_with(&f, "benchmark spinning: CDAT exchange (entry 0)");
    assert_eq!(
        row,
        "benchmark spinning: CDAT exchange (entry 0) (1 exchange(s)) | 60 µs | 600 µs [600, 600, 600] | 1000 µs [1000, 1000, 1000] | 0.60 | 10.00 | 12.0 (+5.0)"
    );
    let walk = line_with(&f, "benchmark Linux-like: Discovery walk (2");
    assert!(
        walk.contains("| 120 µs | 1200 µs [1200, 1200, 1200] | 2000 µs"),
        "{walk}"
    );
    assert!(line_with(
        &f,
        "benchmark spinning (doe-bench --poll-us 0; median pooled over 3 rounds of 50"
    )
    .contains("goal <= 0.7"));
    let exits = line_with(
        &f,
        "benchmark spinning: cdat-read vmm accesses per exchange",
    );
    assert!(
        exits.contains(
            "17.00 = exits (mmio_read 10.00 + mmio_write 2.00) + writes queued without an exit (coalesced_write 5.00)"
        ),
        "{exits}"
    );
    assert!(exits.contains("1071 exchanges in the windows"), "{exits}");
    assert!(
        exits.contains("completion waits per exchange 1.00"),
        "{exits}"
    );
    assert_eq!(
        line_with(&f, "benchmark Linux-like: cdat-exchange not ready"),
        "benchmark Linux-like: cdat-exchange not ready at first Status read: vmm 3/150 [1/50, 0/50, 2/50], QEMU 0/150 [0/50, 0/50, 0/50], L1 0/50"
    );
    assert_eq!(
        line_with(&f, "must-show: CDAT entry-0 not ready at first Status read (Linux-like)"),
        "must-show: CDAT entry-0 not ready at first Status read (Linux-like), vmm, per round of 50: 1/50, 0/50, 2/50 (must be <= 2/50 each): met; QEMU raw: 0/50, 0/50, 0/50"
    );
    assert_eq!(
        line_with(&f, "must-show: Linux-like: vmm/QEMU"),
        "must-show: Linux-like: vmm/QEMU CDAT entry-0 median ratio 0.60 (must be <= 1.1), whole CDAT 0.60 (must be <= 1.1): met"
    );
    assert!(line_with(&f, "one access: DOE Status read")
        .contains("| 6 µs | 60 µs | 100 µs | 0.60 | 10.00"));
    assert_eq!(
        line_with(&f, "--doe-completion-wait in force"),
        "vmm --doe-completion-wait in force: 0 µs (VMM_ARGS `--doe-completion-wait 0`); doectl stats reports bound_us 1000"
    );
}

#[test]
fn figures_past_the_limits_are_shown_as_not_met() {
    let f = facts_of(&console(1200.0, [3, 0, 0])).unwrap();
    assert!(line_with(
        &f,
        "must-show: CDAT entry-0 not ready at first Status read (spinning)"
    )
    .contains("3/50, 0/50, 0/50 (must be <= 2/50 each): NOT met"));
    assert!(line_with(&f, "must-show: Linux-like: vmm/QEMU")
        .ends_with("ratio 1.20 (must be <= 1.1), whole CDAT 1.20 (must be <= 1.1): NOT met"));
}

#[test]
fn missing_stats_rounds_or_reports_fail_the_check() {
    let good = console(600.0, [0, 0, 0]);
    let without = |needle: &str| -> Vec<String> {
        good.iter()
            .filter(|l| !l.contains(needle))
            .cloned()
            .collect()
    };
    let e = facts_of(&without("@@vmm-stats cdat-read-end")).unwrap_err();
    assert!(e.contains("no vmm stats at mark `cdat-read-end`"), "{e}");
    let e = facts_of(&without("vmm-bench-3")).unwrap_err();
    assert!(e.contains("section `vmm-bench-3` missing"), "{e}");
    assert!(facts_of(&without("@@vmm-args")).is_err());
    let e = facts_of(&without("\"samples_us\"")).unwrap_err();
    assert!(
        e.contains("not a doe-bench report") || e.contains("samples"),
        "{e}"
    );

    let mut error_stats = good.clone();
    let at = error_stats
        .iter()
        .position(|l| l.starts_with("@@vmm-stats discovery-walk-begin"))
        .unwrap();
    error_stats[at] = "@@vmm-stats discovery-walk-begin ERROR doectl: unknown command".into();
    let e = facts_of(&error_stats).unwrap_err();
    assert!(e.contains("discovery-walk-begin"), "{e}");

    let mut failed = good.clone();
    let at = failed
        .iter()
        .position(|l| l == "@@end l2-bench-linux rc=0")
        .unwrap();
    failed[at] = "@@end l2-bench-linux rc=1".into();
    let e = facts_of(&failed).unwrap_err();
    assert!(e.contains("exited Some(1)"), "{e}");
}

#[test]
fn a_report_without_counts_or_cdat_is_malformed() {
    let mut r = report(0, 5.0, 0);
    assert!(validate(&r, 0).is_ok());
    assert!(validate(&r, 4000).is_err());
    r.cdat_read.as_mut().unwrap().after_go = None;
    assert!(validate(&r, 0).unwrap_err().contains("CDAT read"));
    r.cdat_read = None;
    assert!(validate(&r, 0).is_err());
    let mut r = report(0, 5.0, 0);
    r.cdat_read
        .as_mut()
        .unwrap()
        .after_go
        .as_mut()
        .unwrap()
        .exchanges = 51 * 7;
    assert!(validate(&r, 0)
        .unwrap_err()
        .contains("357 exchanges counted after Go, but 50 timed runs of 7 make 350"));
    let mut r = report(0, 5.0, 0);
    r.discovery_walk.samples_us.pop();
    assert!(validate(&r, 0).unwrap_err().contains("49 samples for 50"));
}

#[test]
fn the_completion_wait_is_read_from_vmm_args() {
    assert_eq!(completion_wait_arg("--doe-completion-wait 0"), Some("0"));
    assert_eq!(
        completion_wait_arg("--seccomp log --doe-completion-wait=250"),
        Some("250")
    );
    assert_eq!(completion_wait_arg(""), None);
    assert_eq!(completion_wait_arg("--seccomp log"), None);
}
