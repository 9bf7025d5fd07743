//! Initial vCPU state: MSRs, FPU and LAPIC for every vCPU; long-mode registers for the
//! boot vCPU (Linux 64-bit boot protocol: RSI = zero page, paging on, flat segments).

use kvm_bindings::{kvm_fpu, kvm_msr_entry, kvm_regs, kvm_sregs, Msrs};
use kvm_ioctls::VcpuFd;

use crate::boot::gdt::{self, CODE_INDEX, DATA_INDEX, TSS_INDEX};
use crate::layout::{BOOT_STACK_TOP, GDT_ADDR, IDT_ADDR, PML4_ADDR, ZERO_PAGE_ADDR};

/// MSR indices (Intel SDM Vol. 4).
mod msr {
    pub const IA32_TSC: u32 = 0x10;
    pub const IA32_SYSENTER_CS: u32 = 0x174;
    pub const IA32_SYSENTER_ESP: u32 = 0x175;
    pub const IA32_SYSENTER_EIP: u32 = 0x176;
    pub const IA32_MISC_ENABLE: u32 = 0x1a0;
    pub const IA32_MTRR_DEF_TYPE: u32 = 0x2ff;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const CSTAR: u32 = 0xc000_0083;
    pub const SYSCALL_MASK: u32 = 0xc000_0084;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
}
/// IA32_MISC_ENABLE: fast string operations.
const MISC_ENABLE_FAST_STRING: u64 = 1 << 0;
/// IA32_MTRR_DEF_TYPE: MTRRs enabled, default type write-back.
const MTRR_ENABLE_WB: u64 = (1 << 11) | 6;

/// CR0: protected mode.
const CR0_PE: u64 = 1 << 0;
/// CR0: extension type (always 1).
const CR0_ET: u64 = 1 << 4;
/// CR0: paging.
const CR0_PG: u64 = 1 << 31;
/// CR4: physical address extension.
const CR4_PAE: u64 = 1 << 5;
/// EFER: long mode enable.
const EFER_LME: u64 = 1 << 8;
/// EFER: long mode active.
const EFER_LMA: u64 = 1 << 10;
/// RFLAGS bit 1 is reserved and always set.
const RFLAGS_RESERVED: u64 = 1 << 1;
/// x87 control word after FNINIT.
const FPU_CONTROL_DEFAULT: u16 = 0x37f;
/// MXCSR after reset: all exceptions masked.
const MXCSR_DEFAULT: u32 = 0x1f80;

/// LAPIC register offsets and LVT delivery modes (Intel SDM Vol. 3A §11.5.1).
const APIC_LVT_LINT0: usize = 0x350;
const APIC_LVT_LINT1: usize = 0x360;
const APIC_DELIVERY_MODE_SHIFT: u32 = 8;
const APIC_DELIVERY_MODE_MASK: u32 = 0x7 << APIC_DELIVERY_MODE_SHIFT;
const APIC_MODE_EXTINT: u32 = 0x7;
const APIC_MODE_NMI: u32 = 0x4;

/// Errors configuring a vCPU.
#[derive(Debug, thiserror::Error)]
pub enum RegsError {
    /// An ioctl failed.
    #[error("{ioctl} failed on vCPU {cpu}: {source}")]
    Ioctl {
        /// Which ioctl.
        ioctl: &'static str,
        /// Which vCPU.
        cpu: u8,
        /// The errno.
        source: kvm_ioctls::Error,
    },
    /// KVM set fewer MSRs than asked.
    #[error("KVM_SET_MSRS set {set} of {asked} MSRs on vCPU {cpu}")]
    Msrs {
        /// Set.
        set: usize,
        /// Asked.
        asked: usize,
        /// Which vCPU.
        cpu: u8,
    },
}

/// The boot MSR values.
pub fn boot_msrs() -> Vec<kvm_msr_entry> {
    [
        (msr::IA32_SYSENTER_CS, 0),
        (msr::IA32_SYSENTER_ESP, 0),
        (msr::IA32_SYSENTER_EIP, 0),
        (msr::STAR, 0),
        (msr::CSTAR, 0),
        (msr::KERNEL_GS_BASE, 0),
        (msr::SYSCALL_MASK, 0),
        (msr::LSTAR, 0),
        (msr::IA32_TSC, 0),
        (msr::IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
        (msr::IA32_MTRR_DEF_TYPE, MTRR_ENABLE_WB),
    ]
    .into_iter()
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    })
    .collect()
}

