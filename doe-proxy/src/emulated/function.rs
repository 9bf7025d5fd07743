//! An emulated PCI function: a 4 KiB config space with an extended capability chain and
//! one or more DOE instances, reached through [`ConfigSpace`] like real hardware.

use std::sync::{Mutex, MutexGuard, PoisonError};

use log::trace;

use super::doe::EmulatedDoe;
use super::error::EmulatedError;
use super::fault::FaultHandle;
use super::responder::Responder;
use crate::config_space::{
    check_offset, ConfigError, ConfigSpace, MemoryConfig, CONFIG_SPACE_SIZE,
};
use crate::ext_cap::{EXT_CAP_ID_DOE, EXT_CAP_START};
use crate::mailbox::regs::{DoeCapabilities, DOE_CAP, DOE_CAP_SIZEOF};
use crate::protocol::ProtocolId;

/// DOE capability version QEMU reports (`pcie_doe_init`: version 0x1).
const DEFAULT_DOE_VERSION: u8 = 1;
/// Bytes a capability other than DOE is taken to occupy: its header only.
const HEADER_BYTES: u16 = 4;
/// Capability offsets are dword-aligned.
const DWORD: u16 = 4;

/// How one DOE instance of an emulated function is set up.
pub struct DoeSpec {
    offset: u16,
    version: u8,
    capabilities: DoeCapabilities,
    responders: Vec<Box<dyn Responder>>,
    fault: FaultHandle,
}

impl std::fmt::Debug for DoeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoeSpec")
            .field("offset", &self.offset)
            .field("version", &self.version)
            .field("capabilities", &self.capabilities)
            .field("responders", &self.responders.len())
            .finish_non_exhaustive()
    }
}

impl DoeSpec {
    /// A DOE capability at `offset`: version 1, no interrupt, answering Discovery only.
    pub fn new(offset: u16) -> Self {
        DoeSpec {
            offset,
            version: DEFAULT_DOE_VERSION,
            capabilities: DoeCapabilities::default(),
            responders: Vec::new(),
            fault: FaultHandle::default(),
        }
    }

    /// Sets the capability version (Linux sends Discovery version 2 from version 2 on).
    pub fn version(mut self, version: u8) -> Self {
        self.version = version;
        self
    }

    /// Declares interrupt support with the given MSI/MSI-X message number.
    pub fn interrupt(mut self, message_number: u16) -> Self {
        self.capabilities = DoeCapabilities {
            interrupt_support: true,
            interrupt_message_number: message_number,
        };
        self
    }

    /// Adds a protocol responder; Discovery lists protocols in the order added.
    pub fn responder(mut self, responder: impl Responder + 'static) -> Self {
        self.responders.push(Box::new(responder));
        self
    }

    /// The handle that sets this instance's fault, to keep before building.
    pub fn fault_handle(&self) -> FaultHandle {
        self.fault.clone()
    }
}

/// A capability to link into the emulated function's list.
#[derive(Debug)]
enum CapSpec {
    /// Any capability, header only.
    Plain { id: u16, version: u8, offset: u16 },
    /// A DOE instance.
    Doe(DoeSpec),
}

impl CapSpec {
    fn offset(&self) -> u16 {
        match self {
            CapSpec::Plain { offset, .. } => *offset,
            CapSpec::Doe(spec) => spec.offset,
        }
    }

    fn size(&self) -> u16 {
        match self {
            CapSpec::Plain { .. } => HEADER_BYTES,
            CapSpec::Doe(_) => DOE_CAP_SIZEOF,
        }
    }
}

/// Builds an [`EmulatedFunction`].
#[derive(Debug, Default)]
pub struct EmulatedFunctionBuilder {
    vendor: u16,
    device: u16,
    caps: Vec<CapSpec>,
}

impl EmulatedFunctionBuilder {
    /// Sets the Vendor and Device IDs.
    pub fn ids(mut self, vendor: u16, device: u16) -> Self {
        self.vendor = vendor;
        self.device = device;
        self
    }

    /// Adds a capability that is only a header (its body reads as zeroes).
    pub fn extended_capability(mut self, id: u16, version: u8, offset: u16) -> Self {
        self.caps.push(CapSpec::Plain {
            id,
            version,
            offset,
        });
        self
    }

