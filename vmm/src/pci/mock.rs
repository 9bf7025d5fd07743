//! A tiny PCI function for tests: IDs, a Command register and one 4 KiB 32-bit memory BAR.

use devices::pci::{BarKind, BarRange, PciDevice};

/// Command register bit: memory space enable.
const CMD_MEMORY: u16 = 1 << 1;
/// BAR0's size.
const BAR0_SIZE: u32 = 0x1000;

/// See the module doc.
#[derive(Debug)]
pub struct MockFunction {
    config: [u8; 256],
    /// Every BAR write as `(index, offset, data)`.
    pub bar_writes: Vec<(u8, u64, Vec<u8>)>,
}

impl MockFunction {
    /// A function with these IDs.
    pub fn new(vendor: u16, device: u16) -> Self {
        let mut config = [0u8; 256];
        config[0..2].copy_from_slice(&vendor.to_le_bytes());
        config[2..4].copy_from_slice(&device.to_le_bytes());
        Self {
            config,
            bar_writes: Vec::new(),
        }
    }

    fn u16_at(&self, o: usize) -> u16 {
        u16::from_le_bytes([self.config[o], self.config[o + 1]])
    }
}

impl PciDevice for MockFunction {
    fn read_config(&mut self, offset: u16, data: &mut [u8]) {
        let o = usize::from(offset);
        match self.config.get(o..o + data.len()) {
            Some(src) => data.copy_from_slice(src),
            None => data.fill(0),
        }
    }

    fn write_config(&mut self, offset: u16, data: &[u8]) {
        let o = usize::from(offset);
        if let Some(dst) = self.config.get_mut(o..o + data.len()) {
            dst.copy_from_slice(data);
        }
        // BAR0 size masking.
        let bar =
            u32::from_le_bytes(self.config[0x10..0x14].try_into().unwrap()) & !(BAR0_SIZE - 1);
        self.config[0x10..0x14].copy_from_slice(&bar.to_le_bytes());
    }

    fn bar_ranges(&self) -> Vec<BarRange> {
        let base = u32::from_le_bytes(self.config[0x10..0x14].try_into().unwrap());
        if self.u16_at(4) & CMD_MEMORY == 0 || base == 0 {
            return Vec::new();
        }
        vec![BarRange {
            index: 0,
            kind: BarKind::Mmio32,
            base: u64::from(base),
            size: u64::from(BAR0_SIZE),
            prefetchable: false,
        }]
    }

    fn read_bar(&mut self, index: u8, offset: u64, data: &mut [u8]) {
        data.fill(index.wrapping_add(offset as u8));
    }

    fn write_bar(&mut self, index: u8, offset: u64, data: &[u8]) {
        self.bar_writes.push((index, offset, data.to_vec()));
    }
}
