//! What can go wrong walking a capability chain or laying one out for a guest.

use doe_proxy::ext_cap::ExtCapError;

use super::{CapRef, CapSpace};

/// A malformed capability chain in a function's config space.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// A standard capability pointer points into the 64-byte header.
    #[error("standard capability pointer at {at:#x} points into the header ({next:#x})")]
    StandardPointerInHeader {
        /// Where the pointer is (0x34 for the first capability).
        at: u16,
        /// The pointer.
        next: u16,
    },
    /// A standard capability pointer leads back to a capability already visited.
    #[error("standard capability list loops: {at:#x} points back to {next:#x}")]
    StandardLoop {
        /// Where the pointer is.
        at: u16,
        /// The capability visited before.
        next: u16,
    },
    /// A standard capability header reads as all ones: the function went away.
    #[error("standard capability header at {0:#x} reads as all ones (device gone?)")]
    StandardDeviceGone(u16),
    /// The extended chain is malformed (bad pointer, loop, too long, device gone).
    #[error("extended capability list: {0}")]
    Extended(#[from] ExtCapError),
}

/// A decision about a capability that the layout cannot honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// No physical capability starts there.
    #[error("no capability at {0:?}")]
    NoSuchCapability(CapRef),
    /// A handler wants more bytes than the capability it replaces spans.
    #[error("a handler of {len:#x} bytes does not fit the {room:#x} bytes of {at:?}")]
    HandlerTooLong {
        /// The capability.
        at: CapRef,
        /// The handler's length.
        len: u16,
        /// The capability's extent.
        room: u16,
    },
    /// A capability must at least hold its header.
    #[error("{len:#x} bytes cannot hold a {space:?} capability header")]
    TooShort {
        /// The chain.
        space: CapSpace,
        /// The requested length.
        len: u16,
    },
    /// No free, aligned room of that size is left in the chain's space.
    #[error("no free room for a {len:#x}-byte {space:?} capability")]
    NoSpace {
        /// The chain.
        space: CapSpace,
        /// The requested length.
        len: u16,
    },
    /// The offset is unaligned or outside the chain's space (or the capability would run
    /// past its end).
    #[error("cannot place a {len:#x}-byte {space:?} capability at {offset:#x}")]
    BadOffset {
        /// The chain.
        space: CapSpace,
        /// The requested offset.
        offset: u16,
        /// The requested length.
        len: u16,
    },
    /// The requested room overlaps a capability already there.
    #[error("a capability at {offset:#x} would overlap the one at {other:#x}")]
    Overlaps {
        /// The requested offset.
        offset: u16,
        /// The capability in the way.
        other: u16,
    },
    /// Standard capability IDs are 8 bits.
    #[error("capability ID {0:#x} does not fit a standard capability header")]
    IdTooWide(u16),
}