    /// Adds a DOE instance.
    pub fn doe(mut self, spec: DoeSpec) -> Self {
        self.caps.push(CapSpec::Doe(spec));
        self
    }

    /// Lays out config space. Capabilities are linked in the order added, except that one
    /// at 0x100 always heads the list; with none there, a placeholder header (ID 0) at
    /// 0x100 points to the first.
    pub fn build(mut self) -> Result<EmulatedFunction, EmulatedError> {
        check_layout(&self.caps)?;
        // Stable: the order added is kept among the others.
        self.caps.sort_by_key(|cap| cap.offset() != EXT_CAP_START);
        let base = MemoryConfig::with_ids(self.vendor, self.device);
        let mut mailboxes = Vec::new();
        for cap in self.caps {
            match cap {
                CapSpec::Plain {
                    id,
                    version,
                    offset,
                } => base.add_ext_capability(id, version, offset)?,
                CapSpec::Doe(spec) => {
                    base.add_ext_capability(EXT_CAP_ID_DOE, spec.version, spec.offset)?;
                    let doe = EmulatedDoe::new(spec.capabilities, spec.responders, spec.fault)?;
                    mailboxes.push(DoeSlot {
                        offset: spec.offset,
                        doe: Mutex::new(doe),
                    });
                }
            }
        }
        Ok(EmulatedFunction { base, mailboxes })
    }
}

/// Checks that every capability fits in extended space and none overlap.
fn check_layout(caps: &[CapSpec]) -> Result<(), EmulatedError> {
    let mut ranges: Vec<(u16, u16)> = Vec::with_capacity(caps.len());
    for cap in caps {
        let (offset, size) = (cap.offset(), cap.size());
        if offset < EXT_CAP_START || offset % DWORD != 0 || offset > CONFIG_SPACE_SIZE - size {
            return Err(EmulatedError::BadOffset(offset));
        }
        ranges.push((offset, offset + size));
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((first, first_end), (second, _)) = (pair[0], pair[1]);
        if second < first_end {
            return Err(EmulatedError::Overlap { first, second });
        }
    }
    Ok(())
}

/// One DOE instance and where it sits.
#[derive(Debug)]
struct DoeSlot {
    offset: u16,
    doe: Mutex<EmulatedDoe>,
}

impl DoeSlot {
    fn lock(&self) -> MutexGuard<'_, EmulatedDoe> {
        // Register accesses leave the state consistent at every step.
        self.doe.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An emulated PCI function with DOE instances. Accesses to a DOE instance's registers
/// (capability offset + 0x04 to + 0x17) go to its register model; everything else reads
/// from a fixed config space, and writes there are ignored (read-only).
#[derive(Debug)]
pub struct EmulatedFunction {
    base: MemoryConfig,
    mailboxes: Vec<DoeSlot>,
}

impl EmulatedFunction {
    /// Starts describing a function.
    pub fn builder() -> EmulatedFunctionBuilder {
        EmulatedFunctionBuilder::default()
    }

    /// Offsets of the DOE capabilities, in list order.
    pub fn doe_offsets(&self) -> Vec<u16> {
        self.mailboxes.iter().map(|slot| slot.offset).collect()
    }

    /// The fault handle of the DOE instance at `cap_offset`.
    pub fn fault(&self, cap_offset: u16) -> Option<FaultHandle> {
        self.slot(cap_offset).map(|slot| slot.lock().fault_handle())
    }

    /// The protocols the DOE instance at `cap_offset` lists in Discovery.
    pub fn protocols(&self, cap_offset: u16) -> Option<Vec<ProtocolId>> {
        self.slot(cap_offset)
            .map(|slot| slot.lock().protocols().to_vec())
    }

    fn slot(&self, cap_offset: u16) -> Option<&DoeSlot> {
        self.mailboxes.iter().find(|slot| slot.offset == cap_offset)
    }

