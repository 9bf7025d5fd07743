//! Admin control of a running vmm, all handled by the main thread's event loop: the
//! control socket (`--api-socket`: [`server`], one [`connection`] per client, who may
//! connect in [`access`], the line protocol in [`protocol`]), SIGHUP ([`sighup`]), and the
//! audit log's writer ([`audit`]: the guest's queued denials and the periodic summary).

pub mod access;
pub mod audit;
mod connection;
pub mod protocol;
pub mod server;
pub mod sighup;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use policies::{ClientIdentity, ConnectionRefusal};

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

/// Everything the control socket acts on: the policy, the VM's counters, and the audit
/// of peers it refuses.
pub trait Control: Reload {
    /// The VM's counters as one JSON line (`crate::stats`).
    fn stats(&self) -> String;
    /// Audits `peer`, refused at the door of the control socket at `socket` (`detail`
    /// says why).
    fn refused(&self, peer: &ClientIdentity, socket: &str, detail: &str);
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

    fn refused(&self, peer: &ClientIdentity, socket: &str, detail: &str) {
        self.admin.audit_refused_connection(
            peer,
            socket,
            ConnectionRefusal::PeerNotAllowed,
            detail,
        );
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
