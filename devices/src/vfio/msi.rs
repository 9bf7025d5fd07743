//! The MSI capability of an assigned function, emulated (PCIe r6.0 §7.7.1).
//!
//! The guest's address, data, enable, vector count and mask bits live in the function's
//! local config model; the device's own MSI registers are never written by the guest
//! (VFIO enables MSI on the device with `VFIO_DEVICE_SET_IRQS`, and the VMM routes each
//! vector to the guest's message). Read-only capability bits (64-bit, per-vector masking,
//! Multiple Message Capable) are the device's. Extended Message Data is not offered.

use super::interrupt::{MsiMessage, VectorRoute};
use crate::pci::capability::msi::{
    MsiLayout, MSI_ADDRESS_HI, MSI_ADDRESS_LO, MSI_ADDRESS_LO_MASK, MSI_CONTROL, MSI_CONTROL_64BIT,
    MSI_CONTROL_ENABLE, MSI_CONTROL_MMC_MASK, MSI_CONTROL_MMC_SHIFT, MSI_CONTROL_MME_MASK,
    MSI_CONTROL_MME_SHIFT, MSI_CONTROL_PER_VECTOR_MASK, MSI_MAX_LOG2_VECTORS,
};
use crate::pci::config::PciConfig;

/// Message Data is 16 bits.
const MSI_DATA_MASK: u16 = u16::MAX;
/// Bits in a dword, to join the address halves.
const DWORD_BITS: u32 = 32;
/// Bytes of a standard capability header (ID, Next), which the layout owns.
const HEADER_LEN: u16 = 2;

/// Where the function's MSI capability is and what it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MsiCap {
    offset: u16,
    layout: MsiLayout,
    /// log2 of the vectors the device can use.
    max_log2: u16,
}

impl MsiCap {
    /// The MSI capability at `offset` of the physical function.
    pub(crate) fn new(physical: &PciConfig, offset: u16) -> Self {
        let control = physical.u16_at(offset + MSI_CONTROL);
        let max_log2 =
            ((control & MSI_CONTROL_MMC_MASK) >> MSI_CONTROL_MMC_SHIFT).min(MSI_MAX_LOG2_VECTORS);
        MsiCap {
            offset,
            layout: MsiLayout::from_control(control),
            max_log2,
        }
    }

    /// Bytes the capability spans.
    pub(crate) fn len(&self) -> u16 {
        self.layout.size()
    }

    /// Whether a config access at `offset` of `len` bytes touches the capability.
    pub(crate) fn overlaps(&self, offset: u16, len: usize) -> bool {
        usize::from(offset) < usize::from(self.offset + self.len())
            && usize::from(offset) + len > usize::from(self.offset)
    }

    /// Writes the capability's reset state and writable bits into `local`.
    pub(crate) fn install(&self, local: &mut PciConfig) {
        let at = |reg: u16| self.offset + reg;
        let body = self.offset + HEADER_LEN;
        local.clear_range(body, self.len() - HEADER_LEN);
        let mut control = self.max_log2 << MSI_CONTROL_MMC_SHIFT;
        if self.layout.is_64 {
            control |= MSI_CONTROL_64BIT;
        }
        if self.layout.per_vector_mask {
            control |= MSI_CONTROL_PER_VECTOR_MASK;
        }
        local.set_u16(at(MSI_CONTROL), control);
        local.set_writable_u16(at(MSI_CONTROL), MSI_CONTROL_ENABLE | MSI_CONTROL_MME_MASK);
        local.set_writable_u32(at(MSI_ADDRESS_LO), MSI_ADDRESS_LO_MASK);
        if self.layout.is_64 {
            local.set_writable_u32(at(MSI_ADDRESS_HI), u32::MAX);
        }
        local.set_writable_u16(at(self.layout.data()), MSI_DATA_MASK);
        if self.layout.per_vector_mask {
            local.set_writable_u32(at(self.layout.mask()), vector_bits(self.max_log2));
        }
    }

    /// After a guest write: a Multiple Message Enable above what the device can do is
    /// cut back to the most it can (software must not ask for more).
    pub(crate) fn clamp(&self, local: &mut PciConfig) {
        let at = self.offset + MSI_CONTROL;
        let control = local.u16_at(at);
        let granted = (control & MSI_CONTROL_MME_MASK) >> MSI_CONTROL_MME_SHIFT;
        if granted > self.max_log2 {
            let control =
                (control & !MSI_CONTROL_MME_MASK) | (self.max_log2 << MSI_CONTROL_MME_SHIFT);
            local.set_u16(at, control);
        }
    }

