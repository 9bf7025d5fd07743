//! Direct Linux boot: kernel, initramfs, command line, zero page, GDT and page tables.
//!
//! The boot vCPU's registers are set in [`crate::vcpu::regs`] from what [`load`] returns.

pub mod gdt;
pub mod loader;
pub mod paging;
pub mod params;
pub mod reset_stub;

use std::path::Path;

use vm_memory::{Bytes, GuestAddress};

use crate::layout::{MemoryLayout, CMDLINE_ADDR, GDT_ADDR, IDT_ADDR, ZERO_PAGE_ADDR};
use crate::memory::GuestMemoryMmap;
pub use loader::LoadError;

/// What the boot vCPU needs to start the kernel.
#[derive(Debug, Clone, Copy)]
pub struct BootEntry {
    /// The 64-bit entry point.
    pub entry: u64,
}

/// The images and parameters for one boot.
#[derive(Debug)]
pub struct BootSpec<'a> {
    /// The bzImage.
    pub kernel: &'a Path,
    /// The initramfs, if any.
    pub initramfs: Option<&'a Path>,
    /// The kernel command line.
    pub cmdline: &'a str,
    /// Guest address of the ACPI RSDP.
    pub rsdp_addr: u64,
}

/// Loads everything the kernel needs into `mem` and returns where to start.
pub fn load(
    mem: &GuestMemoryMmap,
    layout: &MemoryLayout,
    spec: &BootSpec<'_>,
) -> Result<BootEntry, LoadError> {
    let low_end = layout.low_ram_end();
    let kernel = loader::load_kernel(mem, spec.kernel, low_end)?;
    let initramfs = spec
        .initramfs
        .map(|p| loader::load_initramfs(mem, p, low_end, &kernel.header))
        .transpose()?;
    let cmdline_len = loader::load_cmdline(mem, spec.cmdline, &kernel.header)?;
    let info = params::BootInfo {
        cmdline_addr: CMDLINE_ADDR,
        cmdline_len,
        initramfs,
        rsdp_addr: spec.rsdp_addr,
        e820: layout.e820(),
    };
    let zero_page = params::build(&kernel.header, &info);
    let write_err = |what| move |source| LoadError::GuestWrite { what, source };
    mem.write_obj(zero_page, GuestAddress(ZERO_PAGE_ADDR))
        .map_err(write_err("the zero page"))?;
    for (i, entry) in gdt::GDT.iter().enumerate() {
        mem.write_obj(*entry, GuestAddress(GDT_ADDR + 8 * i as u64))
            .map_err(write_err("the GDT"))?;
    }
    mem.write_obj(0u64, GuestAddress(IDT_ADDR))
        .map_err(write_err("the IDT"))?;
    paging::write(mem).map_err(write_err("the page tables"))?;
    mem.write_slice(
        &reset_stub::code(),
        GuestAddress(reset_stub::RESET_VECTOR_ADDR),
    )
    .map_err(write_err("the reset stub"))?;
    Ok(BootEntry {
        entry: kernel.entry,
    })
}
