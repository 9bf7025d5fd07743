//! What a guest sees of a function's capabilities, derived from the physical chains and
//! one decision per capability.
//!
//! - **Pass**: the capability stays in the chain; its body goes to the device.
//! - **Hide**: the capability is unlinked; all its bytes read as zero and writes to them
//!   are dropped, so the device never sees a guest access there.
//! - **Virtualise**: the capability stays in the chain at the same offset, but a handler
//!   owns its body (bytes past the handler's length read zero and drop writes).
//! - **Synthesise**: a capability the device does not have, placed at a free offset,
//!   appended to the chain, with a handler owning its body.
//!
//! The layout owns every header of the guest's chains (the next pointers are rewritten
//! from the decisions), the Capabilities Pointer, the Capabilities List bit of Status and
//! the dword at 0x100. When the first visible extended capability is not at 0x100, 0x100
//! holds a placeholder header (ID 0, version 0) pointing to it; when none is visible,
//! 0x100 reads 0, the header the PCIe spec (r6.0 §7.6.3) prescribes for "no extended
//! capabilities" and the one Linux checks (`header == 0`). All ones would be wrong: Linux
//! then assumes the function has no extended config space at all.
//!
//! The result is a per-byte [`Route`], computed once per change; a config access asks
//! [`CapabilityLayout::route`] for each byte. Everything is pure: tests and the trap map
//! use the same answers.

use std::cmp::Ordering;
use std::fmt::Debug;

use doe_proxy::ext_cap::ExtCapHeader;

use super::extent::dword_len;
use super::walk::{walk_extended, walk_standard};
use super::{CapRef, CapSpace, Capability, CapabilityError, LayoutError, CAP_ALIGN};
use crate::pci::access::CONFIG_SPACE_SIZE;
use crate::pci::config::PciConfig;
use crate::pci::header::{
    CAPABILITIES_POINTER, LEGACY_CONFIG_SIZE, STATUS, STATUS_CAPABILITIES_LIST,
};

/// The Capabilities List bit within the low byte of Status.
const STATUS_CAP_LIST_BIT: u8 = STATUS_CAPABILITIES_LIST as u8;
/// Where the extended chain starts.
const EXT_START: u16 = LEGACY_CONFIG_SIZE;
/// ID of the placeholder header at 0x100 (PCIe: ID 0 is a null capability).
const PLACEHOLDER_ID: u16 = 0;

/// What the guest sees of one physical capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<K> {
    /// Linked, body from the device.
    Pass,
    /// Unlinked; reads zero, writes dropped.
    Hide,
    /// Linked at the same offset; the handler named `key` owns the body up to `len`
    /// bytes from the header.
    Virtualise {
        /// Names the handler.
        key: K,
        /// Bytes the handler owns, header included.
        len: u16,
    },
}

/// Where a capability of the guest's chain comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The device has it (passed or virtualised).
    Physical,
    /// The VMM added it.
    Synthesised,
}

/// One capability of the guest's chain, with the next pointer the guest reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestCap {
    /// Capability ID.
    pub id: u16,
    /// Capability Version (extended chain).
    pub version: u8,
    /// Offset of its header.
    pub offset: u16,
    /// The next capability of the guest's chain, 0 at the end.
    pub next: u16,
    /// Where it comes from.
    pub origin: Origin,
}

/// Who answers a guest access to one config byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<K> {
    /// The device (reads and writes pass).
    Device,
    /// The layout: the byte reads as this value, writes are dropped.
    Fixed(u8),
    /// The device, except that the bits in `mask` read as in `value` (writes pass).
    Patched {
        /// Bits the layout owns.
        mask: u8,
        /// Their value.
        value: u8,
    },
    /// The handler named `key`, at `offset` from its capability's header.
    Handler {
        /// Names the handler.
        key: K,
        /// Offset from the capability's header.
        offset: u16,
    },
}

/// How the layout paints one byte (a byte it does not paint goes to the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint<K> {
    Fixed(u8),
    Patched { mask: u8, value: u8 },
    Handler { key: K, cap_start: u16 },
}

