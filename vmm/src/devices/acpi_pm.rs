//! The hardware-reduced ACPI sleep control/status and reset registers (ACPI 6.5 §4.8.3.7,
//! §4.8.3.6), on I/O ports the FADT points at. Writing S5 to the sleep control register is
//! the guest's power-off; writing the reset value to the reset register is its reset.

use std::sync::Arc;

use crate::acpi::dsdt::S5_SLEEP_TYPE;
use crate::bus::BusDevice;
use crate::exit::{ExitNotifier, VmExit};

/// First port of the block.
pub const PM_BASE: u16 = 0x600;
/// Sleep control register (8 bits).
pub const SLEEP_CONTROL_PORT: u16 = PM_BASE;
/// Sleep status register (8 bits).
pub const SLEEP_STATUS_PORT: u16 = PM_BASE + 1;
/// Reset register (8 bits).
pub const RESET_PORT: u16 = PM_BASE + 2;
/// Number of ports.
pub const PM_LEN: u16 = 3;
/// Value that resets the machine when written to the reset register.
pub const RESET_VALUE: u8 = 0x1;

/// Sleep control: SLP_EN (ACPI 6.5 Table 4.19).
const SLP_EN: u8 = 1 << 5;
/// Sleep control: SLP_TYPx field shift.
const SLP_TYP_SHIFT: u8 = 2;
/// Sleep control: SLP_TYPx field mask (after the shift).
const SLP_TYP_MASK: u8 = 0x7;

/// What a write to the block asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmRequest {
    /// Enter S5 (power off).
    PowerOff,
    /// Reset the machine.
    Reset,
}

/// Decodes a one-byte write at `offset` from [`PM_BASE`].
pub fn decode(offset: u64, value: u8) -> Option<PmRequest> {
    match offset {
        0 if value & SLP_EN != 0 && (value >> SLP_TYP_SHIFT) & SLP_TYP_MASK == S5_SLEEP_TYPE => {
            Some(PmRequest::PowerOff)
        }
        2 if value == RESET_VALUE => Some(PmRequest::Reset),
        _ => None,
    }
}

/// The register block.
#[derive(Debug)]
pub struct AcpiPm {
    exit: Arc<ExitNotifier>,
}

impl AcpiPm {
    /// A block that reports power-off and reset through `exit`.
    pub fn new(exit: Arc<ExitNotifier>) -> Self {
        Self { exit }
    }
}

impl BusDevice for AcpiPm {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        // Wake status is never set: the guest does not sleep and wake here.
        data.fill(0);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let [value] = data else { return };
        match decode(offset, *value) {
            Some(PmRequest::PowerOff) => {
                log::info!("guest powered off (ACPI S5)");
                self.exit.notify(VmExit::PowerOff);
            }
            Some(PmRequest::Reset) => {
                log::info!("guest wrote the ACPI reset register");
                self.exit.notify(VmExit::Reset);
            }
            None => crate::debug_ratelimited!("acpi-pm: ignored write {value:#x} at +{offset}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_s5_and_reset() {
        assert_eq!(decode(0, (5 << 2) | SLP_EN), Some(PmRequest::PowerOff));
        assert_eq!(decode(0, 5 << 2), None, "without SLP_EN");
        assert_eq!(decode(0, (3 << 2) | SLP_EN), None, "S3 is not power-off");
        assert_eq!(decode(2, RESET_VALUE), Some(PmRequest::Reset));
        assert_eq!(decode(1, RESET_VALUE), None);
    }

    #[test]
    fn power_off_reaches_the_notifier() {
        let exit = Arc::new(ExitNotifier::new().unwrap());
        let mut pm = AcpiPm::new(exit.clone());
        pm.write(0, &[(5 << 2) | SLP_EN]);
        assert_eq!(exit.reason(), Some(VmExit::PowerOff));
    }
}
