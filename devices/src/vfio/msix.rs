//! The MSI-X capability and table of an assigned function, emulated (PCIe r6.0 §7.7.2).
//!
//! Enable and Function Mask live in the function's local config model; the table lives
//! here. The guest's table writes never reach the device (VFIO programs the physical
//! table itself when the VMM enables MSI-X), and the pages holding the table and the PBA
//! are trapped, never mapped. The PBA reads as zero: pending bits of masked vectors are
//! held by the VMM (a detached irqfd) rather than tracked here; Linux never reads it.

use std::ops::Range;

use super::interrupt::{MsiMessage, VectorRoute};
use crate::pci::capability::msi::{
    MSIX_BIR_MASK, MSIX_CONTROL, MSIX_CONTROL_ENABLE, MSIX_CONTROL_FUNCTION_MASK,
    MSIX_CONTROL_TABLE_SIZE, MSIX_ENTRY_ADDRESS_HI, MSIX_ENTRY_ADDRESS_LO, MSIX_ENTRY_DATA,
    MSIX_ENTRY_SIZE, MSIX_ENTRY_VECTOR_CONTROL, MSIX_OFFSET_MASK, MSIX_PBA, MSIX_TABLE,
    MSIX_VECTOR_MASKED,
};
use crate::pci::config::PciConfig;

/// Dwords per table entry.
const ENTRY_DWORDS: usize = 4;
/// Bytes per dword.
const DWORD: usize = 4;
/// Bits in a dword, to join the address halves.
const DWORD_BITS: u32 = 32;
/// Writable bits of each dword of an entry: address (bits 1:0 reserved), upper address,
/// data, vector control (only the Mask Bit).
const ENTRY_WRITABLE: [u32; ENTRY_DWORDS] = [!0b11, u32::MAX, u32::MAX, MSIX_VECTOR_MASKED];
/// Each PBA qword holds the pending bits of 64 vectors.
const PBA_VECTORS_PER_QWORD: u64 = 64;
/// Bytes per PBA qword.
const PBA_QWORD: u64 = 8;

/// A structure (table or PBA) inside a BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BarSlice {
    /// BAR index (BIR).
    pub(crate) bar: u8,
    /// Offset in the BAR.
    pub(crate) offset: u64,
    /// Length in bytes.
    pub(crate) len: u64,
}

impl BarSlice {
    /// Where an access of `len` bytes at `offset` in `bar` falls relative to the slice:
    /// `Some(Ok(offset in slice))` inside it, `Some(Err(()))` straddling its edge,
    /// `None` outside.
    pub(crate) fn locate(&self, bar: u8, offset: u64, len: u64) -> Option<Result<u64, ()>> {
        if bar != self.bar {
            return None;
        }
        let end = offset.saturating_add(len);
        let slice_end = self.offset + self.len;
        if end <= self.offset || offset >= slice_end {
            None
        } else if offset >= self.offset && end <= slice_end {
            Some(Ok(offset - self.offset))
        } else {
            Some(Err(()))
        }
    }

    /// One past its last byte.
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Where the function's MSI-X capability, table and PBA are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MsixCap {
    offset: u16,
    vectors: u16,
    /// The table.
    pub(crate) table: BarSlice,
    /// The Pending Bit Array.
    pub(crate) pba: BarSlice,
}

impl MsixCap {
    /// The MSI-X capability at `offset` of the physical function.
    pub(crate) fn new(physical: &PciConfig, offset: u16) -> Self {
        let vectors = (physical.u16_at(offset + MSIX_CONTROL) & MSIX_CONTROL_TABLE_SIZE) + 1;
        let slice = |reg: u16, len: u64| {
            let raw = physical.u32_at(offset + reg);
            BarSlice {
                bar: (raw & MSIX_BIR_MASK) as u8,
                offset: u64::from(raw & MSIX_OFFSET_MASK),
                len,
            }
        };
        let table_len = u64::from(vectors) * MSIX_ENTRY_SIZE;
        let pba_len = u64::from(vectors).div_ceil(PBA_VECTORS_PER_QWORD) * PBA_QWORD;
        MsixCap {
            offset,
            vectors,
            table: slice(MSIX_TABLE, table_len),
            pba: slice(MSIX_PBA, pba_len),
        }
    }

    /// Vectors in the table.
    pub(crate) fn vectors(&self) -> u16 {
        self.vectors
    }

    /// Whether a config access at `offset` of `len` bytes touches Message Control.
    pub(crate) fn touches_control(&self, offset: u16, len: usize) -> bool {
        let control = usize::from(self.offset + MSIX_CONTROL);
        usize::from(offset) < control + 2 && usize::from(offset) + len > control
    }

    /// Writes the capability's reset state (disabled, unmasked) and writable bits into
    /// `local`; Table and PBA locations are the device's.
    pub(crate) fn install(&self, physical: &PciConfig, local: &mut PciConfig) {
        let at = |reg: u16| self.offset + reg;
        local.set_u16(at(MSIX_CONTROL), self.vectors - 1);
        local.set_writable_u16(
            at(MSIX_CONTROL),
            MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK,
        );
        for reg in [MSIX_TABLE, MSIX_PBA] {
            local.set_u32(at(reg), physical.u32_at(at(reg)));
            local.set_writable_u32(at(reg), 0);
        }
    }

    /// (MSI-X Enable, Function Mask) as the guest set them.
    pub(crate) fn control(&self, local: &PciConfig) -> (bool, bool) {
        let control = local.u16_at(self.offset + MSIX_CONTROL);
        (
            control & MSIX_CONTROL_ENABLE != 0,
            control & MSIX_CONTROL_FUNCTION_MASK != 0,
        )
    }

