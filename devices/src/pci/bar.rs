//! BAR emulation (PCIe r6.0 §7.5.1.2.1): sizing, address programming and decode.
//!
//! The BAR registers live in a [`PciConfig`]; [`Bars`] installs their read-only type bits
//! and writable masks, so the sizing protocol falls out of the register model: writing
//! all ones keeps only the writable address bits, and the read-back is the size mask
//! with the type bits. [`Bars::ranges`] decodes what the registers and the Command
//! register say now. A function assigned through VFIO gets its BARs emulated this way:
//! the guest never writes a physical BAR.

use super::config::PciConfig;
use super::device::{BarKind, BarRange};
use super::header::{
    BAR0, BAR_COUNT, BAR_IO_FLAG_BITS, BAR_IO_SPACE, BAR_MEM_FLAG_BITS, BAR_MEM_PREFETCHABLE,
    BAR_MEM_TYPE_32, BAR_MEM_TYPE_64, BAR_MEM_TYPE_MASK, BAR_STRIDE, COMMAND, COMMAND_IO_SPACE,
    COMMAND_MEMORY_SPACE,
};

/// Smallest memory BAR: the four low bits hold flags.
const MIN_MEM_SIZE: u64 = 16;
/// Smallest I/O BAR: the two low bits hold flags.
const MIN_IO_SIZE: u64 = 4;
/// I/O BARs decode 16 bits of address: x86 port space is 64 KiB, and the upper 16 bits
/// of an I/O BAR may be hard-wired to zero (PCIe r6.0 §7.5.1.2.1), as they are here.
const IO_SPACE_SIZE: u64 = 1 << 16;
/// Largest 32-bit memory BAR (bit 31 is the highest address bit it has).
const MAX_MEM32_SIZE: u64 = 1 << 31;
/// Largest 64-bit memory BAR.
const MAX_MEM64_SIZE: u64 = 1 << 63;
/// What the guest writes to a BAR register to size it.
const SIZING_PATTERN: u32 = u32::MAX;
/// Bits in a dword, to split 64-bit values into registers.
const DWORD_BITS: u32 = 32;

/// A BAR that cannot be emulated as described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BarError {
    /// The size is larger than the BAR type can decode.
    #[error("BAR {index}: {size:#x} bytes is too large for a {kind:?} BAR")]
    TooLarge {
        /// BAR index.
        index: u8,
        /// What it decodes.
        kind: BarKind,
        /// Requested size.
        size: u64,
    },
    /// A 64-bit BAR in the last register has no upper half.
    #[error("BAR {0} is 64-bit but has no next register for its upper half")]
    NoUpperRegister(u8),
    /// A BAR is defined in the register that holds the upper half of a 64-bit BAR.
    #[error("BAR {0} sits in the upper half of the 64-bit BAR before it")]
    InUpperHalf(u8),
    /// The register's memory type is reserved (01b or 11b).
    #[error("BAR {index} has reserved memory type bits {bits:#x}")]
    ReservedType {
        /// BAR index.
        index: u8,
        /// The type bits read.
        bits: u32,
    },
    /// No BAR with this index is defined.
    #[error("no BAR {0}")]
    NoSuchBar(u8),
}

/// What one BAR decodes and how large it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarDef {
    /// I/O, 32-bit or 64-bit memory.
    pub kind: BarKind,
    /// Size in bytes: a power of two, at least the BAR type's minimum.
    pub size: u64,
    /// Prefetchable memory (memory BARs only).
    pub prefetchable: bool,
}

