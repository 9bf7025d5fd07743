//! The boot GDT: a flat 64-bit code segment, a flat data segment and a TSS descriptor,
//! and their conversion to the `kvm_segment`s the vCPU's segment registers are loaded with.
//!
//! Descriptor format: Intel SDM Vol. 3A §3.4.5 (segment descriptors).

use kvm_bindings::kvm_segment;

/// Access byte: present, ring 0, code, execute/read, accessed.
const ACCESS_CODE: u8 = 0x9b;
/// Access byte: present, ring 0, data, read/write, accessed.
const ACCESS_DATA: u8 = 0x93;
/// Access byte: present, system, 32/64-bit TSS (busy).
const ACCESS_TSS: u8 = 0x8b;
/// Flags nibble: 4 KiB granularity, 64-bit code (L).
const FLAGS_CODE64: u8 = 0xa;
/// Flags nibble: 4 KiB granularity, 32-bit default operand size (D/B).
const FLAGS_DATA: u8 = 0xc;
/// Flags nibble for the TSS: byte granularity.
const FLAGS_TSS: u8 = 0x0;
/// Segment limit of the flat segments (with 4 KiB granularity: 4 GiB).
const FLAT_LIMIT: u32 = 0xf_ffff;

/// Selector index of the code segment.
pub const CODE_INDEX: u16 = 1;
/// Selector index of the data segment.
pub const DATA_INDEX: u16 = 2;
/// Selector index of the TSS.
pub const TSS_INDEX: u16 = 3;

/// Encodes one segment descriptor.
pub const fn descriptor(access: u8, flags: u8, base: u32, limit: u32) -> u64 {
    let limit_low = (limit & 0xffff) as u64;
    let base_low = (base & 0xff_ffff) as u64;
    let limit_high = ((limit >> 16) & 0xf) as u64;
    let base_high = (base >> 24) as u64;
    limit_low
        | (base_low << 16)
        | ((access as u64) << 40)
        | (limit_high << 48)
        | (((flags & 0xf) as u64) << 52)
        | (base_high << 56)
}

/// The boot GDT, in table order (entry 0 is the null descriptor).
pub const GDT: [u64; 4] = [
    0,
    descriptor(ACCESS_CODE, FLAGS_CODE64, 0, FLAT_LIMIT),
    descriptor(ACCESS_DATA, FLAGS_DATA, 0, FLAT_LIMIT),
    descriptor(ACCESS_TSS, FLAGS_TSS, 0, FLAT_LIMIT),
];

/// The `kvm_segment` that loading selector `index` of `gdt` produces.
pub fn segment(gdt: &[u64], index: u16) -> kvm_segment {
    let d = gdt[usize::from(index)];
    let access = ((d >> 40) & 0xff) as u8;
    let flags = ((d >> 52) & 0xf) as u8;
    let base = ((d >> 16) & 0xff_ffff) | ((d >> 56) << 24);
    let raw_limit = ((d & 0xffff) | (((d >> 48) & 0xf) << 16)) as u32;
    let granular = flags & 0x8 != 0;
    let present = access >> 7;
    kvm_segment {
        base,
        limit: if granular {
            (raw_limit << 12) | 0xfff
        } else {
            raw_limit
        },
        selector: index * 8,
        type_: access & 0xf,
        present,
        dpl: (access >> 5) & 0x3,
        db: (flags >> 2) & 1,
        s: (access >> 4) & 1,
        l: (flags >> 1) & 1,
        g: flags >> 3,
        avl: flags & 1,
        unusable: u8::from(present == 0),
        padding: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_well_known_flat_descriptors() {
        assert_eq!(GDT[1], 0x00af_9b00_0000_ffff);
        assert_eq!(GDT[2], 0x00cf_9300_0000_ffff);
        assert_eq!(GDT[3], 0x000f_8b00_0000_ffff);
    }

    #[test]
    fn code_segment_is_64_bit_ring_0() {
        let cs = segment(&GDT, CODE_INDEX);
        assert_eq!(
            (cs.selector, cs.l, cs.db, cs.dpl, cs.present, cs.s),
            (8, 1, 0, 0, 1, 1)
        );
        assert_eq!((cs.base, cs.limit, cs.type_), (0, 0xffff_ffff, 0xb));
        let ds = segment(&GDT, DATA_INDEX);
        assert_eq!((ds.selector, ds.l, ds.db, ds.type_), (16, 0, 1, 3));
        let tr = segment(&GDT, TSS_INDEX);
        assert_eq!((tr.selector, tr.s, tr.g, tr.limit), (24, 0, 0, 0xf_ffff));
    }

    #[test]
    fn base_round_trips() {
        let d = descriptor(ACCESS_DATA, FLAGS_DATA, 0x1234_5678, 0xabcde);
        let s = segment(&[0, d], 1);
        assert_eq!(s.base, 0x1234_5678);
        assert_eq!(s.limit, 0xabcd_efff);
    }
}
