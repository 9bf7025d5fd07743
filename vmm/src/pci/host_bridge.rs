//! The host bridge at 00.0: a type-0 header with class "host bridge", no BARs, no
//! capabilities. Everything but the Command register is read-only.

use devices::pci::{BarRange, PciDevice};

/// Vendor ID (Intel).
pub const VENDOR_ID: u16 = 0x8086;
/// Device ID.
pub const DEVICE_ID: u16 = 0x0d57;
/// Class code: bridge (0x06), host bridge (0x00), prog-if 0.
pub const CLASS_CODE: u32 = 0x06_00_00;

/// Config header offsets (PCI Local Bus 3.0 §6.1).
const OFF_VENDOR: usize = 0x00;
const OFF_DEVICE: usize = 0x02;
const OFF_COMMAND: usize = 0x04;
const OFF_REVISION: usize = 0x08;
const OFF_HEADER_TYPE: usize = 0x0e;
const OFF_SUBSYS_VENDOR: usize = 0x2c;
const OFF_SUBSYS_ID: usize = 0x2e;
/// Writable Command bits: I/O, memory, bus master.
const COMMAND_WRITABLE: u16 = 0x7;
/// Size of the header this model implements; beyond it config space reads as zero.
const HEADER_SIZE: usize = 256;

/// See the module doc.
#[derive(Debug, Clone)]
pub struct HostBridge {
    config: [u8; HEADER_SIZE],
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl HostBridge {
    /// A host bridge with the IDs above.
    pub fn new() -> Self {
        let mut config = [0u8; HEADER_SIZE];
        let mut put16 = |o: usize, v: u16| config[o..o + 2].copy_from_slice(&v.to_le_bytes());
        put16(OFF_VENDOR, VENDOR_ID);
        put16(OFF_DEVICE, DEVICE_ID);
        put16(OFF_SUBSYS_VENDOR, VENDOR_ID);
        put16(OFF_SUBSYS_ID, DEVICE_ID);
        // Revision 0, then the 24-bit class code.
        let class = (CLASS_CODE << 8).to_le_bytes();
        config[OFF_REVISION..OFF_REVISION + 4].copy_from_slice(&class);
        config[OFF_HEADER_TYPE] = 0;
        Self { config }
    }
}

impl PciDevice for HostBridge {
    fn read_config(&mut self, offset: u16, data: &mut [u8]) {
        let o = usize::from(offset);
        match self.config.get(o..o + data.len()) {
            Some(src) => data.copy_from_slice(src),
            None => data.fill(0),
        }
    }

    fn write_config(&mut self, offset: u16, data: &[u8]) {
        // Only the Command register's low byte holds writable bits.
        if usize::from(offset) == OFF_COMMAND && !data.is_empty() {
            let old = self.config[OFF_COMMAND];
            self.config[OFF_COMMAND] =
                (old & !(COMMAND_WRITABLE as u8)) | (data[0] & COMMAND_WRITABLE as u8);
        }
    }

    fn bar_ranges(&self) -> Vec<BarRange> {
        Vec::new()
    }

    fn read_bar(&mut self, _index: u8, _offset: u64, data: &mut [u8]) {
        data.fill(0xff);
    }

    fn write_bar(&mut self, _index: u8, _offset: u64, _data: &[u8]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read32(hb: &mut HostBridge, off: u16) -> u32 {
        let mut d = [0u8; 4];
        hb.read_config(off, &mut d);
        u32::from_le_bytes(d)
    }

    #[test]
    fn identifies_as_a_host_bridge() {
        let mut hb = HostBridge::new();
        assert_eq!(read32(&mut hb, 0), 0x0d57_8086);
        assert_eq!(read32(&mut hb, 8) >> 8, 0x06_00_00);
        assert_eq!(read32(&mut hb, 0x0c) >> 16 & 0x7f, 0, "type-0 header");
        assert_eq!(read32(&mut hb, 0x34), 0, "no capabilities");
        assert_eq!(read32(&mut hb, 0x100), 0, "no extended capabilities");
    }

    #[test]
    fn only_command_is_writable() {
        let mut hb = HostBridge::new();
        hb.write_config(0, &[0, 0, 0, 0]);
        hb.write_config(4, &[0xff, 0xff]);
        assert_eq!(read32(&mut hb, 0), 0x0d57_8086);
        assert_eq!(read32(&mut hb, 4), 0x7);
    }
}