impl BarDef {
    /// A BAR of `kind` covering at least `size` bytes (rounded up to a power of two and
    /// to the type's minimum). `index` only names the BAR in errors.
    pub fn new(index: u8, kind: BarKind, size: u64, prefetchable: bool) -> Result<Self, BarError> {
        let (min, max) = match kind {
            BarKind::Io => (MIN_IO_SIZE, IO_SPACE_SIZE),
            BarKind::Mmio32 => (MIN_MEM_SIZE, MAX_MEM32_SIZE),
            BarKind::Mmio64 => (MIN_MEM_SIZE, MAX_MEM64_SIZE),
        };
        let size = size
            .max(min)
            .checked_next_power_of_two()
            .filter(|&s| s <= max)
            .ok_or(BarError::TooLarge { index, kind, size })?;
        Ok(BarDef {
            kind,
            size,
            prefetchable: prefetchable && kind != BarKind::Io,
        })
    }

    /// The BAR whose register reads `register` (its type bits) and whose region is `size`
    /// bytes, as a physical function presents it.
    pub fn from_register(index: u8, register: u32, size: u64) -> Result<Self, BarError> {
        if register & BAR_IO_SPACE != 0 {
            return Self::new(index, BarKind::Io, size, false);
        }
        let prefetchable = register & BAR_MEM_PREFETCHABLE != 0;
        match register & BAR_MEM_TYPE_MASK {
            BAR_MEM_TYPE_32 => Self::new(index, BarKind::Mmio32, size, prefetchable),
            BAR_MEM_TYPE_64 => Self::new(index, BarKind::Mmio64, size, prefetchable),
            bits => Err(BarError::ReservedType { index, bits }),
        }
    }

    /// The read-only type bits of the low register.
    fn type_bits(&self) -> u32 {
        let prefetch = if self.prefetchable {
            BAR_MEM_PREFETCHABLE
        } else {
            0
        };
        match self.kind {
            BarKind::Io => BAR_IO_SPACE,
            BarKind::Mmio32 => BAR_MEM_TYPE_32 | prefetch,
            BarKind::Mmio64 => BAR_MEM_TYPE_64 | prefetch,
        }
    }

    /// The address bits a guest may set, over the full 64 bits.
    fn address_mask(&self) -> u64 {
        let mask = !(self.size - 1);
        match self.kind {
            BarKind::Io => mask & (IO_SPACE_SIZE - 1) & !u64::from(BAR_IO_FLAG_BITS),
            BarKind::Mmio32 => mask & u64::from(u32::MAX) & !u64::from(BAR_MEM_FLAG_BITS),
            BarKind::Mmio64 => mask & !u64::from(BAR_MEM_FLAG_BITS),
        }
    }

    /// Whether the Command register lets this BAR decode.
    fn decodes(&self, command: u16) -> bool {
        let enable = match self.kind {
            BarKind::Io => COMMAND_IO_SPACE,
            BarKind::Mmio32 | BarKind::Mmio64 => COMMAND_MEMORY_SPACE,
        };
        command & enable != 0
    }
}

/// Offset of BAR register `index`.
fn register_offset(index: usize) -> u16 {
    BAR0 + index as u16 * BAR_STRIDE
}

/// The six BARs of a type 0 function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bars {
    defs: [Option<BarDef>; BAR_COUNT],
    /// Per register: the guest's last write to it was the sizing pattern. A BAR being
    /// sized holds a size mask, not an address, and is left out of the decoded ranges.
    sizing: [bool; BAR_COUNT],
}

impl Bars {
    /// BARs as given by index; a 64-bit BAR takes the next register as its upper half,
    /// which must then be `None`.
    pub fn new(defs: [Option<BarDef>; BAR_COUNT]) -> Result<Self, BarError> {
        let mut upper_half = false;
        for (index, def) in defs.iter().enumerate() {
            let index_u8 = index as u8;
            match def {
                Some(_) if upper_half => return Err(BarError::InUpperHalf(index_u8)),
                Some(def) if def.kind == BarKind::Mmio64 && index + 1 == BAR_COUNT => {
                    return Err(BarError::NoUpperRegister(index_u8))
                }
                _ => {}
            }
            upper_half = matches!(def, Some(d) if d.kind == BarKind::Mmio64);
        }
        Ok(Bars {
            defs,
            sizing: [false; BAR_COUNT],
        })
    }

