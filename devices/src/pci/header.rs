//! Offsets and bits of the PCI-compatible header of a type 0 (endpoint) function
//! (PCIe r6.0 §7.5.1.1 common registers, §7.5.1.2 type 0 registers).

/// Vendor ID, 16 bits (§7.5.1.1.1).
pub const VENDOR_ID: u16 = 0x00;
/// Device ID, 16 bits (§7.5.1.1.2).
pub const DEVICE_ID: u16 = 0x02;
/// Command register, 16 bits (§7.5.1.1.3).
pub const COMMAND: u16 = 0x04;
/// Status register, 16 bits (§7.5.1.1.4).
pub const STATUS: u16 = 0x06;
/// Revision ID, 8 bits (§7.5.1.1.5).
pub const REVISION_ID: u16 = 0x08;
/// Class Code, 24 bits: programming interface, sub-class, base class (§7.5.1.1.6).
pub const CLASS_CODE: u16 = 0x09;
/// Cache Line Size, 8 bits (§7.5.1.1.7).
pub const CACHE_LINE_SIZE: u16 = 0x0c;
/// Header Type, 8 bits (§7.5.1.1.9).
pub const HEADER_TYPE: u16 = 0x0e;
/// First Base Address Register (§7.5.1.2.1).
pub const BAR0: u16 = 0x10;
/// Number of BARs in a type 0 header.
pub const BAR_COUNT: usize = 6;
/// Bytes per BAR register.
pub const BAR_STRIDE: u16 = 4;
/// One past the last BAR register.
pub const BAR_END: u16 = BAR0 + BAR_COUNT as u16 * BAR_STRIDE;
/// Subsystem Vendor ID, 16 bits (§7.5.1.2.3).
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2c;
/// Expansion ROM Base Address, 32 bits (§7.5.1.2.4).
pub const EXPANSION_ROM: u16 = 0x30;
/// Capabilities Pointer, 8 bits (§7.5.1.1.11).
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Interrupt Line, 8 bits, a scratch register for software (§7.5.1.1.12).
pub const INTERRUPT_LINE: u16 = 0x3c;
/// Interrupt Pin, 8 bits: 0 none, 1..=4 INTA..INTD (§7.5.1.1.13).
pub const INTERRUPT_PIN: u16 = 0x3d;
/// Size of the type 0 header; capabilities start at or above it.
pub const HEADER_SIZE: u16 = 0x40;
/// Size of the PCI-compatible config space; extended capabilities start here.
pub const LEGACY_CONFIG_SIZE: u16 = 0x100;

/// Command: I/O Space Enable — the function decodes its I/O BARs.
pub const COMMAND_IO_SPACE: u16 = 1 << 0;
/// Command: Memory Space Enable — the function decodes its memory BARs.
pub const COMMAND_MEMORY_SPACE: u16 = 1 << 1;
/// Command: Bus Master Enable — the function may issue DMA and MSI writes.
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Command: Interrupt Disable — the function must not assert INTx.
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;

/// Status: Interrupt Status — INTx is asserted (read-only).
pub const STATUS_INTERRUPT: u16 = 1 << 3;
/// Status: Capabilities List — the Capabilities Pointer is valid (read-only).
pub const STATUS_CAPABILITIES_LIST: u16 = 1 << 4;
/// Status: the error bits software clears by writing 1 (Master Data Parity Error,
/// Signaled/Received Target Abort, Received Master Abort, Signaled System Error,
/// Detected Parity Error).
pub const STATUS_RW1C: u16 = 0xf900;

/// Header Type: Multi-Function Device bit.
pub const HEADER_TYPE_MULTI_FUNCTION: u8 = 0x80;
/// Header Type: the header layout field (0 = type 0 endpoint, 1 = type 1 bridge).
pub const HEADER_TYPE_LAYOUT: u8 = 0x7f;
/// Header layout of an endpoint function.
pub const HEADER_LAYOUT_TYPE0: u8 = 0x00;

/// BAR bit 0: 1 for an I/O BAR, 0 for a memory BAR.
pub const BAR_IO_SPACE: u32 = 1 << 0;
/// Memory BAR bits 2:1: the memory type.
pub const BAR_MEM_TYPE_MASK: u32 = 0b11 << 1;
/// Memory type 00b: a 32-bit BAR.
pub const BAR_MEM_TYPE_32: u32 = 0b00 << 1;
/// Memory type 10b: a 64-bit BAR spanning this register and the next.
pub const BAR_MEM_TYPE_64: u32 = 0b10 << 1;
/// Memory BAR bit 3: prefetchable.
pub const BAR_MEM_PREFETCHABLE: u32 = 1 << 3;
/// Low bits of a memory BAR that hold flags, not address.
pub const BAR_MEM_FLAG_BITS: u32 = 0xf;
/// Low bits of an I/O BAR that hold flags, not address.
pub const BAR_IO_FLAG_BITS: u32 = 0x3;

/// Capabilities Pointer and Next Capability Pointer: the low two bits are reserved and
/// software masks them (PCIe r6.0 §7.5.1.1.11).
pub const CAP_POINTER_MASK: u8 = 0xfc;
