//! A PCI config space model: 4 KiB of registers, a parallel mask of the bits a guest may
//! write and a mask of the bits it clears by writing 1 (RW1C).
//!
//! Guest accesses ([`PciConfig::read`], [`PciConfig::write`]) follow the hardware's merge
//! rules byte by byte: a write changes only the writable bits of the bytes it covers,
//! clears the RW1C bits it writes as 1, and leaves read-only bits alone. The VMM side sets
//! values and masks directly (`set_*`). Registers are little-endian, as in PCI.
//!
//! The same type holds a read-only *snapshot* of a physical function (nothing writable);
//! the capability walks and layouts are pure functions over such a snapshot.

use super::access::{check_config_access, AccessError, CONFIG_SPACE_SIZE};

/// Bytes in config space.
const SIZE: usize = CONFIG_SPACE_SIZE as usize;
/// What a read past the end of config space returns (as an absent function would).
const ABSENT_BYTE: u8 = 0xff;

/// 4 KiB of config registers with writable and RW1C masks.
#[derive(Clone, PartialEq, Eq)]
pub struct PciConfig {
    regs: Box<[u8; SIZE]>,
    writable: Box<[u8; SIZE]>,
    rw1c: Box<[u8; SIZE]>,
}

impl std::fmt::Debug for PciConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PciConfig")
            .field("id", &format_args!("{:#010x}", self.u32_at(0)))
            .finish_non_exhaustive()
    }
}

impl Default for PciConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl PciConfig {
    /// All registers zero, nothing writable.
    pub fn new() -> Self {
        PciConfig {
            regs: Box::new([0; SIZE]),
            writable: Box::new([0; SIZE]),
            rw1c: Box::new([0; SIZE]),
        }
    }

