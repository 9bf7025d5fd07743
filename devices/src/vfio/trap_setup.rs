//! What the trap map of an assigned function traps, and why.
//!
//! Type 0 header:
//! - **BARs** (0x10..0x28): emulated. Sizes come from the VFIO regions, types from the
//!   device's registers; the guest never writes a physical BAR.
//! - **Command**: every write is forwarded, and Memory/I/O Space Enable are also kept
//!   locally (they decide which BARs decode; reads return the local bits). Forwarding
//!   them is required: vfio-pci gates region access and mmap faults on its own copy of
//!   Memory Space Enable. Bus Master (DMA and MSI writes) and Interrupt Disable (vfio-pci
//!   virtualises it to mask INTx) are the device's.
//! - **Header Type**: the Multi-Function bit reads 0 — the function sits alone in its
//!   guest slot, so the guest must not scan for siblings.
//! - **Expansion ROM BAR**: reads 0 (no ROM): the guest boots without firmware, and a ROM
//!   BAR would be a second path to program a physical decoder.
//! - **Interrupt Line**: a local scratch register (the guest's routing, not the host's).
//! - Capabilities Pointer, the Capabilities List bit of Status, every capability header,
//!   and every hidden or virtualised capability: from the capability layout.
//!
//! Everything else (IDs, class, Status error bits, Interrupt Pin, capability bodies the
//! layout passes) goes to the device.

use super::trap_map::{ByteTrap, TrapMap};
use super::VirtualCap;
use crate::pci::access::CONFIG_SPACE_SIZE;
use crate::pci::bar::Bars;
use crate::pci::capability::{CapabilityLayout, Route};
use crate::pci::config::PciConfig;
use crate::pci::header::{
    BAR0, BAR_END, COMMAND, COMMAND_IO_SPACE, COMMAND_MEMORY_SPACE, EXPANSION_ROM, HEADER_TYPE,
    HEADER_TYPE_MULTI_FUNCTION, INTERRUPT_LINE,
};

/// Command bits kept locally (both in the low byte).
const COMMAND_DECODE: u16 = COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE;
/// Bytes of the Expansion ROM BAR.
const EXPANSION_ROM_LEN: u16 = 4;

/// Traps the header registers listed in the module documentation and writes their
/// reset values into `local`.
pub(crate) fn trap_header(bars: &Bars, local: &mut PciConfig, traps: &mut TrapMap) {
    traps.set(
        COMMAND,
        ByteTrap::Split {
            local: COMMAND_DECODE as u8,
            forward: true,
        },
    );
    local.set_u16(COMMAND, local.u16_at(COMMAND) & !COMMAND_DECODE);
    local.set_writable_u16(COMMAND, COMMAND_DECODE);

    traps.set(
        HEADER_TYPE,
        ByteTrap::Split {
            local: HEADER_TYPE_MULTI_FUNCTION,
            forward: true,
        },
    );
    local.set_u8(
        HEADER_TYPE,
        local.u8_at(HEADER_TYPE) & !HEADER_TYPE_MULTI_FUNCTION,
    );

    traps.emulate(BAR0, BAR_END - BAR0);
    bars.install(local);

    traps.emulate(EXPANSION_ROM, EXPANSION_ROM_LEN);
    local.set_u32(EXPANSION_ROM, 0);
    local.set_writable_u32(EXPANSION_ROM, 0);

    traps.emulate(INTERRUPT_LINE, 1);
    local.set_u8(INTERRUPT_LINE, 0);
    local.set_writable_u8(INTERRUPT_LINE, u8::MAX);
}

/// Traps what the capability layout owns: fixed bytes (headers, hidden capabilities) are
/// written into `local` and served from there, patched bits likewise, MSI and MSI-X
/// bodies are emulated in `local`, other handlers get their bytes.
pub(crate) fn trap_layout(
    layout: &CapabilityLayout<VirtualCap>,
    local: &mut PciConfig,
    traps: &mut TrapMap,
) {
    for offset in 0..CONFIG_SPACE_SIZE {
        match layout.route(offset) {
            Route::Device => {}
            Route::Fixed(value) => {
                traps.emulate(offset, 1);
                local.set_u8(offset, value);
                local.set_writable_u8(offset, 0);
            }
            Route::Patched { mask, value } => {
                traps.set(
                    offset,
                    ByteTrap::Split {
                        local: mask,
                        forward: true,
                    },
                );
                local.set_u8(offset, (local.u8_at(offset) & !mask) | (value & mask));
            }
            Route::Handler {
                key: VirtualCap::Msi | VirtualCap::Msix,
                ..
            } => traps.emulate(offset, 1),
            Route::Handler {
                key: VirtualCap::Handler(index),
                offset: in_cap,
            } => traps.set(
                offset,
                ByteTrap::Handler {
                    index,
                    offset: in_cap,
                },
            ),
        }
    }
}
