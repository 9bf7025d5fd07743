//! Legacy INTx routing of the root bus: which IOAPIC input (GSI) each device's INTA#–INTD#
//! reaches. The DSDT's `_PRT` tells the guest (ACPI 6.5 §6.2.13: one entry per device and
//! pin, `Source` 0 so `SourceIndex` is the GSI, level-triggered and active-low as PCI
//! interrupts are), and the VFIO backend connects an assigned function's INTx eventfd to
//! the same GSI.
//!
//! The eight IOAPIC pins above the ISA range (16–23) are shared by the 32 devices with the
//! usual swizzle, `(device + pin) mod 8`, so neighbouring devices land on different lines.

/// The first IOAPIC input used for PCI INTx.
pub const INTX_GSI_BASE: u32 = 16;
/// How many IOAPIC inputs PCI INTx shares (16–23; KVM's IOAPIC has 24).
pub const INTX_GSI_COUNT: u32 = 8;
/// Devices on the root bus.
pub const DEVICES: u8 = 32;
/// INTA# … INTD#, as the Interrupt Pin register numbers them (1–4; 0 is "none").
pub const PINS: u8 = 4;

/// The GSI of `device`'s INTx `pin` (the Interrupt Pin register's value, 1 = INTA#), or
/// `None` when the function uses no INTx (`pin` 0) or either value is out of range.
pub fn gsi(device: u8, pin: u8) -> Option<u32> {
    if device >= DEVICES || !(1..=PINS).contains(&pin) {
        return None;
    }
    Some(INTX_GSI_BASE + (u32::from(device) + u32::from(pin) - 1) % INTX_GSI_COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_swizzle_over_the_eight_lines() {
        assert_eq!(gsi(0, 1), Some(16));
        assert_eq!(gsi(1, 1), Some(17));
        assert_eq!(gsi(1, 4), Some(20));
        assert_eq!(gsi(7, 2), Some(16));
        assert_eq!(gsi(31, 4), Some(18));
        for device in 0..DEVICES {
            for pin in 1..=PINS {
                let g = gsi(device, pin).unwrap();
                assert!((16..24).contains(&g), "{device} {pin} -> {g}");
            }
        }
    }

    #[test]
    fn no_pin_or_out_of_range_has_no_line() {
        assert_eq!(gsi(1, 0), None);
        assert_eq!(gsi(1, 5), None);
        assert_eq!(gsi(32, 1), None);
    }
}
