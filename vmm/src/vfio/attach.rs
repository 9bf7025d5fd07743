//! Assigns the checked functions to the VM, one `attach` step per function: open it in
//! the container, build its passthrough model with a backend and an interrupt sink, place
//! its BARs, mmap what may be mapped, put it on the PCI bus and let its BAR slots follow
//! the guest's BAR programming. Guest RAM is mapped for DMA once every group is in the
//! container (the IOMMU type is set when the first group joins), on a thread of its own
//! while the guest boots; bus mastering waits for it ([`super::dma_gate`]).

use std::sync::{Arc, Mutex, PoisonError};

use devices::doe::DOE_CAP_SIZEOF;
use devices::vfio::{intx_pin, PassthroughBuilder, PassthroughFunction};
use doe_proxy::socket::ServedMailbox;
use kvm_ioctls::VmFd;
use vfio_ioctls::{VfioContainer, VfioDevice, VfioOps};

use super::backend::VfioBackend;
use super::bar_alloc::{placement_order, BarAllocator};
use super::bar_slots::{BarSlots, SlotAllocator};
use super::container;
use super::dma_gate::DmaGate;
use super::error::VfioError;
use super::events::IrqEvents;
use super::mmap::map_bars;
use super::preflight::Checked;
use super::sink::VfioInterruptSink;
use crate::coalesced;
use crate::doe::{self, DoeContext};
use crate::exit::ExitNotifier;
use crate::interrupts::GsiRouting;
use crate::layout::ECAM_BASE;
use crate::memory::GuestMemoryMmap;
use crate::pci::{intx, BarMapper, PciBus};

/// What the assignment needs from the VM being built.
pub struct VfioContext<'a> {
    /// The VM.
    pub vm: &'a Arc<VmFd>,
    /// The GSI routing table shared with the rest of the VMM.
    pub routing: &'a Arc<Mutex<GsiRouting>>,
    /// Guest RAM (mapped for DMA).
    pub mem: &'a Arc<GuestMemoryMmap>,
    /// Told when the DMA mapping fails after the guest started.
    pub exit: &'a Arc<ExitNotifier>,
    /// The PCI root bus.
    pub pci: &'a Arc<Mutex<PciBus>>,
    /// Where BAR changes are applied (and reported to the BAR slots).
    pub mapper: &'a BarMapper,
    /// Where BARs are placed.
    pub bars: BarAllocator,
    /// The first KVM memory slot free for BARs (RAM has the ones below).
    pub first_slot: u32,
    /// The DOE policy and the guest's name, for the virtual DOE mailboxes.
    pub doe: DoeContext,
}

/// Keeps the assignment alive: the devices and the container (the DMA mappings are
/// kept by their thread).
#[derive(Default)]
pub struct Assigned {
    dma: Option<Arc<DmaGate>>,
    mediators: Vec<ServedMailbox>,
    backends: Vec<Arc<VfioBackend>>,
    container: Option<Arc<VfioContainer>>,
    doe_zones: Vec<u64>,
}

impl std::fmt::Debug for Assigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assigned")
            .field("dma", &self.dma.as_ref().map(|gate| gate.state()))
            .field("devices", &self.backends.len())
            .field("doe_mediators", &self.mediators.len())
            .field("container", &self.container.is_some())
            .finish()
    }
}

impl Assigned {
    /// The guest-physical (ECAM) address of each virtual DOE's Control register, where
    /// the registers whose writes may be coalesced (`coalesced::ZONE_SIZE` bytes: Control,
    /// Status, Write and Read Data Mailbox) start.
    pub fn doe_data_zones(&self) -> &[u64] {
        &self.doe_zones
    }

    /// The physical DOE mailboxes of the assigned functions, with their mediators, for
    /// `--doe-socket`.
    pub fn doe_mailboxes(&self) -> Vec<ServedMailbox> {
        self.mediators.clone()
    }

    /// Keeps the DMA mappings, the devices and the container until the process exits,
    /// when the kernel releases them: once vCPUs run, a device may do DMA until the very
    /// end, and whichever thread of a running VM drops the last reference (under its
    /// seccomp filter, with BAR mmaps still in place) must not tear VFIO down.
    pub fn keep_until_exit(self) {
        std::mem::forget(self);
    }
}

/// Assigns every function of `checked` (nothing to do when it is empty).
pub fn attach(mut ctx: VfioContext<'_>, checked: &[Checked]) -> Result<Assigned, VfioError> {
    if checked.is_empty() {
        return Ok(Assigned::default());
    }
    let container = container::open(ctx.vm)?;
    let slots = Arc::new(Mutex::new(SlotAllocator::new(ctx.first_slot)));
    let dma = Arc::new(DmaGate::new());
    let mut assigned = Assigned {
        container: Some(container.clone()),
        dma: Some(dma.clone()),
        ..Assigned::default()
    };
    for function in checked {
        let (backend, mediators) = attach_one(
            &mut ctx,
            &container,
            &slots,
            &dma,
            function,
            &mut assigned.doe_zones,
        )?;
        assigned.backends.push(backend);
        assigned.mediators.extend(mediators);
    }
    // The last step that can fail here; the vCPUs start soon after.
    container::map_while_booting(container, ctx.mem.clone(), dma, ctx.exit.clone())?;
    Ok(assigned)
}

