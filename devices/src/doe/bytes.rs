//! Config accesses of any width, split into the dword registers they touch.
//!
//! The bus delivers 1-, 2- and 4-byte naturally aligned accesses; a handler must still
//! survive anything (see `pci::access`), so this splits any run of bytes.

/// Bytes in a register.
const DWORD: u32 = 4;
/// Bits in a byte.
const BYTE_BITS: u32 = 8;

/// The part of an access that falls in one register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    /// Offset of the register (dword-aligned) from the capability header.
    pub(super) reg: u32,
    /// First byte of the register touched.
    pub(super) first_byte: usize,
    /// The bytes of the access that fall in this register.
    pub(super) data: std::ops::Range<usize>,
}

impl Piece {
    /// Whether the access covers the whole register.
    pub(super) fn is_whole(&self) -> bool {
        self.data.len() == DWORD as usize
    }

    /// The bytes of this piece of `data` in their place in the register, other bytes 0.
    pub(super) fn value(&self, data: &[u8]) -> u32 {
        let mut bytes = [0u8; DWORD as usize];
        bytes[self.first_byte..self.first_byte + self.data.len()]
            .copy_from_slice(&data[self.data.clone()]);
        u32::from_le_bytes(bytes)
    }

    /// The mask of the bytes this piece writes.
    pub(super) fn mask(&self) -> u32 {
        let bits = self.data.len() as u32 * BYTE_BITS;
        let ones = if bits >= u32::BITS {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        ones << (self.first_byte as u32 * BYTE_BITS)
    }

    /// Copies this piece's bytes out of the register's `value` into `data`.
    pub(super) fn fill(&self, value: u32, data: &mut [u8]) {
        let bytes = value.to_le_bytes();
        data[self.data.clone()]
            .copy_from_slice(&bytes[self.first_byte..self.first_byte + self.data.len()]);
    }
}

/// The registers an access of `len` bytes at `offset` touches, in order (no allocation:
/// this runs on every guest access to a virtual mailbox).
pub(super) fn pieces(offset: u16, len: usize) -> impl Iterator<Item = Piece> {
    let mut done = 0;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = u32::from(offset) + done as u32;
        let first_byte = (at % DWORD) as usize;
        let take = (DWORD as usize - first_byte).min(len - done);
        let piece = Piece {
            reg: at - first_byte as u32,
            first_byte,
            data: done..done + take,
        };
        done += take;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(offset: u16, len: usize) -> Vec<Piece> {
        super::pieces(offset, len).collect()
    }

    #[test]
    fn aligned_accesses_are_one_piece() {
        let dword = pieces(0x0c, 4);
        assert_eq!(dword.len(), 1);
        assert!(dword[0].is_whole());
        assert_eq!(dword[0].mask(), u32::MAX);
        let byte = &pieces(0x0b, 1)[0];
        assert_eq!((byte.reg, byte.first_byte), (0x08, 3));
        assert_eq!(byte.mask(), 0xff00_0000);
        assert_eq!(byte.value(&[0x80]), 0x8000_0000);
        let word = &pieces(0x0e, 2)[0];
        assert_eq!(word.mask(), 0xffff_0000);
    }

    #[test]
    fn unaligned_accesses_split_at_register_boundaries() {
        let split = pieces(0x0e, 4);
        assert_eq!(split.len(), 2);
        assert_eq!((split[0].reg, split[0].data.clone()), (0x0c, 0..2));
        assert_eq!((split[1].reg, split[1].data.clone()), (0x10, 2..4));
        let mut data = [0u8; 4];
        split[0].fill(0x1234_5678, &mut data);
        assert_eq!(&data[..2], &[0x34, 0x12]);
        // No overflow at the top of the offset range.
        assert_eq!(pieces(u16::MAX, 4).last().unwrap().reg, 0x1_0000);
        assert!(pieces(0, 0).is_empty());
    }
}
