//! The audit record of every denial: one JSON line each, rate-limited per client.

mod log;
mod record;
mod time;

#[cfg(test)]
mod tests;

pub use log::{AuditLog, AuditOutcome, DEFAULT_RECORDS_PER_WINDOW, WINDOW};
pub use record::AuditEvent;
