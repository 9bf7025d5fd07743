//! What both config mechanisms (0xCF8/0xCFC and ECAM) do once they have decoded an address:
//! hand the access to the bus, and after a write remap the BARs it changed.

use std::sync::{Arc, Mutex};

use super::address::ConfigAddress;
use super::bars::BarMapper;
use super::bus::PciBus;

/// The bus and its BAR mapper, shared by the config mechanisms.
#[derive(Debug, Clone)]
pub struct ConfigAccess {
    pci: Arc<Mutex<PciBus>>,
    mapper: BarMapper,
}

impl ConfigAccess {
    /// Accesses to `pci`, remapping BARs through `mapper`.
    pub fn new(pci: Arc<Mutex<PciBus>>, mapper: BarMapper) -> Self {
        Self { pci, mapper }
    }

    /// Reads config space at `addr`; an access that decoded to no address reads all ones.
    pub fn read(&self, addr: Option<ConfigAddress>, data: &mut [u8]) {
        match addr {
            Some(addr) => self
                .pci
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .read_config(addr, data),
            None => data.fill(0xff),
        }
    }

    /// Writes config space at `addr` and remaps the BARs the write changed; an access that
    /// decoded to no address is dropped.
    pub fn write(&self, addr: Option<ConfigAddress>, data: &[u8]) {
        if let Some(addr) = addr {
            let changes = self
                .pci
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_config(addr, data);
            self.mapper.apply(&changes);
        }
    }
}
