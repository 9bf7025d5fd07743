//! Checks the two scenarios around QEMU's `edu` device share (`guest-intx`, `guest-msi`):
//! every raised interrupt seen in the status register and acknowledged, and a
//! `/proc/interrupts` line that counted them.

use crate::edu::Raised;
use crate::proc_interrupts::{parse_interrupt_line, InterruptLine};

/// Checks that each interrupt `tool` reported had its raised bit in edu's status register
/// when it arrived and that the acknowledge cleared the status.
pub fn check_acknowledged<'a>(
    tool: &str,
    raised: impl IntoIterator<Item = &'a Raised>,
) -> Result<(), String> {
    for (i, irq) in raised.into_iter().enumerate() {
        if !irq.acknowledged() {
            return Err(format!(
                "{tool}: interrupt {}: raised {:#x}, status {:#x} on arrival, {:#x} after the acknowledge",
                i + 1,
                irq.bit,
                irq.status,
                irq.status_after_ack
            ));
        }
    }
    Ok(())
}

/// The line of `/proc/interrupts` (as printed in `lines`; `place` names it in messages)
/// whose actions include `action`, checked to have counted at least `at_least`.
pub fn counted_interrupt_line(
    lines: &[String],
    action: &str,
    at_least: u64,
    place: &str,
) -> Result<InterruptLine, String> {
    let line = lines
        .iter()
        .filter(|l| l.contains(action))
        .find_map(|l| parse_interrupt_line(l))
        .ok_or_else(|| format!("no {action} line in {place}: {lines:?}"))?;
    if line.count < at_least {
        return Err(format!(
            "{place}: {action} (IRQ {}) counted {}, want at least {at_least}",
            line.irq, line.count
        ));
    }
    Ok(line)
}
