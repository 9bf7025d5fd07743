//! Config-space addresses: the 0xCF8 CONFIG_ADDRESS register (PCI Local Bus 3.0 §3.2.2.3.2)
//! and ECAM offsets (PCIe r6.0 §7.2.2).

/// CONFIG_ADDRESS bit 31: enable.
const CF8_ENABLE: u32 = 1 << 31;
/// ECAM: bus number shift.
const ECAM_BUS_SHIFT: u64 = 20;
/// ECAM: device number shift.
const ECAM_DEVICE_SHIFT: u64 = 15;
/// ECAM: function number shift.
const ECAM_FUNCTION_SHIFT: u64 = 12;
/// ECAM: register mask (4 KiB per function).
const ECAM_REGISTER_MASK: u64 = 0xfff;

/// A config-space access target on segment 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigAddress {
    /// Bus number.
    pub bus: u8,
    /// Device number (0..=31).
    pub device: u8,
    /// Function number (0..=7).
    pub function: u8,
    /// Byte offset in the function's config space (0..4096).
    pub register: u16,
}

impl ConfigAddress {
    /// Device and function as one byte (`device << 3 | function`).
    pub fn devfn(&self) -> u8 {
        (self.device << 3) | self.function
    }

    /// Decodes CONFIG_ADDRESS plus the byte offset (0..=3) into CONFIG_DATA; `None` when
    /// the enable bit is clear.
    pub fn from_cf8(cf8: u32, data_offset: u8) -> Option<Self> {
        if cf8 & CF8_ENABLE == 0 {
            return None;
        }
        Some(Self {
            bus: ((cf8 >> 16) & 0xff) as u8,
            device: ((cf8 >> 11) & 0x1f) as u8,
            function: ((cf8 >> 8) & 0x7) as u8,
            register: (cf8 & 0xfc) as u16 + u16::from(data_offset & 0x3),
        })
    }

    /// Decodes an offset into the ECAM window; `None` past bus 255.
    pub fn from_ecam(offset: u64) -> Option<Self> {
        let bus = u8::try_from(offset >> ECAM_BUS_SHIFT).ok()?;
        Some(Self {
            bus,
            device: ((offset >> ECAM_DEVICE_SHIFT) & 0x1f) as u8,
            function: ((offset >> ECAM_FUNCTION_SHIFT) & 0x7) as u8,
            register: (offset & ECAM_REGISTER_MASK) as u16,
        })
    }
}

/// Whether a config access of `len` bytes at `register` is one the bus passes on:
/// 1, 2 or 4 bytes, naturally aligned, inside 4 KiB.
pub fn access_ok(register: u16, len: usize) -> bool {
    matches!(len, 1 | 2 | 4)
        && usize::from(register) % len == 0
        && usize::from(register) + len <= 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf8_decoding() {
        let a = ConfigAddress::from_cf8(0x8000_0000 | (1 << 16) | (3 << 11) | (2 << 8) | 0x3c, 2)
            .unwrap();
        assert_eq!(
            a,
            ConfigAddress {
                bus: 1,
                device: 3,
                function: 2,
                register: 0x3e
            }
        );
        assert_eq!(a.devfn(), (3 << 3) | 2);
        assert_eq!(
            ConfigAddress::from_cf8(0x0000_1000, 0),
            None,
            "enable bit clear"
        );
        // The low two bits of CONFIG_ADDRESS are not part of the register number.
        assert_eq!(ConfigAddress::from_cf8(0x8000_0003, 0).unwrap().register, 0);
    }

    #[test]
    fn ecam_decoding() {
        let a = ConfigAddress::from_ecam((2 << 20) | (31 << 15) | (7 << 12) | 0x100).unwrap();
        assert_eq!(
            a,
            ConfigAddress {
                bus: 2,
                device: 31,
                function: 7,
                register: 0x100
            }
        );
        assert_eq!(ConfigAddress::from_ecam(0xffc).unwrap().register, 0xffc);
        assert_eq!(ConfigAddress::from_ecam(256 << 20), None);
    }

    #[test]
    fn access_rules() {
        assert!(access_ok(0, 4) && access_ok(2, 2) && access_ok(3, 1) && access_ok(0xffc, 4));
        assert!(!access_ok(2, 4) && !access_ok(1, 2) && !access_ok(0, 8) && !access_ok(0, 3));
        assert!(!access_ok(4095, 2));
    }
}