fn attach_one(
    ctx: &mut VfioContext<'_>,
    container: &Arc<VfioContainer>,
    slots: &Arc<Mutex<SlotAllocator>>,
    dma: &Arc<DmaGate>,
    checked: &Checked,
    doe_zones: &mut Vec<u64>,
) -> Result<(Arc<VfioBackend>, Vec<ServedMailbox>), VfioError> {
    let bdf = checked.bdf.to_string();
    let ops: Arc<dyn VfioOps> = container.clone();
    let device =
        VfioDevice::new(&checked.sysfs, ops, false).map_err(|e| VfioError::OpenDevice {
            bdf: bdf.clone(),
            error: e.to_string(),
        })?;
    let io = |source| VfioError::Io {
        bdf: bdf.clone(),
        source,
    };
    let events = Arc::new(IrqEvents::new().map_err(io)?);
    let backend =
        Arc::new(VfioBackend::new(device, events.clone(), dma.clone(), bdf.clone()).map_err(io)?);
    // The function's slot on the guest's root bus, taken now: its INTx line depends on it.
    let devfn = ctx
        .pci
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .free_device()?
        << 3;
    let intx_gsi = intx_line(&backend, devfn, &bdf);
    let sink = VfioInterruptSink::new(
        ctx.vm.clone(),
        ctx.routing.clone(),
        events,
        intx_gsi,
        bdf.clone(),
    );
    let doe = doe::virtualise(&backend, checked.bdf, &ctx.doe);
    let mut builder = PassthroughBuilder::new(backend.clone(), Box::new(sink));
    let doe_offsets: Vec<u16> = doe.handlers.iter().map(|(offset, _)| *offset).collect();
    for (offset, model) in doe.handlers {
        builder = builder.virtualise_extended(offset, DOE_CAP_SIZEOF, Box::new(model));
    }
    let mut function = builder.build().map_err(|source| VfioError::Model {
        bdf: bdf.clone(),
        source,
    })?;
    place_bars(&mut function, &mut ctx.bars, &bdf)?;
    let areas = map_bars(
        backend.fd(),
        function.bar_mappings(),
        |index| backend.bar_region(index).offset,
        |index| backend.sparse_mmap(index),
    );
    let mapped: u64 = areas.iter().map(|a| a.size).sum();
    ctx.pci
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .add(devfn, Box::new(function))?;
    let bar_slots = BarSlots::new(ctx.vm.clone(), slots.clone(), areas, bdf.clone());
    ctx.mapper.listen(devfn, Arc::new(bar_slots));
    log::info!(
        "assigned {bdf} as 00:{:02x}.0 ({mapped:#x} bytes of BARs mapped directly)",
        devfn >> 3
    );
    // Bus 0: the ECAM offset of a register is devfn << 12 | register.
    doe_zones.extend(doe_offsets.iter().map(|&offset| {
        ECAM_BASE + (u64::from(devfn) << 12) + u64::from(offset + coalesced::ZONE_OFFSET_IN_CAP)
    }));
    Ok((backend, doe.mediators))
}

/// The GSI the guest expects the function's INTx on (the DSDT's `_PRT`), if it has an
/// Interrupt Pin and VFIO offers INTx for it.
fn intx_line(backend: &VfioBackend, devfn: u8, bdf: &str) -> Option<u32> {
    let pin = match intx_pin(backend) {
        Ok(pin) => pin?,
        Err(e) => {
            log::warn!("{bdf}: cannot read the Interrupt Pin, INTx left unconnected: {e}");
            return None;
        }
    };
    let gsi = intx::gsi(devfn >> 3, pin)?;
    log::debug!("{bdf}: INTx (pin {pin}) on GSI {gsi}");
    Some(gsi)
}

/// Gives each BAR a firmware-style base (largest first) so the guest keeps it.
fn place_bars(
    function: &mut PassthroughFunction<Arc<VfioBackend>>,
    alloc: &mut BarAllocator,
    bdf: &str,
) -> Result<(), VfioError> {
    let mut bars: Vec<_> = function
        .bar_mappings()
        .iter()
        .filter(|m| m.region_size > 0)
        .map(|m| (m.index, m.kind, m.region_size))
        .collect();
    placement_order(&mut bars);
    for (index, kind, size) in bars {
        let base = alloc
            .allocate(kind, size)
            .ok_or_else(|| VfioError::NoBarSpace {
                bdf: bdf.to_owned(),
                index,
                size,
            })?;
        function
            .set_bar_base(index, base)
            .map_err(|source| VfioError::Bar {
                bdf: bdf.to_owned(),
                source,
            })?;
        log::debug!("{bdf}: BAR{index} ({kind:?}, {size:#x} bytes) at {base:#x}");
    }
    Ok(())
}
