//! What the driver saw of its exchanges: how many Status reads it took, after Go, to see
//! Data Object Ready (or Error). A requester that sleeps between Status reads, as Linux's
//! does (one poll interval, DESIGN §3), pays a sleep for every exchange that is not ready
//! at the first read; these counts show how often that happens on a given path.

/// The trace of one exchange that got as far as Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExchangeTrace {
    /// Status reads after Go until one showed Data Object Ready or Error (or the timeout
    /// passed): 1 when the response was ready at the first read.
    pub status_reads_after_go: u32,
}

impl ExchangeTrace {
    /// Whether the first Status read after Go did not show Data Object Ready or Error.
    pub fn not_ready_at_first_read(&self) -> bool {
        self.status_reads_after_go > 1
    }
}

/// Running totals over every exchange of a mailbox that got as far as Go. Take two and
/// subtract ([`ExchangeTally::since`]) to count an operation made of several exchanges
/// (a Discovery walk, a whole CDAT read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExchangeTally {
    /// Exchanges that got as far as Go.
    pub exchanges: u64,
    /// Of them, those whose first Status read after Go showed neither Data Object Ready
    /// nor Error.
    pub not_ready_at_first_read: u64,
    /// Status reads after Go, summed over the exchanges.
    pub status_reads_after_go: u64,
}

impl ExchangeTally {
    /// Adds one exchange.
    pub fn record(&mut self, trace: ExchangeTrace) {
        self.exchanges += 1;
        self.not_ready_at_first_read += u64::from(trace.not_ready_at_first_read());
        self.status_reads_after_go += u64::from(trace.status_reads_after_go);
    }

    /// What was added since `earlier` (a tally of the same mailbox taken before).
    pub fn since(&self, earlier: &ExchangeTally) -> ExchangeTally {
        ExchangeTally {
            exchanges: self.exchanges - earlier.exchanges,
            not_ready_at_first_read: self.not_ready_at_first_read - earlier.not_ready_at_first_read,
            status_reads_after_go: self.status_reads_after_go - earlier.status_reads_after_go,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_exchanges_not_ready_at_the_first_read() {
        let mut tally = ExchangeTally::default();
        tally.record(ExchangeTrace {
            status_reads_after_go: 1,
        });
        let before = tally;
        tally.record(ExchangeTrace {
            status_reads_after_go: 3,
        });
        tally.record(ExchangeTrace {
            status_reads_after_go: 1,
        });
        assert_eq!(
            tally,
            ExchangeTally {
                exchanges: 3,
                not_ready_at_first_read: 1,
                status_reads_after_go: 5
            }
        );
        assert_eq!(
            tally.since(&before),
            ExchangeTally {
                exchanges: 2,
                not_ready_at_first_read: 1,
                status_reads_after_go: 4
            }
        );
    }
}