    /// The DOE instance whose registers include `offset`, and the register's offset
    /// within the capability.
    fn doe_register(&self, offset: u16) -> Option<(&DoeSlot, u16)> {
        self.mailboxes.iter().find_map(|slot| {
            let reg = offset.checked_sub(slot.offset)?;
            (DOE_CAP..DOE_CAP_SIZEOF)
                .contains(&reg)
                .then_some((slot, reg))
        })
    }
}

impl ConfigSpace for EmulatedFunction {
    fn read_u32(&self, offset: u16) -> Result<u32, ConfigError> {
        check_offset(offset)?;
        match self.doe_register(offset) {
            Some((slot, reg)) => Ok(slot.lock().read_register(reg)),
            None => self.base.read_u32(offset),
        }
    }

    fn write_u32(&self, offset: u16, value: u32) -> Result<(), ConfigError> {
        check_offset(offset)?;
        match self.doe_register(offset) {
            Some((slot, reg)) => slot.lock().write_register(reg, value),
            None => trace!("emulated function: write to read-only {offset:#x} ignored"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_cap::{find_doe_mailboxes, walk, ExtCapability};
    use crate::mailbox::regs::DOE_STATUS;

    /// PCIe Designated Vendor-Specific Extended Capability ID (PCIe r6.0 §7.9.6).
    const ID_DVSEC: u16 = 0x23;

    #[test]
    fn lays_out_ids_and_the_capability_chain() {
        let function = EmulatedFunction::builder()
            .ids(0x8086, 0x0d93)
            .extended_capability(ID_DVSEC, 1, 0x100)
            .doe(DoeSpec::new(0x190).version(2))
            .build()
            .unwrap();
        assert_eq!(function.read_u32(0).unwrap(), 0x0d93_8086);
        assert_eq!(
            walk(&function).unwrap(),
            vec![
                ExtCapability {
                    id: ID_DVSEC,
                    version: 1,
                    offset: 0x100
                },
                ExtCapability {
                    id: EXT_CAP_ID_DOE,
                    version: 2,
                    offset: 0x190
                },
            ]
        );
        assert_eq!(function.doe_offsets(), vec![0x190]);
        assert_eq!(
            function.protocols(0x190).unwrap(),
            vec![ProtocolId::DISCOVERY]
        );
        assert!(function.fault(0x100).is_none());
    }

    #[test]
    fn a_capability_at_0x100_heads_the_list_and_a_placeholder_fills_in_otherwise() {
        let function = EmulatedFunction::builder()
            .doe(DoeSpec::new(0x200))
            .doe(DoeSpec::new(0x100))
            .build()
            .unwrap();
        assert_eq!(find_doe_mailboxes(&function).unwrap(), vec![0x100, 0x200]);
        let function = EmulatedFunction::builder()
            .doe(DoeSpec::new(0x190))
            .build()
            .unwrap();
        assert_eq!(walk(&function).unwrap()[0].id, 0);
        assert_eq!(find_doe_mailboxes(&function).unwrap(), vec![0x190]);
    }

    #[test]
    fn config_space_outside_doe_registers_is_read_only() {
        let function = EmulatedFunction::builder()
            .ids(0x1b36, 0x0010)
            .doe(DoeSpec::new(0x100))
            .build()
            .unwrap();
        function.write_u32(0, 0xffff_ffff).unwrap();
        function.write_u32(0x100, 0).unwrap();
        assert_eq!(function.read_u32(0).unwrap(), 0x0010_1b36);
        assert_eq!(find_doe_mailboxes(&function).unwrap(), vec![0x100]);
        assert!(matches!(
            function.read_u32(0x101),
            Err(ConfigError::BadOffset(0x101))
        ));
        assert_eq!(function.read_u32(0x100 + DOE_STATUS).unwrap(), 0);
    }

    #[test]
    fn layout_errors() {
        assert!(matches!(
            EmulatedFunction::builder()
                .doe(DoeSpec::new(0x100))
                .extended_capability(ID_DVSEC, 1, 0x114)
                .build(),
            Err(EmulatedError::Overlap {
                first: 0x100,
                second: 0x114
            })
        ));
        for bad in [0xf0, 0x102, 0xfec] {
            assert!(matches!(
                EmulatedFunction::builder().doe(DoeSpec::new(bad)).build(),
                Err(EmulatedError::BadOffset(o)) if o == bad
            ));
        }
        // The last DOE that fits ends at the last byte of config space.
        assert!(EmulatedFunction::builder()
            .doe(DoeSpec::new(0xfe8))
            .build()
            .is_ok());
    }
}
