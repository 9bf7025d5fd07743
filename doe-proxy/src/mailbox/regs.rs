//! The DOE capability's registers (PCIe r6.0 §7.9.24): offsets from the capability
//! header, bit fields, and typed codecs for the Capabilities, Control and Status registers.
//!
//! Every role that models these registers uses this module: the requester-side driver
//! ([`crate::mailbox`]), the emulated responder ([`crate::emulated`]) and the guest-facing
//! virtual mailbox. Each side encodes what it writes and decodes what it reads with the
//! same types, so the bit layout is written down once. Offsets agree with Linux
//! `include/uapi/linux/pci_regs.h` (`PCI_DOE_*`) and QEMU `include/hw/pci/pcie_doe.h`.

/// DOE Capabilities register (§7.9.24.2).
pub const DOE_CAP: u16 = 0x04;
/// DOE Control register (§7.9.24.3).
pub const DOE_CTRL: u16 = 0x08;
/// DOE Status register (§7.9.24.4).
pub const DOE_STATUS: u16 = 0x0c;
/// DOE Write Data Mailbox register (§7.9.24.5): each dword written appends to the request.
pub const DOE_WRITE: u16 = 0x10;
/// DOE Read Data Mailbox register (§7.9.24.6): a read returns the current response dword,
/// a write of any value pops it.
pub const DOE_READ: u16 = 0x14;
/// Size of the DOE capability, header included (Linux `PCI_DOE_CAP_SIZEOF`).
pub const DOE_CAP_SIZEOF: u16 = 0x18;
/// The value the driver writes to [`DOE_READ`] to pop a dword (any value works; Linux
/// writes 0).
pub const DOE_READ_POP: u32 = 0;

/// Capabilities bit 0: DOE Interrupt Support (§7.9.24.2).
pub const CAP_INT_SUPPORT: u32 = 1 << 0;
/// Capabilities bits 11:1: DOE Interrupt Message Number (§7.9.24.2).
pub const CAP_INT_MSG_NUM_SHIFT: u32 = 1;
/// Mask of the DOE Interrupt Message Number field.
pub const CAP_INT_MSG_NUM_MASK: u32 = 0x0000_0ffe;

/// Control bit 0: DOE Abort (§7.9.24.3); reads as 0.
pub const CTRL_ABORT: u32 = 1 << 0;
/// Control bit 1: DOE Interrupt Enable (§7.9.24.3).
pub const CTRL_INT_EN: u32 = 1 << 1;
/// Control bit 31: DOE Go (§7.9.24.3); reads as 0.
pub const CTRL_GO: u32 = 1 << 31;

/// Status bit 0: DOE Busy (§7.9.24.4).
pub const STATUS_BUSY: u32 = 1 << 0;
/// Status bit 1: DOE Interrupt Status (§7.9.24.4), write 1 to clear.
pub const STATUS_INT_STATUS: u32 = 1 << 1;
/// Status bit 2: DOE Error (§7.9.24.4).
pub const STATUS_ERROR: u32 = 1 << 2;
/// Status bit 31: Data Object Ready (§7.9.24.4).
pub const STATUS_DATA_OBJECT_READY: u32 = 1 << 31;

/// The DOE Capabilities register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoeCapabilities {
    /// The instance can raise an interrupt (MSI/MSI-X) on Ready or Error.
    pub interrupt_support: bool,
    /// Which MSI/MSI-X vector it uses (11 bits).
    pub interrupt_message_number: u16,
}

impl DoeCapabilities {
    /// Decodes the register.
    pub fn decode(raw: u32) -> Self {
        DoeCapabilities {
            interrupt_support: raw & CAP_INT_SUPPORT != 0,
            interrupt_message_number: ((raw & CAP_INT_MSG_NUM_MASK) >> CAP_INT_MSG_NUM_SHIFT)
                as u16,
        }
    }

    /// Encodes the register; a message number wider than 11 bits is truncated.
    pub fn encode(&self) -> u32 {
        flag(self.interrupt_support, CAP_INT_SUPPORT)
            | ((u32::from(self.interrupt_message_number) << CAP_INT_MSG_NUM_SHIFT)
                & CAP_INT_MSG_NUM_MASK)
    }
}

