//! The ECAM window (PCIe enhanced config access) on the MMIO bus; the MCFG points here.

use std::sync::{Arc, Mutex};

use super::address::ConfigAddress;
use super::bars::BarMapper;
use super::bus::PciBus;
use super::config_access::ConfigAccess;
use crate::bus::BusDevice;

/// The ECAM window's handler.
#[derive(Debug)]
pub struct PciEcam {
    access: ConfigAccess,
}

impl PciEcam {
    /// A handler for `pci`, remapping BARs through `mapper`.
    pub fn new(pci: Arc<Mutex<PciBus>>, mapper: BarMapper) -> Self {
        Self {
            access: ConfigAccess::new(pci, mapper),
        }
    }
}

impl BusDevice for PciEcam {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        self.access.read(ConfigAddress::from_ecam(offset), data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.access.write(ConfigAddress::from_ecam(offset), data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Bus;
    use crate::pci::bars::BarWindows;
    use crate::pci::mock::MockFunction;

    #[test]
    fn ecam_reaches_extended_config_and_maps_bars() {
        let pci = Arc::new(Mutex::new(PciBus::new()));
        pci.lock()
            .unwrap()
            .add(1 << 3, Box::new(MockFunction::new(0x8086, 0x0d93)))
            .unwrap();
        let (mmio, pio) = (Arc::new(Bus::new("mmio")), Arc::new(Bus::new("pio")));
        let w = BarWindows {
            mmio: vec![(0xc000_0000, 0x2000_0000)],
            io: vec![],
        };
        let mut ecam = PciEcam::new(pci.clone(), BarMapper::new(&pci, &mmio, &pio, w));
        let dev1 = 1 << 15;
        let mut d = [0u8; 4];
        ecam.read(dev1, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0x0d93_8086);
        ecam.read(dev1 + 0x100, &mut d);
        assert_eq!(d, [0; 4], "extended config of the mock reads zero");
        ecam.read(2 << 15, &mut d);
        assert_eq!(d, [0xff; 4], "empty slot");
        ecam.write(dev1 + 0x10, &0xc000_2000u32.to_le_bytes());
        ecam.write(dev1 + 4, &[2, 0]);
        let mut b = [0u8; 1];
        assert!(
            mmio.read(0xc000_2004, &mut b),
            "BAR0 trapped after Command.MEM"
        );
    }
}