    /// The routes the guest asks for, or `None` while MSI is disabled.
    pub(crate) fn wanted(&self, local: &PciConfig) -> Option<Vec<VectorRoute>> {
        let at = |reg: u16| self.offset + reg;
        let control = local.u16_at(at(MSI_CONTROL));
        if control & MSI_CONTROL_ENABLE == 0 {
            return None;
        }
        let log2 = ((control & MSI_CONTROL_MME_MASK) >> MSI_CONTROL_MME_SHIFT).min(self.max_log2);
        let vectors = 1u32 << log2;
        let mut address = u64::from(local.u32_at(at(MSI_ADDRESS_LO)));
        if self.layout.is_64 {
            address |= u64::from(local.u32_at(at(MSI_ADDRESS_HI))) << DWORD_BITS;
        }
        let data = u32::from(local.u16_at(at(self.layout.data())));
        let mask = if self.layout.per_vector_mask {
            local.u32_at(at(self.layout.mask()))
        } else {
            0
        };
        // With several vectors, the function puts the vector number in the low bits of
        // the data.
        let base = data & !(vectors - 1);
        Some(
            (0..vectors)
                .map(|vector| VectorRoute {
                    message: MsiMessage {
                        address,
                        data: base | vector,
                    },
                    masked: mask & (1 << vector) != 0,
                })
                .collect(),
        )
    }
}

/// A mask with one bit per vector of 2^`log2` vectors.
fn vector_bits(log2: u16) -> u32 {
    let vectors = 1u64 << log2;
    ((1u64 << vectors) - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: u16 = 0x50;

    fn guest_write(local: &mut PciConfig, cap: &MsiCap, reg: u16, data: &[u8]) {
        local.write(AT + reg, data).unwrap();
        cap.clamp(local);
    }

    /// 64-bit, per-vector masking, 4 vectors capable.
    fn cap() -> (MsiCap, PciConfig) {
        let mut physical = PciConfig::new();
        physical.set_u16(AT + MSI_CONTROL, 0x0185 | (2 << MSI_CONTROL_MMC_SHIFT));
        physical.set_u32(AT + MSI_ADDRESS_LO, 0xdead_beec); // whatever the host left
        let cap = MsiCap::new(&physical, AT);
        let mut local = physical.clone();
        cap.install(&mut local);
        (cap, local)
    }

    #[test]
    fn resets_disabled_with_the_device_capabilities() {
        let (cap, local) = cap();
        assert_eq!(cap.len(), 0x18);
        assert_eq!(local.u16_at(AT + MSI_CONTROL), 0x0184);
        assert_eq!(local.u32_at(AT + MSI_ADDRESS_LO), 0);
        assert_eq!(cap.wanted(&local), None);
    }

    #[test]
    fn enabling_gives_one_route_per_granted_vector() {
        let (cap, mut local) = cap();
        guest_write(
            &mut local,
            &cap,
            MSI_ADDRESS_LO,
            &0xfee0_1003u32.to_le_bytes(),
        );
        guest_write(&mut local, &cap, MSI_ADDRESS_HI, &1u32.to_le_bytes());
        guest_write(&mut local, &cap, 0x0c, &0x4023u16.to_le_bytes());
        guest_write(&mut local, &cap, 0x10, &0b0010u32.to_le_bytes());
        // Enable with 8 vectors asked: the device can do 4.
        guest_write(
            &mut local,
            &cap,
            MSI_CONTROL,
            &(MSI_CONTROL_ENABLE | 3 << 4).to_le_bytes(),
        );
        assert_eq!(
            (local.u16_at(AT + MSI_CONTROL) & MSI_CONTROL_MME_MASK) >> 4,
            2
        );
        let routes = cap.wanted(&local).unwrap();
        assert_eq!(routes.len(), 4);
        let message = |data| MsiMessage {
            address: 0x1_fee0_1000,
            data,
        };
        assert_eq!(
            routes[0],
            VectorRoute {
                message: message(0x4020),
                masked: false
            }
        );
        assert_eq!(
            routes[1],
            VectorRoute {
                message: message(0x4021),
                masked: true
            }
        );
        assert_eq!(routes[3].message, message(0x4023));
    }

    #[test]
    fn mask_bits_beyond_the_vectors_are_read_only() {
        let (cap, mut local) = cap();
        guest_write(&mut local, &cap, 0x10, &u32::MAX.to_le_bytes());
        assert_eq!(local.u32_at(AT + 0x10), 0xf);
        guest_write(&mut local, &cap, 0x14, &u32::MAX.to_le_bytes());
        assert_eq!(local.u32_at(AT + 0x14), 0, "pending bits are read-only");
    }

    #[test]
    fn vector_bit_masks() {
        assert_eq!(vector_bits(0), 0x1);
        assert_eq!(vector_bits(2), 0xf);
        assert_eq!(vector_bits(5), u32::MAX);
    }
}
