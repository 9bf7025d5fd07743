//! Faults an emulated DOE instance can be told to show, changeable while it runs.

use std::sync::{Arc, Mutex, PoisonError};

/// How an emulated DOE instance misbehaves. Faults last until changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fault {
    /// Behave correctly.
    #[default]
    None,
    /// Accept Go, never answer (as hardware does for an object it discards); an abort
    /// recovers.
    NeverReady,
    /// Busy reads as set whatever happens, also after an abort.
    StuckBusy,
    /// Go sets Error and discards the object; an abort clears it.
    ErrorOnGo,
    /// The response header announces `delta` dwords more (or, if negative, fewer) than
    /// the response holds; the announced length is kept within 2..=2^18.
    WrongLength {
        /// Announced length minus actual length.
        delta: i32,
    },
    /// After Go, Busy is set for the next `status_reads` reads of Status; the read after
    /// them sees Data Object Ready. Counting reads rather than time keeps tests
    /// deterministic.
    SlowResponse {
        /// Status reads that see Busy before the response is ready.
        status_reads: u32,
    },
    /// Accept Go and never answer (as [`Fault::NeverReady`]), and an abort never
    /// completes: once Abort is written, Busy stays set while this fault lasts.
    StuckAbort,
}

/// A shared, changeable [`Fault`] setting for one emulated DOE instance.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle(Arc<Mutex<Fault>>);

impl FaultHandle {
    /// A handle set to `fault`.
    pub fn new(fault: Fault) -> Self {
        FaultHandle(Arc::new(Mutex::new(fault)))
    }

    /// Changes the fault; takes effect at the next register access.
    pub fn set(&self, fault: Fault) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Back to correct behaviour.
    pub fn clear(&self) {
        self.set(Fault::None);
    }

    /// The fault in force.
    pub fn get(&self) -> Fault {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_setting() {
        let handle = FaultHandle::default();
        let other = handle.clone();
        assert_eq!(handle.get(), Fault::None);
        other.set(Fault::SlowResponse { status_reads: 3 });
        assert_eq!(handle.get(), Fault::SlowResponse { status_reads: 3 });
        handle.clear();
        assert_eq!(other.get(), Fault::None);
    }
}
