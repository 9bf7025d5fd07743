//! COM1: a 16550A-compatible UART (vm-superio) at 0x3F8, interrupting on GSI 4 through an
//! irqfd into the in-kernel IOAPIC.

use std::io::Write;

use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

use crate::bus::BusDevice;

/// COM1's I/O base.
pub const COM1_BASE: u16 = 0x3f8;
/// Its number of ports.
pub const COM1_LEN: u16 = 8;
/// Its interrupt (ISA IRQ 4 = IOAPIC pin 4).
pub const COM1_GSI: u32 = 4;

/// An [`EventFd`] registered as an irqfd: writing it raises the interrupt.
#[derive(Debug)]
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// The UART on the port bus.
pub struct SerialDevice {
    uart: Serial<IrqTrigger, vm_superio::serial::NoEvents, Box<dyn Write + Send>>,
}

impl std::fmt::Debug for SerialDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialDevice").finish_non_exhaustive()
    }
}

impl SerialDevice {
    /// A UART that writes to `out` and raises `irq`.
    pub fn new(irq: EventFd, out: Box<dyn Write + Send>) -> Self {
        Self {
            uart: Serial::new(IrqTrigger(irq), out),
        }
    }

    /// Queues guest input; returns how many bytes fit in the receive FIFO.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        self.uart.enqueue_raw_bytes(bytes).unwrap_or(0)
    }

    /// Flushes the output.
    pub fn flush(&mut self) {
        let _ = self.uart.writer_mut().flush();
    }
}

impl BusDevice for SerialDevice {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if let ([byte], Ok(reg)) = (&mut *data, u8::try_from(offset)) {
            *byte = self.uart.read(reg);
        } else {
            data.fill(0xff);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let ([byte], Ok(reg)) = (data, u8::try_from(offset)) {
            if let Err(e) = self.uart.write(reg, *byte) {
                crate::warn_ratelimited!("serial: {e:?}");
            }
        }
    }
}
