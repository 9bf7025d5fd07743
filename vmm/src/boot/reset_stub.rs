//! A firmware stand-in at the x86 reset vector (0xFFFF0, real mode `F000:FFF0`).
//!
//! On a hardware-reduced ACPI platform without EFI, Linux's emergency restart (a panic with
//! `panic=-1`, `reboot -f`) tries EFI, finds none, then switches to real mode and jumps to the
//! reset vector expecting a BIOS (`arch/x86/kernel/reboot.c`, `BOOT_BIOS`). There is no BIOS
//! here, so the vector holds these few instructions, which write the ACPI reset register:
//! the VMM then sees an ordinary reset.

use crate::devices::acpi_pm::{RESET_PORT, RESET_VALUE};

/// Guest-physical address of the reset vector.
pub const RESET_VECTOR_ADDR: u64 = 0xf_fff0;

/// `mov al, imm8`.
const MOV_AL_IMM8: u8 = 0xb0;
/// `mov dx, imm16` (in 16-bit code).
const MOV_DX_IMM16: u8 = 0xba;
/// `out dx, al`.
const OUT_DX_AL: u8 = 0xee;
/// `hlt`.
const HLT: u8 = 0xf4;
/// `jmp rel8`.
const JMP_REL8: u8 = 0xeb;

/// The stub: `mov al, RESET_VALUE; mov dx, RESET_PORT; out dx, al; 1: hlt; jmp 1b`.
pub fn code() -> [u8; 9] {
    let [port_lo, port_hi] = RESET_PORT.to_le_bytes();
    // The jump goes back 3 bytes: over itself (2) and the hlt (1).
    let back = (-3i8) as u8;
    [
        MOV_AL_IMM8,
        RESET_VALUE,
        MOV_DX_IMM16,
        port_lo,
        port_hi,
        OUT_DX_AL,
        HLT,
        JMP_REL8,
        back,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_below_1_mib_and_writes_the_reset_register() {
        let c = code();
        assert!(RESET_VECTOR_ADDR + c.len() as u64 <= 0x10_0000);
        assert_eq!(&c[..2], &[0xb0, RESET_VALUE]);
        assert_eq!(u16::from_le_bytes([c[3], c[4]]), RESET_PORT);
        assert_eq!(c[5], 0xee);
        assert_eq!(&c[6..], &[0xf4, 0xeb, 0xfd]);
    }
}
