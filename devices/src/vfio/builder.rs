//! Builds a [`PassthroughFunction`] in small steps: snapshot the device's config space,
//! lay out its capabilities (hide by policy, emulate MSI/MSI-X, attach handlers), emulate
//! its BARs from the region sizes, set up the trap map, and start INTx.

use super::backend::{intx_pin, IrqKind, PassthroughBackend, RegionInfo};
use super::bar_map::bar_mapping;
use super::error::PassthroughError;
use super::function::PassthroughFunction;
use super::interrupt::InterruptSink;
use super::irq_state::InterruptState;
use super::msi::MsiCap;
use super::msix::{MsixCap, MsixTable};
use super::policy::hidden_reason;
use super::trap_map::TrapMap;
use super::trap_setup::{trap_header, trap_layout};
use super::VirtualCap;
use crate::pci::access::{CONFIG_SPACE_SIZE, DWORD};
use crate::pci::bar::{BarDef, Bars};
use crate::pci::capability::ids::{STD_MSI, STD_MSIX};
use crate::pci::capability::{CapRef, CapSpace, Capability, CapabilityHandler, CapabilityLayout};
use crate::pci::config::PciConfig;
use crate::pci::device::BarKind;
use crate::pci::header::{
    BAR0, BAR_COUNT, BAR_STRIDE, HEADER_LAYOUT_TYPE0, HEADER_TYPE, HEADER_TYPE_LAYOUT,
    LEGACY_CONFIG_SIZE,
};

/// A capability handler to attach, and where.
struct Attach {
    handler: Box<dyn CapabilityHandler>,
    len: u16,
    place: Place,
}

/// Where an attached handler goes.
enum Place {
    /// Over the device's extended capability at this offset.
    Virtualise(u16),
    /// As a new extended capability with this ID and version.
    Synthesise(u16, u8),
}

/// Builds a [`PassthroughFunction`].
pub struct PassthroughBuilder<B> {
    backend: B,
    sink: Box<dyn InterruptSink>,
    attach: Vec<Attach>,
}

impl<B: PassthroughBackend> PassthroughBuilder<B> {
    /// Starts a function over `backend`; its interrupt updates go to `sink`.
    pub fn new(backend: B, sink: Box<dyn InterruptSink>) -> Self {
        PassthroughBuilder {
            backend,
            sink,
            attach: Vec::new(),
        }
    }

    /// Lets `handler` own the body (`len` bytes from the header) of the device's
    /// extended capability at `offset`, which stays linked at the same place. This is
    /// how a virtual DOE replaces the hidden physical one.
    pub fn virtualise_extended(
        mut self,
        offset: u16,
        len: u16,
        handler: Box<dyn CapabilityHandler>,
    ) -> Self {
        self.attach.push(Attach {
            handler,
            len,
            place: Place::Virtualise(offset),
        });
        self
    }

    /// Adds an extended capability (`id`, `version`, `len` bytes) the device does not
    /// have, at the first free offset, owned by `handler` (e.g. a DOE on a VF, served by
    /// its PF's mailbox).
    pub fn synthesise_extended(
        mut self,
        id: u16,
        version: u8,
        len: u16,
        handler: Box<dyn CapabilityHandler>,
    ) -> Self {
        self.attach.push(Attach {
            handler,
            len,
            place: Place::Synthesise(id, version),
        });
        self
    }

    /// Reads the device and builds the function; INTx is enabled if the function has it.
    pub fn build(self) -> Result<PassthroughFunction<B>, PassthroughError> {
        let physical = read_snapshot(&self.backend)?;
        let layout_type = physical.u8_at(HEADER_TYPE) & HEADER_TYPE_LAYOUT;
        if layout_type != HEADER_LAYOUT_TYPE0 {
            return Err(PassthroughError::NotAnEndpoint(layout_type));
        }
        let mut layout = CapabilityLayout::from_config(&physical)?;
        hide_by_policy(&mut layout)?;
        let msi = attach_msi(&self.backend, &physical, &mut layout)?;
        let msix = attach_msix(&self.backend, &physical, &mut layout)?;
        let handlers = attach_handlers(&mut layout, self.attach)?;
        let (bars, regions) = emulate_bars(&self.backend, &physical)?;
        if let Some(cap) = &msix {
            check_msix_fits(&bars, cap)?;
        }
        let traps_in_bars: Vec<_> = msix.iter().flat_map(|cap| [cap.table, cap.pba]).collect();
        let mappings = (0..BAR_COUNT as u8)
            .filter_map(|index| {
                let def = bars.def(index)?;
                Some(bar_mapping(
                    index,
                    def.kind,
                    &regions[usize::from(index)],
                    &traps_in_bars,
                ))
            })
            .collect();

        let mut local = physical.clone();
        let mut traps = TrapMap::passthrough();
        trap_layout(&layout, &mut local, &mut traps);
        trap_header(&bars, &mut local, &mut traps);
        if let Some(cap) = &msi {
            cap.install(&mut local);
        }
        if let Some(cap) = &msix {
            cap.install(&physical, &mut local);
        }
        let intx = intx_pin(&self.backend)?.is_some();

        let mut function = PassthroughFunction {
            backend: self.backend,
            sink: self.sink,
            local,
            traps,
            bars,
            layout,
            msi,
            msix: msix.map(|cap| (cap, MsixTable::new(cap.vectors()))),
            irq: InterruptState::new(intx),
            handlers,
            mappings,
        };
        function.sync_interrupts();
        Ok(function)
    }
}

