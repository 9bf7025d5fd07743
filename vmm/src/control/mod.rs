//! Admin control of a running vmm: the control socket (`--api-socket`, a line protocol,
//! [`protocol`]), SIGHUP, and the audit log's periodic summary — all handled by the
//! main thread's event loop ([`server`]).

pub mod protocol;
pub mod server;

use crate::doe::DoeAdmin;

/// What a reload acts on (the [`DoeAdmin`]; a fake in tests).
pub trait Reload {
    /// Re-reads the policy; `Ok(origin)` once it is in force, else the error (the policy
    /// in force stays).
    fn reload(&self) -> Result<String, String>;
    /// Where the policy in force came from.
    fn origin(&self) -> String;
}

impl Reload for DoeAdmin {
    fn reload(&self) -> Result<String, String> {
        DoeAdmin::reload(self).map(|path| path.display().to_string())
    }

    fn origin(&self) -> String {
        DoeAdmin::origin(self)
    }
}
