//! Config mechanism #1: CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC..0xCFF.

use std::sync::{Arc, Mutex};

use super::address::ConfigAddress;
use super::bars::BarMapper;
use super::bus::PciBus;
use super::config_access::ConfigAccess;
use crate::bus::BusDevice;

/// First port.
pub const PCI_CONFIG_IO_BASE: u16 = 0xcf8;
/// Number of ports.
pub const PCI_CONFIG_IO_LEN: u16 = 8;
/// Offset of CONFIG_DATA from the first port.
const DATA_OFFSET: u64 = 4;

/// The two registers on the port bus.
#[derive(Debug)]
pub struct PciConfigIo {
    address: u32,
    access: ConfigAccess,
}

impl PciConfigIo {
    /// Handlers for `pci`, remapping BARs through `mapper`.
    pub fn new(pci: Arc<Mutex<PciBus>>, mapper: BarMapper) -> Self {
        Self {
            address: 0,
            access: ConfigAccess::new(pci, mapper),
        }
    }

    /// The function register a CONFIG_DATA access at port `offset` names, if any.
    fn target(&self, offset: u64) -> Option<ConfigAddress> {
        offset
            .checked_sub(DATA_OFFSET)
            .and_then(|o| ConfigAddress::from_cf8(self.address, o as u8))
    }
}

impl BusDevice for PciConfigIo {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset == 0 && data.len() == 4 {
            data.copy_from_slice(&self.address.to_le_bytes());
            return;
        }
        self.access.read(self.target(offset), data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset == 0 {
            if let Ok(v) = <[u8; 4]>::try_from(data) {
                self.address = u32::from_le_bytes(v);
            }
            return;
        }
        self.access.write(self.target(offset), data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Bus;
    use crate::pci::bars::BarWindows;
    use crate::pci::mock::MockFunction;

    #[test]
    fn address_then_data() {
        let pci = Arc::new(Mutex::new(PciBus::new()));
        pci.lock()
            .unwrap()
            .add(2 << 3, Box::new(MockFunction::new(0xabcd, 0x1234)))
            .unwrap();
        let (mmio, pio) = (Arc::new(Bus::new("mmio")), Arc::new(Bus::new("pio")));
        let mapper = BarMapper::new(&pci, &mmio, &pio, BarWindows::default());
        let mut io = PciConfigIo::new(pci, mapper);
        io.write(0, &(0x8000_0000u32 | (2 << 11)).to_le_bytes());
        let mut a = [0u8; 4];
        io.read(0, &mut a);
        assert_eq!(u32::from_le_bytes(a), 0x8000_1000);
        let mut d = [0u8; 4];
        io.read(4, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0x1234_abcd);
        let mut w = [0u8; 2];
        io.read(6, &mut w);
        assert_eq!(u16::from_le_bytes(w), 0x1234, "CONFIG_DATA + 2");
        io.write(0, &(2u32 << 11).to_le_bytes());
        io.read(4, &mut d);
        assert_eq!(d, [0xff; 4], "enable bit clear");
    }
}
