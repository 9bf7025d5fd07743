//! Why a function cannot be assigned.

use super::backend::BackendError;
use crate::pci::bar::BarError;
use crate::pci::capability::{CapabilityError, LayoutError};

/// Building a [`super::PassthroughFunction`] failed.
#[derive(Debug, thiserror::Error)]
pub enum PassthroughError {
    /// The config space of the function could not be read.
    #[error("cannot read the function's config space: {0}")]
    Snapshot(#[source] BackendError),
    /// Only type 0 (endpoint) functions can be assigned.
    #[error("header type {0:#04x} is not a type 0 endpoint; only endpoints can be assigned")]
    NotAnEndpoint(u8),
    /// A capability chain of the function is malformed.
    #[error("malformed capability chain: {0}")]
    Capabilities(#[from] CapabilityError),
    /// A capability decision could not be honoured (e.g. a handler does not fit).
    #[error("capability layout: {0}")]
    Layout(#[from] LayoutError),
    /// Querying BARs or interrupts of the device failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A BAR of the device cannot be emulated.
    #[error(transparent)]
    Bar(#[from] BarError),
    /// The MSI-X table or PBA is not inside an implemented memory BAR.
    #[error("the MSI-X {what} at {offset:#x} in BAR {bar} is outside that BAR")]
    MsixOutsideBar {
        /// "table" or "PBA".
        what: &'static str,
        /// Its BIR.
        bar: u8,
        /// Its offset.
        offset: u64,
    },
}
