//! The policy in force, replaced whole on reload while readers keep the one they hold.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::PolicyError;
use crate::policy::Policy;

/// Holds the current policy. Readers take an `Arc` (a short read lock, no copy) and decide
/// with it; a reload swaps in a new `Arc`, so an exchange in flight finishes under the
/// policy it started with.
#[derive(Debug)]
pub struct PolicyStore {
    current: RwLock<Arc<Policy>>,
}

impl PolicyStore {
    /// A store holding `policy`.
    pub fn new(policy: Policy) -> Self {
        PolicyStore {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    /// A store holding the policy read from `path`.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        Policy::from_file(path).map(Self::new)
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<Policy> {
        // A panic while holding the lock cannot leave a half-written Arc; keep going.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `policy` in force and returns the one it replaces.
    pub fn replace(&self, policy: Policy) -> Arc<Policy> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, Arc::new(policy))
    }

    /// Reads `path` and puts it in force; on any error the policy in force stays.
    pub fn reload_from(&self, path: &Path) -> Result<(), PolicyError> {
        let policy = Policy::from_file(path)?;
        self.replace(policy);
        Ok(())
    }
}