    /// A read-only snapshot of `bytes` (config space from offset 0; a shorter slice
    /// leaves the rest zero, a longer one is cut at 4 KiB).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut cfg = Self::new();
        let len = bytes.len().min(SIZE);
        cfg.regs[..len].copy_from_slice(&bytes[..len]);
        cfg
    }

    /// The registers as bytes.
    pub fn as_bytes(&self) -> &[u8; SIZE] {
        &self.regs
    }

    /// A guest read of `data.len()` bytes at `offset`.
    pub fn read(&self, offset: u16, data: &mut [u8]) -> Result<(), AccessError> {
        check_config_access(offset, data.len())?;
        let start = usize::from(offset);
        data.copy_from_slice(&self.regs[start..start + data.len()]);
        Ok(())
    }

    /// A guest write of `data` at `offset`: per bit, writable bits take the written
    /// value, RW1C bits written as 1 clear, everything else is kept.
    pub fn write(&mut self, offset: u16, data: &[u8]) -> Result<(), AccessError> {
        check_config_access(offset, data.len())?;
        let start = usize::from(offset);
        for (i, &byte) in data.iter().enumerate() {
            let at = start + i;
            let (writable, rw1c) = (self.writable[at], self.rw1c[at]);
            let plain = writable & !rw1c;
            let kept = self.regs[at] & !plain;
            self.regs[at] = (kept | (byte & plain)) & !(byte & rw1c);
        }
        Ok(())
    }

    /// The byte at `offset`; past the end of config space, all ones.
    pub fn u8_at(&self, offset: u16) -> u8 {
        self.regs
            .get(usize::from(offset))
            .copied()
            .unwrap_or(ABSENT_BYTE)
    }

    /// The little-endian word at `offset` (any alignment; bytes past the end read as
    /// all ones).
    pub fn u16_at(&self, offset: u16) -> u16 {
        u16::from_le_bytes(self.bytes_at(offset))
    }

    /// The little-endian dword at `offset` (any alignment; bytes past the end read as
    /// all ones).
    pub fn u32_at(&self, offset: u16) -> u32 {
        u32::from_le_bytes(self.bytes_at(offset))
    }

    fn bytes_at<const N: usize>(&self, offset: u16) -> [u8; N] {
        let mut out = [ABSENT_BYTE; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.u8_at(offset.saturating_add(i as u16));
        }
        out
    }

    /// Sets bytes directly, whatever their masks; bytes past the end are ignored.
    pub fn set_bytes(&mut self, offset: u16, bytes: &[u8]) {
        Self::put(&mut self.regs, offset, bytes);
    }

    /// Sets the byte at `offset` directly.
    pub fn set_u8(&mut self, offset: u16, value: u8) {
        self.set_bytes(offset, &[value]);
    }

    /// Sets the word at `offset` directly.
    pub fn set_u16(&mut self, offset: u16, value: u16) {
        self.set_bytes(offset, &value.to_le_bytes());
    }

    /// Sets the dword at `offset` directly.
    pub fn set_u32(&mut self, offset: u16, value: u32) {
        self.set_bytes(offset, &value.to_le_bytes());
    }

    /// Sets which bits of the byte at `offset` a guest may write.
    pub fn set_writable_u8(&mut self, offset: u16, mask: u8) {
        Self::put(&mut self.writable, offset, &[mask]);
    }

    /// Sets which bits of the word at `offset` a guest may write.
    pub fn set_writable_u16(&mut self, offset: u16, mask: u16) {
        Self::put(&mut self.writable, offset, &mask.to_le_bytes());
    }

    /// Sets which bits of the dword at `offset` a guest may write.
    pub fn set_writable_u32(&mut self, offset: u16, mask: u32) {
        Self::put(&mut self.writable, offset, &mask.to_le_bytes());
    }

    /// Sets which bits of the word at `offset` are RW1C.
    pub fn set_rw1c_u16(&mut self, offset: u16, mask: u16) {
        Self::put(&mut self.rw1c, offset, &mask.to_le_bytes());
    }

    /// The writable mask of the dword at `offset`.
    pub fn writable_u32_at(&self, offset: u16) -> u32 {
        let mut out = [0; 4];
        for (i, byte) in out.iter_mut().enumerate() {
            let at = usize::from(offset) + i;
            *byte = self.writable.get(at).copied().unwrap_or(0);
        }
        u32::from_le_bytes(out)
    }

    /// Makes `len` bytes at `offset` read as zero and ignore writes.
    pub fn clear_range(&mut self, offset: u16, len: u16) {
        let start = usize::from(offset).min(SIZE);
        let end = (usize::from(offset) + usize::from(len)).min(SIZE);
        for array in [&mut self.regs, &mut self.writable, &mut self.rw1c] {
            array[start..end].fill(0);
        }
    }

    fn put(array: &mut [u8; SIZE], offset: u16, bytes: &[u8]) {
        let start = usize::from(offset).min(SIZE);
        let end = (start + bytes.len()).min(SIZE);
        array[start..end].copy_from_slice(&bytes[..end - start]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::header::{COMMAND, STATUS, STATUS_RW1C};

    fn read(cfg: &PciConfig, offset: u16, len: usize) -> Vec<u8> {
        let mut data = vec![0; len];
        cfg.read(offset, &mut data).unwrap();
        data
    }

    #[test]
    fn writes_change_only_writable_bits() {
        let mut cfg = PciConfig::new();
        cfg.set_u32(0x40, 0x1234_5678);
        cfg.set_writable_u32(0x40, 0x00ff_00f0);
        cfg.write(0x40, &0xffff_ffffu32.to_le_bytes()).unwrap();
        assert_eq!(cfg.u32_at(0x40), 0x12ff_56f8);
        cfg.write(0x40, &0u32.to_le_bytes()).unwrap();
        assert_eq!(cfg.u32_at(0x40), 0x1200_5608);
    }

    #[test]
    fn narrow_writes_merge_into_the_dword() {
        let mut cfg = PciConfig::new();
        cfg.set_writable_u32(0x40, u32::MAX);
        cfg.set_u32(0x40, 0x1122_3344);
        cfg.write(0x41, &[0xaa]).unwrap();
        assert_eq!(cfg.u32_at(0x40), 0x1122_aa44);
        cfg.write(0x42, &0xbbccu16.to_le_bytes()).unwrap();
        assert_eq!(cfg.u32_at(0x40), 0xbbcc_aa44);
        assert_eq!(read(&cfg, 0x42, 2), vec![0xcc, 0xbb]);
        assert_eq!(read(&cfg, 0x43, 1), vec![0xbb]);
    }

    #[test]
    fn rw1c_bits_clear_on_one_and_stay_on_zero() {
        let mut cfg = PciConfig::new();
        // Command word writable, Status error bits RW1C.
        cfg.set_writable_u16(COMMAND, 0xffff);
        cfg.set_rw1c_u16(STATUS, STATUS_RW1C);
        cfg.set_u16(STATUS, 0x8810); // Detected Parity Error, Target Abort, Cap List.
        cfg.write(COMMAND, &0x0000_0006u32.to_le_bytes()).unwrap();
        assert_eq!(
            cfg.u16_at(STATUS),
            0x8810,
            "writing 0 to RW1C bits keeps them"
        );
        cfg.write(STATUS, &0x0800u16.to_le_bytes()).unwrap();
        assert_eq!(cfg.u16_at(STATUS), 0x8010);
        cfg.write(COMMAND, &0xffff_0006u32.to_le_bytes()).unwrap();
        assert_eq!(cfg.u16_at(STATUS), 0x0010, "read-only Cap List survives");
        assert_eq!(cfg.u16_at(COMMAND), 0x0006);
    }

    #[test]
    fn bad_accesses_are_refused_and_change_nothing() {
        let mut cfg = PciConfig::new();
        cfg.set_writable_u32(0xffc, u32::MAX);
        let before = cfg.clone();
        assert!(cfg.write(0xffd, &[1, 2, 3]).is_err());
        assert!(cfg.write(0xffe, &[1, 2, 3, 4]).is_err());
        assert!(cfg.write(0x1000, &[1]).is_err());
        assert_eq!(cfg, before);
        assert!(cfg.read(0xfff, &mut [0; 2]).is_err());
    }

    #[test]
    fn reads_past_the_end_are_all_ones() {
        let cfg = PciConfig::new();
        assert_eq!(cfg.u32_at(0xffe), 0xffff_0000);
        assert_eq!(cfg.u8_at(u16::MAX), 0xff);
    }

    #[test]
    fn snapshots_are_read_only_and_cleared_ranges_read_zero() {
        let mut bytes = vec![0xab; 0x200];
        bytes[0] = 0x86;
        let mut cfg = PciConfig::from_bytes(&bytes);
        assert_eq!(cfg.u8_at(0), 0x86);
        assert_eq!(cfg.u8_at(0x200), 0);
        cfg.write(0x100, &[0; 4]).unwrap();
        assert_eq!(cfg.u32_at(0x100), 0xabab_abab);
        cfg.clear_range(0x100, 0x18);
        assert_eq!(cfg.u32_at(0x114), 0);
        assert_eq!(cfg.u32_at(0x118), 0xabab_abab);
        cfg.clear_range(0xff0, 0x100);
        assert_eq!(cfg.u32_at(0xffc), 0);
    }
}