    /// The BAR at `index`, if one is defined there.
    pub fn def(&self, index: u8) -> Option<BarDef> {
        self.defs.get(usize::from(index)).copied().flatten()
    }

    /// Writes every BAR register's initial value (type bits, address 0) and writable mask
    /// into `cfg`. Registers without a BAR read as zero and ignore writes.
    pub fn install(&self, cfg: &mut PciConfig) {
        for index in 0..BAR_COUNT {
            cfg.set_u32(register_offset(index), 0);
            cfg.set_writable_u32(register_offset(index), 0);
        }
        for (index, def) in self.defined() {
            let mask = def.address_mask();
            cfg.set_u32(register_offset(index), def.type_bits());
            cfg.set_writable_u32(register_offset(index), mask as u32);
            if def.kind == BarKind::Mmio64 {
                cfg.set_writable_u32(register_offset(index + 1), (mask >> DWORD_BITS) as u32);
            }
        }
    }

    /// Programs BAR `index` to `base` (masked to what the BAR can hold), as firmware would.
    pub fn set_base(&self, cfg: &mut PciConfig, index: u8, base: u64) -> Result<(), BarError> {
        let def = self.def(index).ok_or(BarError::NoSuchBar(index))?;
        let address = base & def.address_mask();
        let low = register_offset(usize::from(index));
        cfg.set_u32(low, address as u32 | def.type_bits());
        if def.kind == BarKind::Mmio64 {
            cfg.set_u32(low + BAR_STRIDE, (address >> DWORD_BITS) as u32);
        }
        Ok(())
    }

    /// Records a guest write of `data` at `offset` (call it after the write reached
    /// `cfg`): a whole-dword write of all ones to a BAR register starts sizing it, any
    /// other write to it ends that.
    pub fn observe_write(&mut self, offset: u16, data: &[u8]) {
        let whole = <[u8; 4]>::try_from(data).ok().map(u32::from_le_bytes);
        for (index, sizing) in self.sizing.iter_mut().enumerate() {
            let reg = register_offset(index);
            let end = usize::from(offset) + data.len();
            if usize::from(offset) < usize::from(reg + BAR_STRIDE) && end > usize::from(reg) {
                *sizing = offset == reg && whole == Some(SIZING_PATTERN);
            }
        }
    }

    /// The guest-programmed base address of BAR `index`.
    pub fn base(&self, cfg: &PciConfig, index: u8) -> Option<u64> {
        let def = self.def(index)?;
        let low = register_offset(usize::from(index));
        let mut raw = u64::from(cfg.u32_at(low));
        if def.kind == BarKind::Mmio64 {
            raw |= u64::from(cfg.u32_at(low + BAR_STRIDE)) << DWORD_BITS;
        }
        Some(raw & def.address_mask())
    }

    /// The BARs that decode now: enabled by the Command register in `cfg`, programmed to
    /// a non-zero address (0 means unassigned, as Linux reads it), and not being sized.
    pub fn ranges(&self, cfg: &PciConfig) -> Vec<BarRange> {
        let command = cfg.u16_at(COMMAND);
        self.defined()
            .filter(|(_, def)| def.decodes(command))
            .filter(|&(index, def)| {
                let upper = def.kind == BarKind::Mmio64 && self.sizing[index + 1];
                !self.sizing[index] && !upper
            })
            .filter_map(|(index, def)| {
                let base = self.base(cfg, index as u8)?;
                (base != 0).then_some(BarRange {
                    index: index as u8,
                    kind: def.kind,
                    base,
                    size: def.size,
                    prefetchable: def.prefetchable,
                })
            })
            .collect()
    }