/// The DOE Control register, as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoeControl {
    /// Abort the exchange in progress and empty both mailboxes.
    pub abort: bool,
    /// Raise an interrupt on Ready or Error (if supported).
    pub interrupt_enable: bool,
    /// Process the object in the write mailbox.
    pub go: bool,
}

impl DoeControl {
    /// Only Abort set: what the driver writes to abort.
    pub const ABORT: DoeControl = DoeControl {
        abort: true,
        interrupt_enable: false,
        go: false,
    };
    /// Only Go set: what the driver writes to start an exchange (as Linux does, a polling
    /// requester leaves Interrupt Enable clear).
    pub const GO: DoeControl = DoeControl {
        abort: false,
        interrupt_enable: false,
        go: true,
    };

    /// Decodes the register.
    pub fn decode(raw: u32) -> Self {
        DoeControl {
            abort: raw & CTRL_ABORT != 0,
            interrupt_enable: raw & CTRL_INT_EN != 0,
            go: raw & CTRL_GO != 0,
        }
    }

    /// Encodes the register.
    pub fn encode(&self) -> u32 {
        flag(self.abort, CTRL_ABORT)
            | flag(self.interrupt_enable, CTRL_INT_EN)
            | flag(self.go, CTRL_GO)
    }
}

/// The DOE Status register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoeStatus {
    /// The instance is processing an object or an abort and cannot take a new one.
    pub busy: bool,
    /// An interrupt was raised (write 1 to clear).
    pub interrupt_status: bool,
    /// The instance failed; only an abort clears it.
    pub error: bool,
    /// A response object can be read from the read mailbox.
    pub data_object_ready: bool,
}

impl DoeStatus {
    /// Decodes the register.
    pub fn decode(raw: u32) -> Self {
        DoeStatus {
            busy: raw & STATUS_BUSY != 0,
            interrupt_status: raw & STATUS_INT_STATUS != 0,
            error: raw & STATUS_ERROR != 0,
            data_object_ready: raw & STATUS_DATA_OBJECT_READY != 0,
        }
    }

    /// Encodes the register.
    pub fn encode(&self) -> u32 {
        flag(self.busy, STATUS_BUSY)
            | flag(self.interrupt_status, STATUS_INT_STATUS)
            | flag(self.error, STATUS_ERROR)
            | flag(self.data_object_ready, STATUS_DATA_OBJECT_READY)
    }
}

/// `bit` if `set`, else 0.
fn flag(set: bool, bit: u32) -> u32 {
    if set {
        bit
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_linux_pci_regs() {
        assert_eq!(CTRL_GO, 0x8000_0000);
        assert_eq!(STATUS_DATA_OBJECT_READY, 0x8000_0000);
        assert_eq!(STATUS_ERROR, 0x4);
        assert_eq!(DoeControl::ABORT.encode(), 0x1);
        assert_eq!(DoeControl::GO.encode(), 0x8000_0000);
    }

    #[test]
    fn status_round_trip() {
        let status = DoeStatus {
            busy: true,
            interrupt_status: false,
            error: true,
            data_object_ready: true,
        };
        assert_eq!(status.encode(), 0x8000_0005);
        assert_eq!(DoeStatus::decode(0x8000_0005), status);
        assert_eq!(DoeStatus::decode(0x7fff_fff8), DoeStatus::default());
    }

    #[test]
    fn capabilities_round_trip() {
        let cap = DoeCapabilities {
            interrupt_support: true,
            interrupt_message_number: 0x7ff,
        };
        assert_eq!(cap.encode(), 0xfff);
        assert_eq!(DoeCapabilities::decode(0xffff_ffff), cap);
        assert_eq!(
            DoeCapabilities {
                interrupt_support: false,
                interrupt_message_number: 3
            }
            .encode(),
            0x6
        );
    }

    #[test]
    fn control_decodes_every_bit() {
        assert_eq!(
            DoeControl::decode(0x8000_0003),
            DoeControl {
                abort: true,
                interrupt_enable: true,
                go: true
            }
        );
    }
}
