//! A first-class model of a function's capabilities, standard (the chain from the
//! Capabilities Pointer at 0x34) and extended (the chain from 0x100).
//!
//! - [`walk`]: read both chains from a config snapshot, bounded, with typed errors for
//!   malformed chains; each capability gets the extent its registers span ([`extent`]).
//! - [`layout`]: what the guest sees — per capability *pass*, *hide* (unlinked, reads
//!   zero, writes dropped) or *virtualise* (a handler owns its registers), plus
//!   *synthesised* capabilities at free offsets; the guest chains are re-linked from
//!   those decisions, and every config byte gets a [`Route`].
//! - [`handler`]: the trait a virtualised or synthesised capability implements.
//!
//! Every device model uses the same layout: the VFIO passthrough function hides DOE,
//! the virtual DOE will virtualise it at the same offset, a VF will get a synthesised one.

mod error;
pub mod extent;
pub mod handler;
pub mod ids;
pub mod layout;
pub mod msi;
pub mod walk;

#[cfg(test)]
mod layout_tests;

pub use error::{CapabilityError, LayoutError};
pub use handler::CapabilityHandler;
pub use layout::{CapabilityLayout, Decision, GuestCap, Origin, Route};
pub use walk::{walk_extended, walk_standard};

use super::access::CONFIG_SPACE_SIZE;
use super::header::{HEADER_SIZE, LEGACY_CONFIG_SIZE};

/// Bytes of a standard capability header: ID, Next Pointer.
const STD_HEADER_LEN: u16 = 2;
/// Bytes of an extended capability header: ID, Version, Next Offset in one dword.
const EXT_HEADER_LEN: u16 = 4;
/// Capabilities start on dword boundaries.
pub const CAP_ALIGN: u16 = 4;

/// Which of the two capability chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapSpace {
    /// The PCI-compatible chain: 8-bit IDs and pointers, 0x40..0x100.
    Standard,
    /// The PCI Express extended chain: 16-bit IDs, 0x100..0x1000.
    Extended,
}

impl CapSpace {
    /// First offset a capability of this chain may use.
    pub fn start(self) -> u16 {
        match self {
            CapSpace::Standard => HEADER_SIZE,
            CapSpace::Extended => LEGACY_CONFIG_SIZE,
        }
    }

    /// One past the last byte a capability of this chain may use.
    pub fn end(self) -> u16 {
        match self {
            CapSpace::Standard => LEGACY_CONFIG_SIZE,
            CapSpace::Extended => CONFIG_SPACE_SIZE,
        }
    }

    /// Bytes of a capability header in this chain.
    pub fn header_len(self) -> u16 {
        match self {
            CapSpace::Standard => STD_HEADER_LEN,
            CapSpace::Extended => EXT_HEADER_LEN,
        }
    }
}

/// Names one capability of a function: its chain and header offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CapRef {
    /// The chain.
    pub space: CapSpace,
    /// Offset of its header.
    pub offset: u16,
}

/// One capability: what it is, where it is, and how far its registers reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The chain it is in.
    pub space: CapSpace,
    /// Capability ID (8 bits in the standard chain).
    pub id: u16,
    /// Capability Version (extended chain; 0 in the standard chain).
    pub version: u8,
    /// Offset of its header.
    pub offset: u16,
    /// Bytes its registers span from `offset`, header included (see [`extent`]).
    pub len: u16,
}

impl Capability {
    /// How to name this capability.
    pub fn at(&self) -> CapRef {
        CapRef {
            space: self.space,
            offset: self.offset,
        }
    }

    /// One past its last byte.
    pub fn end(&self) -> u16 {
        self.offset + self.len
    }

    /// Whether it covers byte `offset`.
    pub fn covers(&self, offset: u16) -> bool {
        (self.offset..self.end()).contains(&offset)
    }
}