    fn defined(&self) -> impl Iterator<Item = (usize, BarDef)> + '_ {
        self.defs
            .iter()
            .enumerate()
            .filter_map(|(index, def)| def.map(|d| (index, d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const KIB: u64 = 1 << 10;
    const GIB: u64 = 1 << 30;

    /// BAR0 64-bit prefetchable 1 MiB (+BAR1), BAR2 32-bit 4 KiB, BAR3 I/O 32 bytes.
    fn sample() -> (Bars, PciConfig) {
        let bars = Bars::new([
            Some(BarDef::new(0, BarKind::Mmio64, MIB, true).unwrap()),
            None,
            Some(BarDef::new(2, BarKind::Mmio32, 4 * KIB, false).unwrap()),
            Some(BarDef::new(3, BarKind::Io, 32, false).unwrap()),
            None,
            None,
        ])
        .unwrap();
        let mut cfg = PciConfig::new();
        cfg.set_writable_u16(COMMAND, COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE);
        bars.install(&mut cfg);
        (bars, cfg)
    }

    fn guest_write(bars: &mut Bars, cfg: &mut PciConfig, offset: u16, value: u32) {
        let data = value.to_le_bytes();
        cfg.write(offset, &data).unwrap();
        bars.observe_write(offset, &data);
    }

    fn enable(cfg: &mut PciConfig, bits: u16) {
        cfg.write(COMMAND, &bits.to_le_bytes()).unwrap();
    }

    #[test]
    fn sizing_reads_back_the_size_mask_with_the_type_bits() {
        let (mut bars, mut cfg) = sample();
        assert_eq!(
            cfg.u32_at(0x10),
            0x0000_000c,
            "64-bit prefetchable type bits"
        );
        guest_write(&mut bars, &mut cfg, 0x10, u32::MAX);
        assert_eq!(cfg.u32_at(0x10), 0xfff0_000c);
        guest_write(&mut bars, &mut cfg, 0x14, u32::MAX);
        assert_eq!(cfg.u32_at(0x14), 0xffff_ffff);
        guest_write(&mut bars, &mut cfg, 0x18, u32::MAX);
        assert_eq!(cfg.u32_at(0x18), 0xffff_f000);
        guest_write(&mut bars, &mut cfg, 0x1c, u32::MAX);
        assert_eq!(cfg.u32_at(0x1c), 0x0000_ffe1, "16-bit I/O decode, 32 bytes");
        guest_write(&mut bars, &mut cfg, 0x20, u32::MAX);
        assert_eq!(cfg.u32_at(0x20), 0, "unimplemented BARs read zero");
    }

    #[test]
    fn ranges_need_the_command_register() {
        let (mut bars, mut cfg) = sample();
        guest_write(&mut bars, &mut cfg, 0x10, 0xfe00_0000);
        guest_write(&mut bars, &mut cfg, 0x14, 0x0000_0001);
        guest_write(&mut bars, &mut cfg, 0x18, 0xc000_1000);
        guest_write(&mut bars, &mut cfg, 0x1c, 0x0000_c020);
        assert!(bars.ranges(&cfg).is_empty(), "decode disabled");
        enable(&mut cfg, COMMAND_MEMORY_SPACE);
        let ranges = bars.ranges(&cfg);
        assert_eq!(
            ranges,
            vec![
                BarRange {
                    index: 0,
                    kind: BarKind::Mmio64,
                    base: 0x1_fe00_0000,
                    size: MIB,
                    prefetchable: true
                },
                BarRange {
                    index: 2,
                    kind: BarKind::Mmio32,
                    base: 0xc000_1000,
                    size: 4 * KIB,
                    prefetchable: false
                },
            ]
        );
        enable(&mut cfg, COMMAND_IO_SPACE);
        assert_eq!(
            bars.ranges(&cfg),
            vec![BarRange {
                index: 3,
                kind: BarKind::Io,
                base: 0xc020,
                size: 32,
                prefetchable: false
            }]
        );
    }

    #[test]
    fn a_bar_being_sized_or_unassigned_does_not_decode() {
        let (mut bars, mut cfg) = sample();
        enable(&mut cfg, COMMAND_MEMORY_SPACE);
        assert!(bars.ranges(&cfg).is_empty(), "address 0 is unassigned");
        guest_write(&mut bars, &mut cfg, 0x18, 0xc000_0000);
        assert_eq!(bars.ranges(&cfg).len(), 1);
        guest_write(&mut bars, &mut cfg, 0x18, u32::MAX);
        assert!(bars.ranges(&cfg).is_empty(), "sizing with decode on");
        guest_write(&mut bars, &mut cfg, 0x18, 0xc000_0000);
        assert_eq!(bars.ranges(&cfg)[0].base, 0xc000_0000);
        // Sizing the upper half of a 64-bit BAR hides the whole BAR.
        guest_write(&mut bars, &mut cfg, 0x10, 0x8000_0000);
        assert_eq!(bars.ranges(&cfg).len(), 2);
        guest_write(&mut bars, &mut cfg, 0x14, u32::MAX);
        assert_eq!(bars.ranges(&cfg).len(), 1);
        guest_write(&mut bars, &mut cfg, 0x14, 0);
        assert_eq!(bars.ranges(&cfg).len(), 2);
    }

    #[test]
    fn sizes_round_up_and_limits_hold() {
        let def = BarDef::new(0, BarKind::Mmio32, 3000, false).unwrap();
        assert_eq!(def.size, 4 * KIB);
        assert_eq!(
            BarDef::new(0, BarKind::Mmio32, 1, false).unwrap().size,
            MIN_MEM_SIZE
        );
        assert_eq!(
            BarDef::new(0, BarKind::Io, 1, true).unwrap(),
            BarDef {
                kind: BarKind::Io,
                size: MIN_IO_SIZE,
                prefetchable: false
            }
        );
        assert!(matches!(
            BarDef::new(1, BarKind::Mmio32, 4 * GIB, false),
            Err(BarError::TooLarge { index: 1, .. })
        ));
        assert!(BarDef::new(1, BarKind::Mmio64, 4 * GIB, false).is_ok());
        assert!(BarDef::new(1, BarKind::Mmio64, u64::MAX, false).is_err());
        assert!(BarDef::new(1, BarKind::Io, IO_SPACE_SIZE * 2, false).is_err());
    }

    #[test]
    fn layouts_are_checked() {
        let mem64 = BarDef::new(0, BarKind::Mmio64, MIB, false).unwrap();
        let mut defs = [None; BAR_COUNT];
        defs[5] = Some(mem64);
        assert_eq!(Bars::new(defs), Err(BarError::NoUpperRegister(5)));
        let mut defs = [None; BAR_COUNT];
        defs[0] = Some(mem64);
        defs[1] = Some(mem64);
        assert_eq!(Bars::new(defs), Err(BarError::InUpperHalf(1)));
    }

    #[test]
    fn types_are_read_from_the_register() {
        let io = BarDef::from_register(0, 0x0000_c001, 64).unwrap();
        assert_eq!(io.kind, BarKind::Io);
        let m64 = BarDef::from_register(0, 0xfe00_000c, MIB).unwrap();
        assert_eq!((m64.kind, m64.prefetchable), (BarKind::Mmio64, true));
        let m32 = BarDef::from_register(0, 0xfe00_0000, MIB).unwrap();
        assert_eq!((m32.kind, m32.prefetchable), (BarKind::Mmio32, false));
        assert_eq!(
            BarDef::from_register(4, 0x2, MIB),
            Err(BarError::ReservedType {
                index: 4,
                bits: 0x2
            })
        );
    }

    #[test]
    fn firmware_style_programming() {
        let (bars, mut cfg) = sample();
        bars.set_base(&mut cfg, 0, 0x2_0000_0000).unwrap();
        assert_eq!(bars.base(&cfg, 0), Some(0x2_0000_0000));
        assert_eq!(cfg.u32_at(0x10), 0x0000_000c);
        assert_eq!(cfg.u32_at(0x14), 0x2);
        assert_eq!(bars.set_base(&mut cfg, 1, 0), Err(BarError::NoSuchBar(1)));
        assert_eq!(bars.base(&cfg, 4), None);
    }
}
