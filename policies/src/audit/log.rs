//! The audit log: one JSON line per denial, to any writer, at most a few per client per
//! second so that a guest cannot flood the host's log.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::record::{
    AuditEvent, ConnectionRefusal, DenialLine, DroppedLine, RefusedConnectionLine, SuppressedLine,
};
use super::time::rfc3339_utc;
use crate::clock::Clock;
use crate::ids::ClientIdentity;

/// Denial lines written per client per window unless configured otherwise.
pub const DEFAULT_RECORDS_PER_WINDOW: u32 = 10;
/// The window the per-client budget is counted over.
pub const WINDOW: Duration = Duration::from_secs(1);

/// What [`AuditLog::record`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// A line was written.
    Written,
    /// The client is over its budget: counted, reported with its next line.
    Suppressed,
    /// The event is not a denial: nothing to record.
    NotADenial,
}

/// One client's budget in the current window.
#[derive(Debug, Clone, Copy)]
struct ClientBudget {
    window_start: Duration,
    written: u32,
    suppressed: u64,
}

/// Writes audit lines to `W`, counting per client over [`WINDOW`].
///
/// A client past its budget has its denials counted, not written; the count goes out in
/// the `"suppressed"` field of its next denial line, or in a `"event":"suppressed"` line
/// from [`AuditLog::flush_suppressed`], which the owner should call about once a window.
#[derive(Debug)]
pub struct AuditLog<W: Write, C: Clock> {
    out: W,
    clock: C,
    per_window: u32,
    budgets: HashMap<ClientIdentity, ClientBudget>,
}

impl<W: Write, C: Clock> AuditLog<W, C> {
    /// A log with the default budget of [`DEFAULT_RECORDS_PER_WINDOW`] lines per client.
    pub fn new(out: W, clock: C) -> Self {
        Self::with_budget(out, clock, DEFAULT_RECORDS_PER_WINDOW)
    }

    /// A log writing at most `per_window` denial lines per client per [`WINDOW`].
    pub fn with_budget(out: W, clock: C, per_window: u32) -> Self {
        AuditLog {
            out,
            clock,
            per_window,
            budgets: HashMap::new(),
        }
    }

    /// Records `event` if it is a denial and the client has budget left; the line's time
    /// is now.
    pub fn record(&mut self, event: &AuditEvent<'_>) -> io::Result<AuditOutcome> {
        self.record_denial(event, None)
    }

    /// [`AuditLog::record`] for a denial that happened at `unix_time` (one that waited in
    /// an [`crate::audit::AuditQueue`]): the line carries that time. The client's budget
    /// is counted when the line is written.
    pub fn record_at(
        &mut self,
        event: &AuditEvent<'_>,
        unix_time: Duration,
    ) -> io::Result<AuditOutcome> {
        self.record_denial(event, Some(unix_time))
    }

    fn record_denial(
        &mut self,
        event: &AuditEvent<'_>,
        unix_time: Option<Duration>,
    ) -> io::Result<AuditOutcome> {
        if event.decision.is_allowed() {
            return Ok(AuditOutcome::NotADenial);
        }
        self.write_budgeted(event.client, unix_time, |time, suppressed| {
            DenialLine::new(time, event, suppressed)
        })
    }

    /// Records that `client` was refused a connection to the socket at `socket` for
    /// `reason` (`detail` says so in words); counted against the client's budget like a
    /// denial.
    pub fn record_refused_connection(
        &mut self,
        client: &ClientIdentity,
        socket: &str,
        reason: ConnectionRefusal,
        detail: &str,
    ) -> io::Result<AuditOutcome> {
        self.write_budgeted(client, None, |time, suppressed| {
            Some(RefusedConnectionLine::new(
                time, client, socket, reason, detail, suppressed,
            ))
        })
    }

    /// Writes one `"dropped"` line: `count` denials were lost before they reached the log
    /// (a full [`crate::audit::AuditQueue`]). Never rate-limited.
    pub fn record_dropped(&mut self, count: u64) -> io::Result<()> {
        let time = rfc3339_utc(self.clock.unix_time());
        write_line(&mut self.out, &DroppedLine::new(time, count))
    }

    /// Writes one `"suppressed"` line for each client whose window has ended with denials
    /// left out, and forgets clients with nothing pending. Returns the lines written.
    pub fn flush_suppressed(&mut self) -> io::Result<usize> {
        let now = self.clock.monotonic();
        let time = rfc3339_utc(self.clock.unix_time());
        let mut lines = 0;
        for (client, budget) in &mut self.budgets {
            if budget.suppressed == 0 || now < budget.window_start + WINDOW {
                continue;
            }
            write_line(
                &mut self.out,
                &SuppressedLine::new(time.clone(), client, budget.suppressed),
            )?;
            budget.suppressed = 0;
            lines += 1;
        }
        self.budgets
            .retain(|_, budget| budget.suppressed > 0 || now < budget.window_start + WINDOW);
        Ok(lines)
    }

    /// The writer, for tests and for closing the log.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes the line `line` builds (from the time and the client's count of suppressed
    /// lines) if `client` has budget left, else counts it as suppressed. `unix_time` is
    /// the line's time, now if `None`.
    fn write_budgeted<L: Serialize>(
        &mut self,
        client: &ClientIdentity,
        unix_time: Option<Duration>,
        line: impl FnOnce(String, u64) -> Option<L>,
    ) -> io::Result<AuditOutcome> {
        let now = self.clock.monotonic();
        let per_window = self.per_window;
        let budget = self.budget(client, now);
        if budget.written >= per_window {
            budget.suppressed += 1;
            return Ok(AuditOutcome::Suppressed);
        }
        let suppressed = budget.suppressed;
        let time = rfc3339_utc(unix_time.unwrap_or_else(|| self.clock.unix_time()));
        let Some(line) = line(time, suppressed) else {
            return Ok(AuditOutcome::NotADenial);
        };
        write_line(&mut self.out, &line)?;
        let budget = self.budget(client, now);
        budget.written += 1;
        budget.suppressed -= suppressed;
        Ok(AuditOutcome::Written)
    }

    /// The client's budget, renewed if its window has ended.
    fn budget(&mut self, client: &ClientIdentity, now: Duration) -> &mut ClientBudget {
        if !self.budgets.contains_key(client) {
            self.budgets.insert(
                client.clone(),
                ClientBudget {
                    window_start: now,
                    written: 0,
                    suppressed: 0,
                },
            );
        }
        let budget = self
            .budgets
            .get_mut(client)
            .expect("inserted above if missing");
        if now >= budget.window_start + WINDOW {
            budget.window_start = now;
            budget.written = 0;
        }
        budget
    }
}

/// Writes `line` as one JSON line with a single write, then flushes.
fn write_line<W: Write>(out: &mut W, line: &impl Serialize) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(line)?;
    bytes.push(b'\n');
    out.write_all(&bytes)?;
    out.flush()
}
