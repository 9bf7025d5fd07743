//! Admin control of a running vmm: the control socket (`--api-socket`, a line protocol,
//! [`protocol`]), SIGHUP, and the audit log's periodic summary — all handled by the
//! main thread's event loop ([`server`]).

pub mod protocol;
pub mod server;

use std::sync::Arc;

use crate::doe::DoeAdmin;
use crate::stats::VmStats;

/// What a reload acts on (the [`DoeAdmin`]; a fake in tests).
pub trait Reload {
    /// Re-reads the policy; `Ok(origin)` once it is in force, else the error (the policy
    /// in force stays).
    fn reload(&self) -> Result<String, String>;
    /// Where the policy in force came from.
    fn origin(&self) -> String;
}

/// Everything the control socket acts on: the policy, and the VM's counters.
pub trait Control: Reload {
    /// The VM's counters as one JSON line (`crate::stats`).
    fn stats(&self) -> String;
}

/// The running VM's [`Control`]: its DOE admin and its counters.
#[derive(Debug, Clone)]
pub struct VmControl {
    /// The policy, its reload and audit.
    pub admin: Arc<DoeAdmin>,
    /// Exit and completion-wait counters.
    pub stats: Arc<VmStats>,
}

impl Reload for VmControl {
    fn reload(&self) -> Result<String, String> {
        Reload::reload(self.admin.as_ref())
    }

    fn origin(&self) -> String {
        Reload::origin(self.admin.as_ref())
    }
}

impl Control for VmControl {
    fn stats(&self) -> String {
        self.stats.to_json()
    }
}

impl Reload for DoeAdmin {
    fn reload(&self) -> Result<String, String> {
        DoeAdmin::reload(self).map(|path| path.display().to_string())
    }

    fn origin(&self) -> String {
        DoeAdmin::origin(self)
    }
}