    /// The routes the guest asks for, or `None` while MSI-X is disabled.
    pub(crate) fn wanted(&self, local: &PciConfig, table: &MsixTable) -> Option<Vec<VectorRoute>> {
        let (enabled, function_masked) = self.control(local);
        enabled.then(|| {
            (0..usize::from(self.vectors))
                .map(|vector| table.route(vector, function_masked))
                .collect()
        })
    }
}

/// The guest's MSI-X table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsixTable {
    entries: Vec<[u32; ENTRY_DWORDS]>,
}

impl MsixTable {
    /// A table of `vectors` entries in reset state (every vector masked).
    pub(crate) fn new(vectors: u16) -> Self {
        let mut entry = [0; ENTRY_DWORDS];
        entry[MSIX_ENTRY_VECTOR_CONTROL] = MSIX_VECTOR_MASKED;
        MsixTable {
            entries: vec![entry; usize::from(vectors)],
        }
    }

    /// Reads `data.len()` bytes at `offset` in the table (bytes past the end read as all
    /// ones).
    pub(crate) fn read(&self, offset: u64, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = self
                .byte(offset.saturating_add(i as u64))
                .unwrap_or(u8::MAX);
        }
    }

    /// Writes `data` at `offset` in the table, keeping reserved bits; returns the entries
    /// it touched.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> Range<usize> {
        let first = usize::try_from(offset / MSIX_ENTRY_SIZE).unwrap_or(usize::MAX);
        let mut last = first;
        for (i, &byte) in data.iter().enumerate() {
            let at = offset.saturating_add(i as u64);
            let (entry, dword, shift) = Self::locate(at);
            let Some(slot) = self.entries.get_mut(entry) else {
                continue;
            };
            let writable = (ENTRY_WRITABLE[dword] >> shift) & u32::from(u8::MAX);
            let value = slot[dword];
            let merged = (value & !(writable << shift)) | ((u32::from(byte) & writable) << shift);
            slot[dword] = merged;
            last = entry;
        }
        first..last.saturating_add(1).min(self.entries.len()).max(first)
    }

    /// The route of entry `vector`, masked also when the whole function is.
    pub(crate) fn route(&self, vector: usize, function_masked: bool) -> VectorRoute {
        let entry = self.entries.get(vector).copied().unwrap_or_default();
        VectorRoute {
            message: MsiMessage {
                address: u64::from(entry[MSIX_ENTRY_ADDRESS_LO])
                    | u64::from(entry[MSIX_ENTRY_ADDRESS_HI]) << DWORD_BITS,
                data: entry[MSIX_ENTRY_DATA],
            },
            masked: function_masked || entry[MSIX_ENTRY_VECTOR_CONTROL] & MSIX_VECTOR_MASKED != 0,
        }
    }

    fn byte(&self, at: u64) -> Option<u8> {
        let (entry, dword, shift) = Self::locate(at);
        self.entries.get(entry).map(|e| (e[dword] >> shift) as u8)
    }

    /// (entry, dword in entry, bit shift in dword) of byte `at`.
    fn locate(at: u64) -> (usize, usize, u32) {
        let entry = usize::try_from(at / MSIX_ENTRY_SIZE).unwrap_or(usize::MAX);
        let within = (at % MSIX_ENTRY_SIZE) as usize;
        (entry, within / DWORD, (within % DWORD) as u32 * u8::BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_reset_masked_and_keep_reserved_bits() {
        let mut table = MsixTable::new(2);
        let mut data = [0; 16];
        table.read(0, &mut data);
        assert_eq!(data[12], 1, "reset masked");
        table.write(0, &u32::MAX.to_le_bytes());
        table.write(12, &u32::MAX.to_le_bytes());
        table.read(0, &mut data);
        assert_eq!(&data[0..4], &[0xfc, 0xff, 0xff, 0xff]);
        assert_eq!(&data[12..16], &[1, 0, 0, 0]);
    }

    #[test]
    fn routes_join_the_address_and_apply_both_masks() {
        let mut table = MsixTable::new(4);
        let touched = table.write(0x10, &0x1_fee0_0000u64.to_le_bytes());
        assert_eq!(touched, 1..2);
        table.write(0x18, &0x0000_0041u32.to_le_bytes());
        table.write(0x1c, &0u32.to_le_bytes());
        let route = table.route(1, false);
        assert_eq!(
            route.message,
            MsiMessage {
                address: 0x1_fee0_0000,
                data: 0x41
            }
        );
        assert!(!route.masked);
        assert!(table.route(1, true).masked);
        assert!(table.route(0, false).masked);
    }

    #[test]
    fn accesses_past_the_table_are_harmless() {
        let mut table = MsixTable::new(1);
        assert_eq!(table.write(0x10, &[1, 2, 3, 4]), 1..1);
        let mut data = [0; 4];
        table.read(0x0e, &mut data);
        assert_eq!(data, [0, 0, 0xff, 0xff]);
        table.write(u64::MAX - 1, &[1, 2, 3, 4]);
        table.read(u64::MAX - 1, &mut data);
        assert_eq!(data, [0xff; 4]);
    }

    #[test]
    fn slices_locate_accesses() {
        let slice = BarSlice {
            bar: 4,
            offset: 0x1000,
            len: 0x40,
        };
        assert_eq!(slice.locate(4, 0x1010, 4), Some(Ok(0x10)));
        assert_eq!(slice.locate(4, 0x103c, 8), Some(Err(())));
        assert_eq!(slice.locate(4, 0xffc, 8), Some(Err(())));
        assert_eq!(slice.locate(4, 0x1040, 4), None);
        assert_eq!(slice.locate(2, 0x1010, 4), None);
        assert_eq!(slice.locate(4, u64::MAX, 8), None);
    }
}
