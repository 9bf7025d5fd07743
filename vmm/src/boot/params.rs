//! The zero page (`struct boot_params`) for Linux's 64-bit boot protocol.
//!
//! Field meanings: Linux `Documentation/arch/x86/boot.rst` and `zero-page.rst`.

use linux_loader::loader::bootparam::{boot_e820_entry, boot_params, setup_header};

use crate::layout::E820Entry;

/// `boot_flag` value every boot sector carries.
pub const BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// `header` magic: "HdrS".
pub const HDRS_MAGIC: u32 = 0x5372_6448;
/// `type_of_loader`: "undefined" boot loader.
const LOADER_UNDEFINED: u8 = 0xff;
/// Most e820 entries the zero page holds.
pub const E820_MAX: usize = 128;

/// What goes into the zero page besides the kernel's own setup header.
#[derive(Debug, Clone)]
pub struct BootInfo {
    /// Guest address of the NUL-terminated command line.
    pub cmdline_addr: u64,
    /// Its length without the NUL.
    pub cmdline_len: u32,
    /// The initramfs as `(guest address, size)`, if any.
    pub initramfs: Option<(u64, u32)>,
    /// Guest address of the ACPI RSDP.
    pub rsdp_addr: u64,
    /// The memory map.
    pub e820: Vec<E820Entry>,
}

/// Builds the zero page from the kernel's setup header and `info`.
pub fn build(header: &setup_header, info: &BootInfo) -> boot_params {
    let mut params = boot_params {
        hdr: *header,
        ..Default::default()
    };
    params.hdr.type_of_loader = LOADER_UNDEFINED;
    params.hdr.boot_flag = BOOT_FLAG_MAGIC;
    params.hdr.header = HDRS_MAGIC;
    // The command line and initramfs sit below 4 GiB (see `layout`), so they fit 32 bits.
    params.hdr.cmd_line_ptr = info.cmdline_addr as u32;
    params.hdr.cmdline_size = info.cmdline_len;
    if let Some((addr, size)) = info.initramfs {
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = size;
    }
    params.acpi_rsdp_addr = info.rsdp_addr;
    let count = info.e820.len().min(E820_MAX);
    for (slot, entry) in params.e820_table.iter_mut().zip(&info.e820[..count]) {
        *slot = boot_e820_entry {
            addr: entry.addr,
            size: entry.size,
            r#type: entry.kind as u32,
        };
    }
    params.e820_entries = count as u8;
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{MemoryLayout, CMDLINE_ADDR};

    #[test]
    fn fills_the_protocol_fields() {
        let e820 = MemoryLayout::new(512 << 20).e820();
        let info = BootInfo {
            cmdline_addr: CMDLINE_ADDR,
            cmdline_len: 13,
            initramfs: Some((0x1f00_0000, 0x40_0000)),
            rsdp_addr: 0xe_0000,
            e820: e820.clone(),
        };
        let header = setup_header {
            version: 0x020f,
            ..Default::default()
        };
        let p = build(&header, &info);
        let hdr = p.hdr;
        assert_eq!({ hdr.version }, 0x020f);
        assert_eq!({ hdr.boot_flag }, BOOT_FLAG_MAGIC);
        assert_eq!({ hdr.header }, HDRS_MAGIC);
        assert_eq!({ hdr.type_of_loader }, 0xff);
        assert_eq!({ hdr.cmd_line_ptr }, CMDLINE_ADDR as u32);
        assert_eq!({ hdr.ramdisk_image }, 0x1f00_0000);
        assert_eq!({ hdr.ramdisk_size }, 0x40_0000);
        assert_eq!({ p.acpi_rsdp_addr }, 0xe_0000);
        assert_eq!(usize::from(p.e820_entries), e820.len());
        let first = p.e820_table[0];
        assert_eq!(({ first.addr }, { first.r#type }), (0, 1));
    }
}