/// Sets what every vCPU needs: MSRs, FPU, LAPIC LINT0 = ExtINT, LINT1 = NMI.
pub fn setup_common(vcpu: &VcpuFd, cpu: u8) -> Result<(), RegsError> {
    let ioctl = |ioctl| move |source| RegsError::Ioctl { ioctl, cpu, source };
    let entries = boot_msrs();
    let msrs = Msrs::from_entries(&entries).expect("fewer MSRs than KVM_MAX_MSR_ENTRIES");
    let set = vcpu.set_msrs(&msrs).map_err(ioctl("KVM_SET_MSRS"))?;
    if set != entries.len() {
        return Err(RegsError::Msrs {
            set,
            asked: entries.len(),
            cpu,
        });
    }
    let fpu = kvm_fpu {
        fcw: FPU_CONTROL_DEFAULT,
        mxcsr: MXCSR_DEFAULT,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(ioctl("KVM_SET_FPU"))?;
    let mut lapic = vcpu.get_lapic().map_err(ioctl("KVM_GET_LAPIC"))?;
    // SAFETY: `regs` is a plain byte array (c_char); viewing it as u8 changes nothing.
    let regs: &mut [u8] = unsafe { &mut *(std::ptr::from_mut(&mut lapic.regs[..]) as *mut [u8]) };
    set_delivery_mode(regs, APIC_LVT_LINT0, APIC_MODE_EXTINT);
    set_delivery_mode(regs, APIC_LVT_LINT1, APIC_MODE_NMI);
    vcpu.set_lapic(&lapic).map_err(ioctl("KVM_SET_LAPIC"))
}

/// Sets the delivery mode of the LVT register at `offset` in a LAPIC register page.
pub fn set_delivery_mode(regs: &mut [u8], offset: usize, mode: u32) {
    let mut v = u32::from_le_bytes(regs[offset..offset + 4].try_into().expect("4 bytes"));
    v = (v & !APIC_DELIVERY_MODE_MASK) | (mode << APIC_DELIVERY_MODE_SHIFT);
    regs[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
}

/// The boot vCPU's special registers: long mode, identity paging, the boot GDT.
pub fn boot_sregs(mut sregs: kvm_sregs) -> kvm_sregs {
    let code = gdt::segment(&gdt::GDT, CODE_INDEX);
    let data = gdt::segment(&gdt::GDT, DATA_INDEX);
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = (std::mem::size_of_val(&gdt::GDT) - 1) as u16;
    sregs.idt.base = IDT_ADDR;
    sregs.idt.limit = 7;
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = gdt::segment(&gdt::GDT, TSS_INDEX);
    sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
    sregs
}

/// The boot vCPU's general registers.
pub fn boot_regs(entry: u64) -> kvm_regs {
    kvm_regs {
        rflags: RFLAGS_RESERVED,
        rip: entry,
        rsp: BOOT_STACK_TOP,
        rbp: BOOT_STACK_TOP,
        rsi: ZERO_PAGE_ADDR,
        ..Default::default()
    }
}

/// Puts the boot vCPU at the kernel's 64-bit entry point.
pub fn setup_boot_cpu(vcpu: &VcpuFd, entry: u64) -> Result<(), RegsError> {
    let ioctl = |ioctl| {
        move |source| RegsError::Ioctl {
            ioctl,
            cpu: 0,
            source,
        }
    };
    let sregs = vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
    vcpu.set_sregs(&boot_sregs(sregs))
        .map_err(ioctl("KVM_SET_SREGS"))?;
    vcpu.set_regs(&boot_regs(entry))
        .map_err(ioctl("KVM_SET_REGS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_mode_state() {
        let s = boot_sregs(kvm_sregs::default());
        assert_eq!(s.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
        assert_eq!(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
        assert_eq!(
            (s.cs.selector, s.cs.l, s.ds.selector, s.tr.selector),
            (8, 1, 16, 24)
        );
        assert_eq!((s.gdt.base, s.gdt.limit), (GDT_ADDR, 31));
        let r = boot_regs(0x100_200);
        assert_eq!((r.rip, r.rsi, r.rflags), (0x100_200, ZERO_PAGE_ADDR, 2));
    }

    #[test]
    fn lint_delivery_modes() {
        let mut page = vec![0u8; 0x400];
        page[APIC_LVT_LINT0..APIC_LVT_LINT0 + 4].copy_from_slice(&0x0001_0700u32.to_le_bytes());
        set_delivery_mode(&mut page, APIC_LVT_LINT0, APIC_MODE_EXTINT);
        set_delivery_mode(&mut page, APIC_LVT_LINT1, APIC_MODE_NMI);
        assert_eq!(
            u32::from_le_bytes(page[0x350..0x354].try_into().unwrap()),
            0x0001_0700
        );
        assert_eq!(
            u32::from_le_bytes(page[0x360..0x364].try_into().unwrap()),
            0x400
        );
    }

    #[test]
    fn mtrrs_default_to_write_back() {
        let m = boot_msrs();
        assert!(m
            .iter()
            .any(|e| e.index == msr::IA32_MTRR_DEF_TYPE && e.data == 0x806));
    }
}