/// Consecutive bytes painted alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run<K> {
    start: u16,
    end: u16,
    paint: Paint<K>,
}

/// The guest's view of a function's capabilities. `K` names handlers.
#[derive(Debug, Clone)]
pub struct CapabilityLayout<K> {
    physical: Vec<(Capability, Decision<K>)>,
    synthesised: Vec<(Capability, K)>,
    runs: Vec<Run<K>>,
}

impl<K: Copy + Eq + Debug> CapabilityLayout<K> {
    /// A layout passing every capability of the chains given (in chain order, with
    /// extents, as [`walk_standard`] and [`walk_extended`] return them).
    pub fn new(standard: Vec<Capability>, extended: Vec<Capability>) -> Self {
        let physical = standard
            .into_iter()
            .chain(extended)
            .map(|cap| (cap, Decision::Pass))
            .collect();
        let mut layout = CapabilityLayout {
            physical,
            synthesised: Vec::new(),
            runs: Vec::new(),
        };
        layout.rebuild();
        layout
    }

    /// Walks both chains of `snapshot` and passes every capability.
    pub fn from_config(snapshot: &PciConfig) -> Result<Self, CapabilityError> {
        Ok(Self::new(
            walk_standard(snapshot)?,
            walk_extended(snapshot)?,
        ))
    }

