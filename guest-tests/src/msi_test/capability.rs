//! The function's MSI capability (PCI Local Bus r3.0 §6.8.1), programmed through its
//! sysfs `config` as Linux's own MSI code does: disable, write the message, enable one
//! vector, then read everything back (under a VMM the reads show its emulation).

use crate::pci_config::ConfigFile;

/// The MSI capability ID.
pub const MSI_CAP_ID: u8 = 0x05;
/// Message Control (16 bits), from the capability.
const MSI_CONTROL: u16 = 0x02;
/// Control: MSI Enable.
pub const MSI_CONTROL_ENABLE: u16 = 1 << 0;
/// Control: Multiple Message Enable (log2 of the vectors granted).
const MSI_CONTROL_MME: u16 = 0b111 << 4;
/// Control: 64-bit Address Capable.
const MSI_CONTROL_64BIT: u16 = 1 << 7;
/// Control: Per-Vector Masking Capable.
const MSI_CONTROL_MASKBIT: u16 = 1 << 8;
/// Message Address (low dword).
const MSI_ADDRESS_LO: u16 = 0x04;
/// Message Upper Address (64-bit capable functions).
const MSI_ADDRESS_HI: u16 = 0x08;
/// Message Data of a 32-bit / 64-bit capability.
const MSI_DATA_32: u16 = 0x08;
const MSI_DATA_64: u16 = 0x0c;
/// Mask Bits follow Message Data by 4 bytes (per-vector masking only).
const MSI_MASK_AFTER_DATA: u16 = 4;

/// Where the MSI capability is and which layout it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsiCapability {
    /// Its offset in config space.
    pub offset: u16,
    /// 64-bit Address Capable.
    pub is_64: bool,
    /// Per-Vector Masking Capable.
    pub per_vector_mask: bool,
}

/// The capability's registers as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsiState {
    /// Message Control.
    pub control: u16,
    /// Message Address (the upper half only for a 64-bit capability).
    pub address: u64,
    /// Message Data.
    pub data: u16,
}

impl MsiState {
    /// Whether MSI Enable is set.
    pub fn enabled(&self) -> bool {
        self.control & MSI_CONTROL_ENABLE != 0
    }
}

impl MsiCapability {
    /// The function's MSI capability; an error if it has none.
    pub fn find(config: &ConfigFile) -> Result<MsiCapability, String> {
        let offset = config
            .find_capability(MSI_CAP_ID)?
            .ok_or("the function has no MSI capability")?;
        let control = config.read_u16(offset + MSI_CONTROL)?;
        Ok(MsiCapability {
            offset,
            is_64: control & MSI_CONTROL_64BIT != 0,
            per_vector_mask: control & MSI_CONTROL_MASKBIT != 0,
        })
    }

    fn data_offset(&self) -> u16 {
        self.offset + if self.is_64 { MSI_DATA_64 } else { MSI_DATA_32 }
    }

    /// Disables MSI, writes `address`/`data`, unmasks vector 0 (per-vector masking only)
    /// and enables MSI with one vector.
    pub fn program(&self, config: &ConfigFile, address: u32, data: u16) -> Result<(), String> {
        let control_at = self.offset + MSI_CONTROL;
        let control = config.read_u16(control_at)? & !(MSI_CONTROL_ENABLE | MSI_CONTROL_MME);
        config.write_u16(control_at, control)?;
        config.write_u32(self.offset + MSI_ADDRESS_LO, address)?;
        if self.is_64 {
            config.write_u32(self.offset + MSI_ADDRESS_HI, 0)?;
        }
        config.write_u16(self.data_offset(), data)?;
        if self.per_vector_mask {
            let mask_at = self.data_offset() + MSI_MASK_AFTER_DATA;
            let mask = config.read_u32(mask_at)?;
            config.write_u32(mask_at, mask & !1)?;
        }
        config.write_u16(control_at, control | MSI_CONTROL_ENABLE)
    }

    /// Reads Message Control, Address and Data back.
    pub fn read(&self, config: &ConfigFile) -> Result<MsiState, String> {
        let mut address = u64::from(config.read_u32(self.offset + MSI_ADDRESS_LO)?);
        if self.is_64 {
            address |= u64::from(config.read_u32(self.offset + MSI_ADDRESS_HI)?) << 32;
        }
        Ok(MsiState {
            control: config.read_u16(self.offset + MSI_CONTROL)?,
            address,
            data: config.read_u16(self.data_offset())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci_config::tests::FakeConfig;
    use crate::pci_config::{PCI_CAPABILITY_LIST, PCI_STATUS};

    /// A function with edu's capability: MSI at 0x40, 64-bit, no masking, 1 vector; the
    /// control word has a stale enable and MME to show they are reset first.
    fn edu_like() -> FakeConfig {
        FakeConfig::new(&[
            (PCI_STATUS, &[0x10, 0]),
            (PCI_CAPABILITY_LIST, &[0x40]),
            (0x40, &[0x05, 0x00, 0x81, 0x00]),
            (0x48, &[0xff, 0xff, 0xff, 0xff]),
        ])
    }

    #[test]
    fn edus_capability_is_programmed_and_read_back() {
        let fake = edu_like();
        let config = ConfigFile::open(&fake.0).unwrap();
        let cap = MsiCapability::find(&config).unwrap();
        assert_eq!(
            cap,
            MsiCapability {
                offset: 0x40,
                is_64: true,
                per_vector_mask: false
            }
        );
        cap.program(&config, 0xfee0_0000, 0xf5).unwrap();
        let state = cap.read(&config).unwrap();
        assert_eq!(
            state,
            MsiState {
                control: 0x0081,
                address: 0xfee0_0000,
                data: 0xf5
            }
        );
        assert!(state.enabled());
    }

    #[test]
    fn a_32_bit_capability_with_masking_is_laid_out_as_such() {
        let fake = FakeConfig::new(&[
            (PCI_STATUS, &[0x10, 0]),
            (PCI_CAPABILITY_LIST, &[0x50]),
            (0x50, &[0x05, 0x00, 0x30, 0x01]),
            (0x5c, &[0x01, 0, 0, 0]),
        ]);
        let config = ConfigFile::open(&fake.0).unwrap();
        let cap = MsiCapability::find(&config).unwrap();
        assert!(!cap.is_64 && cap.per_vector_mask);
        cap.program(&config, 0xfee0_1000, 0x41).unwrap();
        assert_eq!(config.read_u16(0x58).unwrap(), 0x41);
        assert_eq!(config.read_u32(0x5c).unwrap(), 0, "vector 0 unmasked");
        assert_eq!(
            config.read_u16(0x52).unwrap(),
            0x0101,
            "MME cleared, enabled"
        );
        assert_eq!(cap.read(&config).unwrap().address, 0xfee0_1000);
    }

    #[test]
    fn a_function_without_msi_is_an_error() {
        let fake = FakeConfig::new(&[(PCI_STATUS, &[0x10, 0]), (PCI_CAPABILITY_LIST, &[0])]);
        let config = ConfigFile::open(&fake.0).unwrap();
        let e = MsiCapability::find(&config).unwrap_err();
        assert_eq!(e, "the function has no MSI capability");
    }
}
