//! The timing report every bench run prints.

use std::fmt::Write;
use std::time::Duration;

/// Phases and how long each took, in order.
#[derive(Debug, Default, Clone)]
pub struct Timings {
    phases: Vec<(String, Duration)>,
}

impl Timings {
    /// Records one phase.
    pub fn record(&mut self, phase: impl Into<String>, took: Duration) {
        self.phases.push((phase.into(), took));
    }

    /// Records L1's console phases, given as times since QEMU started, as durations between
    /// consecutive markers; the time from the last marker to QEMU's exit is `shutdown`.
    pub fn record_console(&mut self, marks: &[(String, Duration)], total: Duration) {
        let mut last = Duration::ZERO;
        for (name, at) in marks {
            let label = match name.as_str() {
                "init" => "L1 boot to init".to_owned(),
                other => format!("L1 {other}"),
            };
            self.record(label, at.saturating_sub(last));
            last = *at;
        }
        self.record("L1 shutdown", total.saturating_sub(last));
    }

    /// The report as printed.
    pub fn render(&self, title: &str) -> String {
        let mut out = format!("bench timings: {title}\n");
        let total: Duration = self.phases.iter().map(|(_, d)| *d).sum();
        for (name, took) in &self.phases {
            let _ = writeln!(out, "  {name:<28} {:>9.2} s", took.as_secs_f64());
        }
        let _ = writeln!(out, "  {:<28} {:>9.2} s", "total", total.as_secs_f64());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_phases_become_durations() {
        let mut t = Timings::default();
        let marks = vec![
            ("init".to_owned(), Duration::from_secs(4)),
            ("script-done".to_owned(), Duration::from_secs(6)),
        ];
        t.record_console(&marks, Duration::from_secs(7));
        let text = t.render("x");
        assert!(
            text.contains("L1 boot to init                   4.00 s"),
            "{text}"
        );
        assert!(
            text.contains("L1 script-done                    2.00 s"),
            "{text}"
        );
        assert!(
            text.contains("L1 shutdown                       1.00 s"),
            "{text}"
        );
        assert!(
            text.contains("total                             7.00 s"),
            "{text}"
        );
    }
}
