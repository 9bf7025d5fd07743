//! The host admin's side of every mediated mailbox (a guest's virtual DOE in `vmm`, a host
//! user's socket connection in `vmm --doe-socket` or `doe-proxyd`): the policy in force
//! (reloadable), the rate limiter and the audit log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use policies::audit::Drained;
use policies::{
    AuditEvent, AuditLog, AuditQueue, ClientIdentity, ConnectionRefusal, Decision, FunctionId,
    Policy, PolicyError, PolicyStore, RateLimiter, RequestInfo, SystemClock,
};

/// Where audit lines go.
pub type AuditSink = Box<dyn Write + Send>;

/// Where the audit log goes (`--audit` of `vmm` and `doe-proxyd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// The process's standard error.
    Stderr,
    /// A file, created if missing, appended to.
    File(PathBuf),
}

impl AuditTarget {
    /// Parses `stderr` or a file path.
    pub fn parse(s: &str) -> Result<AuditTarget, String> {
        match s {
            "" => Err("the audit target must be 'stderr' or a file path".to_owned()),
            "stderr" => Ok(AuditTarget::Stderr),
            path => Ok(AuditTarget::File(PathBuf::from(path))),
        }
    }

    /// The writer: stderr, or the file opened for appending.
    pub fn open(&self) -> std::io::Result<AuditSink> {
        Ok(match self {
            AuditTarget::Stderr => Box::new(std::io::stderr()),
            AuditTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        })
    }
}

/// The policy, the rate limiter and the audit log of one `vmm` or `doe-proxyd`.
pub struct DoeAdmin {
    store: PolicyStore,
    path: Option<PathBuf>,
    limiter: Mutex<RateLimiter<SystemClock>>,
    audit: Mutex<AuditLog<AuditSink, SystemClock>>,
}

impl std::fmt::Debug for DoeAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoeAdmin")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DoeAdmin {
    /// Reads the policy at `path` (the built-in default when `None`); audit lines go to
    /// `audit`. A bad file is the error, with its `file:line:col`.
    pub fn load(path: Option<&Path>, audit: AuditSink) -> Result<Arc<Self>, PolicyError> {
        let policy = match path {
            Some(path) => Policy::from_file(path)?,
            None => Policy::builtin_default(),
        };
        Ok(Self::new(policy, path.map(Path::to_owned), audit))
    }

    /// An admin over `policy`, reloadable from `path` if any.
    pub fn new(policy: Policy, path: Option<PathBuf>, audit: AuditSink) -> Arc<Self> {
        Arc::new(DoeAdmin {
            store: PolicyStore::new(policy),
            path,
            limiter: Mutex::new(RateLimiter::new(SystemClock::new())),
            audit: Mutex::new(AuditLog::new(audit, SystemClock::new())),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.store.current()
    }

    /// The policy's decision on `request`, its rate limit applied.
    pub fn decide(
        &self,
        client: &ClientIdentity,
        function: &FunctionId,
        request: &RequestInfo,
    ) -> Decision {
        let decision = self.store.current().evaluate(client, function, request);
        lock(&self.limiter).admit(client, function, decision)
    }

    /// Writes the audit line of a denial (rate-limited per client by the log).
    pub fn audit(&self, event: &AuditEvent<'_>) {
        let mut audit = lock(&self.audit);
        if let Err(e) = audit.record(event) {
            crate::warn_ratelimited!("cannot write the audit log: {e}");
        }
    }

    /// Writes the audit line of a host user refused at the door of the socket at `socket`
    /// for `reason` (a DOE socket: no rule allows it anything there; an admin socket: its
    /// uid may not use it).
    pub fn audit_refused_connection(
        &self,
        client: &ClientIdentity,
        socket: &str,
        reason: ConnectionRefusal,
        detail: &str,
    ) {
        let mut audit = lock(&self.audit);
        if let Err(e) = audit.record_refused_connection(client, socket, reason, detail) {
            crate::warn_ratelimited!("cannot write the audit log: {e}");
        }
    }

    /// Writes the records waiting in `queue` (denials decided on threads that must not
    /// write, e.g. `vmm`'s vCPUs) to the audit log, with one `"dropped"` line if the queue
    /// overflowed. Call it on the thread that may write (an event loop), when the queue's
    /// owner is woken and about once a second.
    pub fn write_queued(&self, queue: &AuditQueue) -> Drained {
        let drained = queue.drain_into(&mut lock(&self.audit));
        if let Some(e) = &drained.error {
            crate::warn_ratelimited!(
                "cannot write the audit log ({} line(s) lost): {e}",
                drained.failed
            );
        }
        drained
    }

    /// Writes the count of denials left out of the log (call it about once a second).
    pub fn flush_suppressed(&self) {
        let mut audit = lock(&self.audit);
        if let Err(e) = audit.flush_suppressed() {
            crate::warn_ratelimited!("cannot write the audit log: {e}");
        }
    }

    /// Re-reads the policy file. On any error the policy in force stays and the error is
    /// returned (`file:line:col: message` for a bad file).
    pub fn reload(&self) -> Result<&Path, String> {
        let Some(path) = &self.path else {
            return Err(
                "no policy file to reload: running the built-in default policy \
                        (start with --policy <file>)"
                    .to_owned(),
            );
        };
        self.store.reload_from(path).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// The origin of the policy in force (its file, or `<builtin>`).
    pub fn origin(&self) -> String {
        self.store.current().origin().to_owned()
    }
}

/// Every update completes under the lock, so a poisoned lock is consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
