//! Register layouts of the MSI (PCIe r6.0 §7.7.1) and MSI-X (§7.7.2) capabilities,
//! offsets from the capability header.

/// MSI Message Control, 16 bits.
pub const MSI_CONTROL: u16 = 0x02;
/// MSI Enable.
pub const MSI_CONTROL_ENABLE: u16 = 1 << 0;
/// Multiple Message Capable: log2 of the vectors the function can use (read-only).
pub const MSI_CONTROL_MMC_MASK: u16 = 0b111 << MSI_CONTROL_MMC_SHIFT;
/// Shift of Multiple Message Capable.
pub const MSI_CONTROL_MMC_SHIFT: u16 = 1;
/// Multiple Message Enable: log2 of the vectors software granted.
pub const MSI_CONTROL_MME_MASK: u16 = 0b111 << MSI_CONTROL_MME_SHIFT;
/// Shift of Multiple Message Enable.
pub const MSI_CONTROL_MME_SHIFT: u16 = 4;
/// 64-bit Address Capable.
pub const MSI_CONTROL_64BIT: u16 = 1 << 7;
/// Per-Vector Masking Capable.
pub const MSI_CONTROL_PER_VECTOR_MASK: u16 = 1 << 8;
/// Extended Message Data Capable.
pub const MSI_CONTROL_EXT_DATA_CAPABLE: u16 = 1 << 9;
/// Extended Message Data Enable.
pub const MSI_CONTROL_EXT_DATA_ENABLE: u16 = 1 << 10;
/// Message Address (low dword); bits 1:0 are reserved.
pub const MSI_ADDRESS_LO: u16 = 0x04;
/// Writable bits of the low Message Address.
pub const MSI_ADDRESS_LO_MASK: u32 = !0b11;
/// Message Upper Address (64-bit capable functions only).
pub const MSI_ADDRESS_HI: u16 = 0x08;
/// Largest Multiple Message value defined: 2^5 = 32 vectors.
pub const MSI_MAX_LOG2_VECTORS: u16 = 5;
/// Message Data of a function with 32-bit addresses.
const MSI_DATA_32: u16 = 0x08;
/// Message Data of a function with 64-bit addresses.
const MSI_DATA_64: u16 = 0x0c;
/// Mask Bits follow Message Data and its reserved (or Extended Message Data) word.
const MSI_MASK_AFTER_DATA: u16 = 4;
/// Pending Bits follow Mask Bits.
const MSI_PENDING_AFTER_MASK: u16 = 4;
/// The capability ends after Message Data (16 bits) without per-vector masking...
const MSI_DATA_LEN: u16 = 2;
/// ...or after Pending Bits with it.
const MSI_PENDING_LEN: u16 = 4;

/// Where the registers after the address sit; they move with the 64-bit bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsiLayout {
    /// 64-bit Address Capable.
    pub is_64: bool,
    /// Per-Vector Masking Capable.
    pub per_vector_mask: bool,
}

impl MsiLayout {
    /// The layout that a Message Control value announces.
    pub fn from_control(control: u16) -> Self {
        MsiLayout {
            is_64: control & MSI_CONTROL_64BIT != 0,
            per_vector_mask: control & MSI_CONTROL_PER_VECTOR_MASK != 0,
        }
    }

    /// Offset of Message Data (16 bits).
    pub fn data(&self) -> u16 {
        if self.is_64 {
            MSI_DATA_64
        } else {
            MSI_DATA_32
        }
    }

    /// Offset of the Mask Bits register (per-vector masking only).
    pub fn mask(&self) -> u16 {
        self.data() + MSI_MASK_AFTER_DATA
    }

    /// Offset of the Pending Bits register (per-vector masking only).
    pub fn pending(&self) -> u16 {
        self.mask() + MSI_PENDING_AFTER_MASK
    }

    /// Bytes the capability spans: 0x0a, 0x0e, 0x14 or 0x18.
    pub fn size(&self) -> u16 {
        if self.per_vector_mask {
            self.pending() + MSI_PENDING_LEN
        } else {
            self.data() + MSI_DATA_LEN
        }
    }
}

/// MSI-X Message Control, 16 bits.
pub const MSIX_CONTROL: u16 = 0x02;
/// Table Size: number of vectors minus one (read-only).
pub const MSIX_CONTROL_TABLE_SIZE: u16 = 0x07ff;
/// Function Mask: masks every vector.
pub const MSIX_CONTROL_FUNCTION_MASK: u16 = 1 << 14;
/// MSI-X Enable.
pub const MSIX_CONTROL_ENABLE: u16 = 1 << 15;
/// Table Offset/Table BIR.
pub const MSIX_TABLE: u16 = 0x04;
/// PBA Offset/PBA BIR.
pub const MSIX_PBA: u16 = 0x08;
/// BIR: which BAR holds the structure.
pub const MSIX_BIR_MASK: u32 = 0b111;
/// Offset of the structure in its BAR (qword aligned).
pub const MSIX_OFFSET_MASK: u32 = !MSIX_BIR_MASK;
/// Bytes the MSI-X capability spans.
pub const MSIX_CAP_LEN: u16 = 0x0c;
/// Bytes per MSI-X table entry.
pub const MSIX_ENTRY_SIZE: u64 = 16;
/// Entry: Message Address (low dword).
pub const MSIX_ENTRY_ADDRESS_LO: usize = 0;
/// Entry: Message Upper Address.
pub const MSIX_ENTRY_ADDRESS_HI: usize = 1;
/// Entry: Message Data.
pub const MSIX_ENTRY_DATA: usize = 2;
/// Entry: Vector Control.
pub const MSIX_ENTRY_VECTOR_CONTROL: usize = 3;
/// Vector Control: Mask Bit (set at reset).
pub const MSIX_VECTOR_MASKED: u32 = 1;
