//! The trap map of an assigned function: for every config byte, whether reads come from
//! the device, from the VMM's local register model, or from a capability handler, and
//! whether writes reach the device.
//!
//! A byte can be split: the bits in its local mask read from the local model (which
//! also takes the write, within its writable mask) and the others from the device. This
//! is how the Command register keeps Memory/IO Space Enable locally while the rest, and
//! the write itself, go to the device.

use std::ops::Range;

use crate::pci::access::CONFIG_SPACE_SIZE;

/// A local mask covering the whole byte.
pub(crate) const ALL_LOCAL: u8 = u8::MAX;

/// Who serves one config byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteTrap {
    /// Bits in `local` read from the local model, the rest from the device; writes
    /// update the local model and reach the device if `forward`.
    Split {
        /// Bits served locally.
        local: u8,
        /// Whether writes reach the device.
        forward: bool,
    },
    /// A capability handler owns the byte.
    Handler {
        /// Which handler.
        index: usize,
        /// Offset from its capability's header.
        offset: u16,
    },
}

/// Straight to the device.
const PASS: ByteTrap = ByteTrap::Split {
    local: 0,
    forward: true,
};

/// Per-byte traps of the 4 KiB config space.
#[derive(Debug, Clone)]
pub(crate) struct TrapMap {
    bytes: Vec<ByteTrap>,
}

impl TrapMap {
    /// Everything passes to the device.
    pub(crate) fn passthrough() -> Self {
        TrapMap {
            bytes: vec![PASS; usize::from(CONFIG_SPACE_SIZE)],
        }
    }

    /// Sets the trap of one byte (ignored past 4 KiB).
    pub(crate) fn set(&mut self, offset: u16, trap: ByteTrap) {
        if let Some(byte) = self.bytes.get_mut(usize::from(offset)) {
            *byte = trap;
        }
    }

    /// Serves `len` bytes at `offset` locally; writes never reach the device.
    pub(crate) fn emulate(&mut self, offset: u16, len: u16) {
        for at in offset..offset.saturating_add(len) {
            self.set(
                at,
                ByteTrap::Split {
                    local: ALL_LOCAL,
                    forward: false,
                },
            );
        }
    }

    /// The trap of the byte at `offset`.
    pub(crate) fn get(&self, offset: u16) -> ByteTrap {
        self.bytes
            .get(usize::from(offset))
            .copied()
            .unwrap_or(ByteTrap::Split {
                local: ALL_LOCAL,
                forward: false,
            })
    }
}

/// Groups `0..len` into maximal runs of consecutive indexes with equal keys (`None`: not
/// part of any run).
pub(crate) fn runs<T: PartialEq>(
    len: usize,
    key: impl Fn(usize) -> Option<T>,
) -> Vec<(Range<usize>, T)> {
    let mut out: Vec<(Range<usize>, T)> = Vec::new();
    for i in 0..len {
        let Some(k) = key(i) else { continue };
        match out.last_mut() {
            Some((range, last)) if range.end == i && *last == k => range.end += 1,
            _ => out.push((i..i + 1, k)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_equal_neighbours() {
        let keys = [Some(1), Some(1), None, Some(1), Some(2)];
        assert_eq!(
            runs(keys.len(), |i| keys[i]),
            vec![(0..2, 1), (3..4, 1), (4..5, 2)]
        );
        assert!(runs(0, |_| Some(0)).is_empty());
    }

    #[test]
    fn out_of_range_bytes_are_never_the_device_s() {
        let mut map = TrapMap::passthrough();
        map.set(0x1000, PASS);
        assert_eq!(map.get(0xfff), PASS);
        assert_eq!(
            map.get(0x1000),
            ByteTrap::Split {
                local: ALL_LOCAL,
                forward: false
            }
        );
    }
}
