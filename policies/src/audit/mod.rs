//! The audit record of every denial: one JSON line each, rate-limited per client; and a
//! bounded queue that carries records from a thread that must not write to one that does.

mod log;
mod queue;
mod record;
mod time;

#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod tests;

pub use log::{AuditLog, AuditOutcome, DEFAULT_RECORDS_PER_WINDOW, WINDOW};
pub use queue::{AuditQueue, AuditRecord, Drained, Pushed, DEFAULT_QUEUE_CAPACITY};
pub use record::{AuditEvent, ConnectionRefusal};
