//! Well-formed config accesses: 1, 2 or 4 bytes, naturally aligned, inside 4 KiB.
//!
//! The bus promises this (see [`crate::pci::PciDevice`]), but every model checks again,
//! because a wrong access must never panic or reach a device.

pub use doe_proxy::config_space::CONFIG_SPACE_SIZE;

/// Size of a byte access.
pub const BYTE: usize = 1;
/// Size of a word access.
pub const WORD: usize = 2;
/// Size of a dword access, the widest config access.
pub const DWORD: usize = 4;

/// A config access that no PCI function accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Config accesses are 1, 2 or 4 bytes wide.
    #[error("config access of {0} bytes (only 1, 2 or 4)")]
    BadWidth(usize),
    /// The offset is not a multiple of the width.
    #[error("config access of {len} bytes at {offset:#x} is not naturally aligned")]
    Unaligned {
        /// Offset of the access.
        offset: u16,
        /// Width of the access.
        len: usize,
    },
    /// The access runs past the end of the 4 KiB config space.
    #[error("config access of {len} bytes at {offset:#x} runs past 4 KiB")]
    OutOfRange {
        /// Offset of the access.
        offset: u16,
        /// Width of the access.
        len: usize,
    },
}

/// Checks that `len` bytes at `offset` form a well-formed config access.
pub fn check_config_access(offset: u16, len: usize) -> Result<(), AccessError> {
    if !matches!(len, BYTE | WORD | DWORD) {
        return Err(AccessError::BadWidth(len));
    }
    if usize::from(offset) % len != 0 {
        return Err(AccessError::Unaligned { offset, len });
    }
    if usize::from(offset) + len > usize::from(CONFIG_SPACE_SIZE) {
        return Err(AccessError::OutOfRange { offset, len });
    }
    Ok(())
}

/// Splits the byte run `[start, start + len)` into naturally aligned 1-, 2- and 4-byte
/// pieces (largest first), the only accesses devices are asked to perform.
pub fn aligned_pieces(start: u16, len: usize) -> impl Iterator<Item = (u16, usize)> {
    let end = usize::from(start) + len;
    let mut at = usize::from(start);
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let left = end - at;
        let width = [DWORD, WORD, BYTE]
            .into_iter()
            .find(|&w| at % w == 0 && w <= left)
            .unwrap_or(BYTE);
        let piece = (u16::try_from(at).ok()?, width);
        at += width;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_accesses() {
        assert!(check_config_access(0, 4).is_ok());
        assert!(check_config_access(0xffc, 4).is_ok());
        assert!(check_config_access(0xfff, 1).is_ok());
        assert!(check_config_access(0x102, 2).is_ok());
    }

    #[test]
    fn hostile_accesses_are_refused() {
        assert_eq!(check_config_access(0, 3), Err(AccessError::BadWidth(3)));
        assert_eq!(check_config_access(0, 0), Err(AccessError::BadWidth(0)));
        assert_eq!(check_config_access(0, 8), Err(AccessError::BadWidth(8)));
        assert_eq!(
            check_config_access(0x101, 2),
            Err(AccessError::Unaligned {
                offset: 0x101,
                len: 2
            })
        );
        assert_eq!(
            check_config_access(0x1000, 1),
            Err(AccessError::OutOfRange {
                offset: 0x1000,
                len: 1
            })
        );
        assert_eq!(
            check_config_access(u16::MAX, 1),
            Err(AccessError::OutOfRange {
                offset: u16::MAX,
                len: 1
            })
        );
    }

    #[test]
    fn runs_split_into_aligned_pieces() {
        let pieces = |s, l| aligned_pieces(s, l).collect::<Vec<_>>();
        assert_eq!(pieces(0x40, 4), vec![(0x40, 4)]);
        assert_eq!(pieces(0x41, 3), vec![(0x41, 1), (0x42, 2)]);
        assert_eq!(pieces(0x40, 3), vec![(0x40, 2), (0x42, 1)]);
        assert_eq!(pieces(0x43, 1), vec![(0x43, 1)]);
        assert!(pieces(0x40, 0).is_empty());
    }
}