/// Reads the whole config space. A function whose extended space cannot be read (a
/// conventional PCI function; the VFIO config region is then 256 bytes) gets all ones
/// there, which the walks read as "no extended capabilities".
fn read_snapshot(backend: &dyn PassthroughBackend) -> Result<PciConfig, PassthroughError> {
    let mut bytes = vec![u8::MAX; usize::from(CONFIG_SPACE_SIZE)];
    for offset in (0..CONFIG_SPACE_SIZE).step_by(DWORD) {
        let at = usize::from(offset);
        match backend.read_config(offset, &mut bytes[at..at + DWORD]) {
            Ok(()) => {}
            Err(_) if offset >= LEGACY_CONFIG_SIZE => {
                bytes[at..].fill(u8::MAX);
                break;
            }
            Err(e) => return Err(PassthroughError::Snapshot(e)),
        }
    }
    Ok(PciConfig::from_bytes(&bytes))
}

/// Hides every capability the policy names (see [`super::policy`]).
fn hide_by_policy(layout: &mut CapabilityLayout<VirtualCap>) -> Result<(), PassthroughError> {
    let hidden: Vec<_> = layout
        .physical(CapSpace::Extended)
        .filter_map(|cap| hidden_reason(&cap).map(|reason| (cap, reason)))
        .collect();
    for (cap, reason) in hidden {
        log::info!(
            "passthrough: hiding extended capability {:#06x} at {:#x}: {reason}",
            cap.id,
            cap.offset
        );
        layout.hide(cap.at())?;
    }
    Ok(())
}

/// The standard capability `id` if the device offers `kind` vectors; a capability whose
/// interrupts the device does not offer is hidden (and `None` returned).
fn offered_interrupt_cap(
    backend: &dyn PassthroughBackend,
    layout: &mut CapabilityLayout<VirtualCap>,
    id: u16,
    kind: IrqKind,
) -> Result<Option<Capability>, PassthroughError> {
    let Some(found) = layout.find(CapSpace::Standard, id).next() else {
        return Ok(None);
    };
    if backend.irq_count(kind)? == 0 {
        layout.hide(found.at())?;
        return Ok(None);
    }
    Ok(Some(found))
}

/// Emulates the MSI capability, or hides it if the device offers no MSI vectors.
fn attach_msi(
    backend: &dyn PassthroughBackend,
    physical: &PciConfig,
    layout: &mut CapabilityLayout<VirtualCap>,
) -> Result<Option<MsiCap>, PassthroughError> {
    let Some(found) = offered_interrupt_cap(backend, layout, STD_MSI, IrqKind::Msi)? else {
        return Ok(None);
    };
    let cap = MsiCap::new(physical, found.offset);
    layout.virtualise(found.at(), VirtualCap::Msi, cap.len())?;
    Ok(Some(cap))
}

/// Emulates the MSI-X capability, or hides it if the device offers no MSI-X vectors.
fn attach_msix(
    backend: &dyn PassthroughBackend,
    physical: &PciConfig,
    layout: &mut CapabilityLayout<VirtualCap>,
) -> Result<Option<MsixCap>, PassthroughError> {
    let Some(found) = offered_interrupt_cap(backend, layout, STD_MSIX, IrqKind::Msix)? else {
        return Ok(None);
    };
    layout.virtualise(found.at(), VirtualCap::Msix, found.len)?;
    Ok(Some(MsixCap::new(physical, found.offset)))
}

/// Places the extra handlers in the layout; each gets its index in the handler list.
fn attach_handlers(
    layout: &mut CapabilityLayout<VirtualCap>,
    attach: Vec<Attach>,
) -> Result<Vec<Box<dyn CapabilityHandler>>, PassthroughError> {
    let mut handlers = Vec::with_capacity(attach.len());
    for (
        index,
        Attach {
            handler,
            len,
            place,
        },
    ) in attach.into_iter().enumerate()
    {
        let key = VirtualCap::Handler(index);
        match place {
            Place::Virtualise(offset) => {
                let at = CapRef {
                    space: CapSpace::Extended,
                    offset,
                };
                layout.virtualise(at, key, len)?;
            }
            Place::Synthesise(id, version) => {
                layout.synthesise(CapSpace::Extended, id, version, len, key)?;
            }
        }
        handlers.push(handler);
    }
    Ok(handlers)
}

/// The BARs: types from the device's registers, sizes from its regions.
fn emulate_bars(
    backend: &dyn PassthroughBackend,
    physical: &PciConfig,
) -> Result<(Bars, [RegionInfo; BAR_COUNT]), PassthroughError> {
    let mut defs = [None; BAR_COUNT];
    let mut regions = [RegionInfo::default(); BAR_COUNT];
    let mut index = 0;
    while index < BAR_COUNT {
        let register = physical.u32_at(BAR0 + index as u16 * BAR_STRIDE);
        let region = backend.bar_info(index as u8)?;
        regions[index] = region;
        let mut step = 1;
        if region.size > 0 {
            let def = BarDef::from_register(index as u8, register, region.size)?;
            if def.kind == BarKind::Mmio64 {
                step = 2;
            }
            defs[index] = Some(def);
        }
        index += step;
    }
    Ok((Bars::new(defs)?, regions))
}

/// The MSI-X table and PBA must lie inside implemented memory BARs.
fn check_msix_fits(bars: &Bars, cap: &MsixCap) -> Result<(), PassthroughError> {
    for (what, slice) in [("table", cap.table), ("PBA", cap.pba)] {
        let fits = bars
            .def(slice.bar)
            .is_some_and(|def| def.kind != BarKind::Io && slice.end() <= def.size);
        if !fits {
            return Err(PassthroughError::MsixOutsideBar {
                what,
                bar: slice.bar,
                offset: slice.offset,
            });
        }
    }
    Ok(())
}