    /// The device's capabilities of one chain, in chain order.
    pub fn physical(&self, space: CapSpace) -> impl Iterator<Item = Capability> + '_ {
        self.physical
            .iter()
            .map(|(cap, _)| *cap)
            .filter(move |cap| cap.space == space)
    }

    /// The device's capabilities with this ID, in chain order.
    pub fn find(&self, space: CapSpace, id: u16) -> impl Iterator<Item = Capability> + '_ {
        self.physical(space).filter(move |cap| cap.id == id)
    }

    /// The decision taken for a physical capability.
    pub fn decision(&self, at: CapRef) -> Option<Decision<K>> {
        self.physical
            .iter()
            .find(|(cap, _)| cap.at() == at)
            .map(|(_, decision)| *decision)
    }

    /// Passes the capability at `at` to the guest (the default).
    pub fn pass(&mut self, at: CapRef) -> Result<(), LayoutError> {
        self.decide(at, Decision::Pass)
    }

    /// Hides the capability at `at` from the guest.
    pub fn hide(&mut self, at: CapRef) -> Result<(), LayoutError> {
        self.decide(at, Decision::Hide)
    }

    /// Hands the body of the capability at `at` to the handler `key`, which owns `len`
    /// bytes from the header (at most the capability's extent).
    pub fn virtualise(&mut self, at: CapRef, key: K, len: u16) -> Result<(), LayoutError> {
        let cap = self.cap(at)?;
        if len < at.space.header_len() {
            return Err(LayoutError::TooShort {
                space: at.space,
                len,
            });
        }
        if len > cap.len {
            return Err(LayoutError::HandlerTooLong {
                at,
                len,
                room: cap.len,
            });
        }
        self.decide(at, Decision::Virtualise { key, len })
    }

    /// Adds a capability the device does not have at the first free, dword-aligned
    /// offset of `space` with room for `len` bytes, links it at the end of the guest's
    /// chain and hands its body to handler `key`. Returns its offset.
    ///
    /// Free means outside every capability of the device (hidden ones included: their
    /// registers keep reading zero) and every capability synthesised before. In the
    /// standard space, bytes outside capabilities may still be vendor registers that
    /// the synthesised capability then covers.
    pub fn synthesise(
        &mut self,
        space: CapSpace,
        id: u16,
        version: u8,
        len: u16,
        key: K,
    ) -> Result<u16, LayoutError> {
        let offset = (space.start()..space.end())
            .step_by(usize::from(CAP_ALIGN))
            .find(|&offset| self.check_room(space, id, offset, len).is_ok())
            .ok_or(LayoutError::NoSpace { space, len })?;
        self.synthesise_at(space, id, version, offset, len, key)?;
        Ok(offset)
    }

    /// [`CapabilityLayout::synthesise`] at a chosen offset.
    pub fn synthesise_at(
        &mut self,
        space: CapSpace,
        id: u16,
        version: u8,
        offset: u16,
        len: u16,
        key: K,
    ) -> Result<(), LayoutError> {
        self.check_room(space, id, offset, len)?;
        let cap = Capability {
            space,
            id,
            version,
            offset,
            len,
        };
        self.synthesised.push((cap, key));
        self.rebuild();
        Ok(())
    }

    /// The guest's chain: the device's capabilities that are not hidden, in the device's
    /// order, then the synthesised ones, each with its re-linked next pointer (a
    /// capability at 0x100 always comes first).
    pub fn guest_chain(&self, space: CapSpace) -> Vec<GuestCap> {
        let physical = self
            .physical
            .iter()
            .filter(|(cap, decision)| cap.space == space && *decision != Decision::Hide)
            .map(|(cap, _)| (*cap, Origin::Physical));
        let synthesised = self
            .synthesised
            .iter()
            .filter(|(cap, _)| cap.space == space)
            .map(|(cap, _)| (*cap, Origin::Synthesised));
        let mut members: Vec<(Capability, Origin)> = physical.chain(synthesised).collect();
        // The extended chain must start at 0x100: a capability synthesised there (into an
        // empty chain, after others were placed higher) goes first.
        if let Some(first) = members.iter().position(|(cap, _)| cap.offset == EXT_START) {
            let cap = members.remove(first);
            members.insert(0, cap);
        }
        members
            .iter()
            .enumerate()
            .map(|(i, (cap, origin))| GuestCap {
                id: cap.id,
                version: cap.version,
                offset: cap.offset,
                next: members.get(i + 1).map_or(0, |(next, _)| next.offset),
                origin: *origin,
            })
            .collect()
    }

    /// Who answers a guest access to the byte at `offset`.
    pub fn route(&self, offset: u16) -> Route<K> {
        let found = self.runs.binary_search_by(|run| {
            if run.end <= offset {
                Ordering::Less
            } else if run.start > offset {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        match found.map(|i| self.runs[i]) {
            Err(_) => Route::Device,
            Ok(Run { paint, .. }) => match paint {
                Paint::Fixed(value) => Route::Fixed(value),
                Paint::Patched { mask, value } => Route::Patched { mask, value },
                Paint::Handler { key, cap_start } => Route::Handler {
                    key,
                    offset: offset - cap_start,
                },
            },
        }
    }

    /// What a guest reads from a function whose registers are `physical`. Handler-owned
    /// bytes read as zero here (handlers are not called); the header bytes around them
    /// are the layout's.
    pub fn guest_view(&self, physical: &PciConfig) -> PciConfig {
        let mut view = PciConfig::new();
        for offset in 0..CONFIG_SPACE_SIZE {
            let device = physical.u8_at(offset);
            let byte = match self.route(offset) {
                Route::Device => device,
                Route::Fixed(value) => value,
                Route::Patched { mask, value } => (device & !mask) | (value & mask),
                Route::Handler { .. } => 0,
            };
            view.set_u8(offset, byte);
        }
        view
    }

    fn cap(&self, at: CapRef) -> Result<Capability, LayoutError> {
        self.physical
            .iter()
            .map(|(cap, _)| *cap)
            .find(|cap| cap.at() == at)
            .ok_or(LayoutError::NoSuchCapability(at))
    }

    fn decide(&mut self, at: CapRef, decision: Decision<K>) -> Result<(), LayoutError> {
        let entry = self
            .physical
            .iter_mut()
            .find(|(cap, _)| cap.at() == at)
            .ok_or(LayoutError::NoSuchCapability(at))?;
        entry.1 = decision;
        self.rebuild();
        Ok(())
    }

    /// Whether a new capability of `len` bytes fits at `offset`.
    fn check_room(
        &self,
        space: CapSpace,
        id: u16,
        offset: u16,
        len: u16,
    ) -> Result<(), LayoutError> {
        if space == CapSpace::Standard && id > u16::from(u8::MAX) {
            return Err(LayoutError::IdTooWide(id));
        }
        if len < space.header_len() {
            return Err(LayoutError::TooShort { space, len });
        }
        let end = u32::from(offset) + u32::from(dword_len(len));
        if offset % CAP_ALIGN != 0 || offset < space.start() || end > u32::from(space.end()) {
            return Err(LayoutError::BadOffset { space, offset, len });
        }
        let taken = self
            .physical
            .iter()
            .map(|(cap, _)| *cap)
            .chain(self.synthesised.iter().map(|(cap, _)| *cap))
            .filter(|cap| cap.space == space);
        for cap in taken {
            if u32::from(cap.offset) < end && offset < cap.end() {
                return Err(LayoutError::Overlaps {
                    offset,
                    other: cap.offset,
                });
            }
        }
        Ok(())
    }

    /// Recomputes the per-byte routes from the decisions.
    fn rebuild(&mut self) {
        let mut paint: Vec<Option<Paint<K>>> = vec![None; usize::from(CONFIG_SPACE_SIZE)];
        let mut fill = |start: u16, end: u16, with: Paint<K>| {
            let end = usize::from(end).min(paint.len());
            for byte in paint.iter_mut().take(end).skip(usize::from(start)) {
                *byte = Some(with);
            }
        };
        // Bodies first; headers are painted over them.
        for (cap, decision) in &self.physical {
            match *decision {
                Decision::Pass => {}
                Decision::Hide => fill(cap.offset, cap.end(), Paint::Fixed(0)),
                Decision::Virtualise { key, len } => {
                    fill(cap.offset, cap.end(), Paint::Fixed(0));
                    let body = cap.offset + cap.space.header_len();
                    fill(
                        body,
                        cap.offset + len,
                        Paint::Handler {
                            key,
                            cap_start: cap.offset,
                        },
                    );
                }
            }
        }
        for (cap, key) in &self.synthesised {
            let body = cap.offset + cap.space.header_len();
            fill(
                body,
                cap.end(),
                Paint::Handler {
                    key: *key,
                    cap_start: cap.offset,
                },
            );
        }
        let mut fixed = |start: u16, bytes: &[u8]| {
            for (i, &byte) in bytes.iter().enumerate() {
                fill(start + i as u16, start + i as u16 + 1, Paint::Fixed(byte));
            }
        };
        let standard = self.guest_chain(CapSpace::Standard);
        for cap in &standard {
            fixed(cap.offset, &[cap.id as u8, cap.next as u8]);
        }
        let first_std = standard.first().map_or(0, |cap| cap.offset as u8);
        fixed(CAPABILITIES_POINTER, &[first_std]);
        let extended = self.guest_chain(CapSpace::Extended);
        for cap in &extended {
            let header = ExtCapHeader {
                id: cap.id,
                version: cap.version,
                next: cap.next,
            };
            fixed(cap.offset, &header.encode().to_le_bytes());
        }
        if extended.first().map(|cap| cap.offset) != Some(EXT_START) {
            let placeholder = ExtCapHeader {
                id: PLACEHOLDER_ID,
                version: 0,
                next: extended.first().map_or(0, |cap| cap.offset),
            };
            fixed(EXT_START, &placeholder.encode().to_le_bytes());
        }
        let value = if standard.is_empty() {
            0
        } else {
            STATUS_CAP_LIST_BIT
        };
        fill(
            STATUS,
            STATUS + 1,
            Paint::Patched {
                mask: STATUS_CAP_LIST_BIT,
                value,
            },
        );
        self.runs = compress(&paint);
    }
}

/// Run-length encodes the painted bytes.
fn compress<K: Copy + Eq>(paint: &[Option<Paint<K>>]) -> Vec<Run<K>> {
    let mut runs: Vec<Run<K>> = Vec::new();
    for (offset, byte) in paint.iter().enumerate() {
        let Some(with) = *byte else { continue };
        let offset = offset as u16;
        match runs.last_mut() {
            Some(run) if run.end == offset && run.paint == with => run.end += 1,
            _ => runs.push(Run {
                start: offset,
                end: offset + 1,
                paint: with,
            }),
        }
    }
    runs
}
