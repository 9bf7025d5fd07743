//! Builds the VM from the command line, one `attach_*` step at a time, and runs it.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvm_ioctls::{Cap, VmFd};
use vmm_sys_util::eventfd::EventFd;

use crate::acpi::{self, dsdt::DsdtConfig, AcpiConfig};
use crate::boot::{self, BootSpec};
use crate::bus::Bus;
use crate::cli::{AuditTarget, Cli, DeviceSpec, OnOff, SerialTarget};
use crate::coalesced::CoalescedWrites;
use crate::control::{
    self,
    audit::AuditWriter,
    server::ControlServer,
    sighup::{sighup_fd, SighupReload},
};
use crate::devices::acpi_pm::{AcpiPm, PM_BASE, PM_LEN};
use crate::devices::serial::{SerialDevice, COM1_BASE, COM1_GSI, COM1_LEN};
use crate::doe::{AuditSink, DoeAdmin, DoeContext, GuestAudit};
use crate::error::Error;
use crate::exit::{ExitNotifier, VmExit};
use crate::interrupts::GsiRouting;
use crate::layout::{
    MemoryLayout, ECAM_BASE, ECAM_SIZE, PCI_IO_END, PCI_IO_START, PCI_MMIO32_SIZE, PCI_MMIO32_START,
};
use crate::memory;
use crate::pci::config_io::{PciConfigIo, PCI_CONFIG_IO_BASE, PCI_CONFIG_IO_LEN};
use crate::pci::ecam::PciEcam;
use crate::pci::host_bridge::HostBridge;
use crate::pci::{BarMapper, BarWindows, PciBus};
use crate::stats::VmStats;
use crate::vcpu::{self, ExitHandlers};
use crate::vfio::{self, bar_alloc::BarAllocator, VfioContext};
use crate::{event_loop, vm};
use doe_proxy::socket::{BoundSocket, DoeService, DoeSocketServer, ServerConfig};

/// The buses every device is attached to.
struct Buses {
    pio: Arc<Bus>,
    mmio: Arc<Bus>,
}

/// Boots the guest described by `cli` and returns how it ended.
pub fn run(cli: &Cli) -> Result<VmExit, Error> {
    // Assigned functions are checked first: a wrong BDF or driver fails before anything else.
    let bdfs: Vec<_> = cli
        .devices
        .iter()
        .map(|DeviceSpec::Vfio(bdf)| *bdf)
        .collect();
    let assign = vfio::check_all(Path::new("/"), &bdfs).map_err(vfio::VfioError::from)?;
    // The DOE policy next: a bad file fails with its file:line:col before anything runs.
    let admin = DoeAdmin::load(cli.policy.as_deref(), open_audit(&cli.audit)?)?;
    // SIGHUP is blocked before any thread starts (every thread inherits the mask), so it
    // only ever reaches the event loop's signalfd.
    let sighup = sighup_fd().map_err(|source| Error::Control {
        what: "cannot set up SIGHUP".to_owned(),
        source,
    })?;
    // The guest's denials, queued by the vCPUs and written by the event loop.
    let guest_audit = Arc::new(GuestAudit::new().map_err(|source| Error::Control {
        what: "cannot create the audit queue".to_owned(),
        source,
    })?);
    // The socket file goes when the socket drops: at the end, or on a failure below.
    let control_socket = cli
        .api_socket
        .as_deref()
        .map(|path| {
            BoundSocket::bind(path, cli.api_socket_mode).map_err(|source| Error::ControlSocket {
                path: path.to_owned(),
                source,
            })
        })
        .transpose()?;

    // Guest memory and everything in it first: bad images fail before KVM is touched.
    let layout = MemoryLayout::new(cli.memory);
    let mem = Arc::new(memory::allocate(&layout)?);
    let tables = acpi::build(&AcpiConfig {
        cpus: cli.cpus,
        dsdt: DsdtConfig {
            ecam: (ECAM_BASE, ECAM_SIZE),
            mmio64: layout.pci_mmio64_window(),
        },
    })?;
    acpi::write(&mem, &tables)?;
    let spec = BootSpec {
        kernel: &cli.kernel,
        initramfs: cli.initramfs.as_deref(),
        cmdline: &cli.cmdline,
        rsdp_addr: tables.rsdp_addr,
    };
    let entry = boot::load(&mem, &layout, &spec)?;

    let kvm = vm::open_kvm()?;
    let vm = Arc::new(vm::create(&kvm, cli.cpus)?);
    memory::register(&vm, &mem)?;
    let routing = Arc::new(Mutex::new(GsiRouting::legacy()));
    routing
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .commit(&vm)?;

    let exit = Arc::new(ExitNotifier::new().map_err(Error::EventFd)?);
    let buses = Buses {
        pio: Arc::new(Bus::new("pio")),
        mmio: Arc::new(Bus::new("mmio")),
    };
    let coalesced = Arc::new(CoalescedWrites::new(buses.mmio.clone()));
    let completion_wait = Duration::from_micros(cli.doe_completion_wait);
    let stats = Arc::new(VmStats::new(completion_wait));
    let coalescing = cli.doe_exit_coalescing == OnOff::On;
    let serial = attach_serial(&vm, &buses, &cli.serial)?;
    attach_acpi_pm(&buses, &exit)?;
    let (pci, mapper) = attach_pci(&buses, &layout)?;
    // Rolled back if a later step fails; kept until the process exits once vCPUs run.
    let assigned = vfio::attach(
        VfioContext {
            vm: &vm,
            routing: &routing,
            mem: &mem,
            exit: &exit,
            pci: &pci,
            mapper: &mapper,
            bars: BarAllocator::new(
                (PCI_MMIO32_START, PCI_MMIO32_SIZE),
                layout.pci_mmio64_window(),
                pci_io_window(),
            ),
            first_slot: memory::slot_count(&mem),
            doe: DoeContext {
                admin: admin.clone(),
                audit: guest_audit.clone(),
                guest: cli.name.clone(),
                completion_wait,
                spdm_leases: cli.doe_spdm_leases == OnOff::On,
            },
        },
        &assign,
    )?;

    let handlers = ExitHandlers {
        pio: buses.pio.clone(),
        mmio: buses.mmio.clone(),
        exit: exit.clone(),
        coalesced: coalesced.clone(),
        stats: stats.clone(),
    };
    let vcpus = (0..cli.cpus)
        .map(|cpu| {
            vcpu::create(
                &kvm,
                &vm,
                cpu,
                cli.cpus,
                entry.entry,
                handlers.clone(),
                mem.clone(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    if coalescing {
        enable_coalescing(&coalesced, &vm, &vcpus, assigned.doe_data_zones());
    }
    log::info!(
        "booting {} with {} vCPU(s), {} MiB",
        cli.name,
        cli.cpus,
        cli.memory >> 20
    );
    // Bound before the vCPUs run (a socket another process serves fails vmm here) and
    // before the event loop's seccomp filter (the bind and its chmod).
    let doe_socket = cli
        .doe_socket
        .as_ref()
        .map(|path| {
            let service = Arc::new(DoeService::new(admin.clone(), assigned.doe_mailboxes()));
            let config = ServerConfig {
                mode: cli.doe_socket_mode,
                ..ServerConfig::new(path)
            };
            DoeSocketServer::bind(config, service).map_err(Error::DoeSocket)
        })
        .transpose()?;
    // The owner registry (`doe_proxy::ownership`): doectl refuses to drive these mailboxes
    // and names the DOE socket. A warning if it fails (e.g. not root). The files go when
    // `_owners` drops, after the event loop, under its seccomp filter (read, unlink).
    let _owners = doe_proxy::ownership::register_served(
        doe_proxy::ownership::PROGRAM_VMM,
        cli.doe_socket.as_deref(),
        &assigned.doe_mailboxes(),
    );
    for v in vcpus {
        v.spawn()?;
    }
    assigned.keep_until_exit();

    let control = control::VmControl {
        admin: admin.clone(),
        stats,
    };
    let mut admin_subscribers = admin_subscribers(control, guest_audit, sighup, control_socket)?;
    if let Some(server) = doe_socket {
        admin_subscribers.push(Arc::new(Mutex::new(server)));
    }
    crate::seccomp::apply(crate::seccomp::ThreadKind::EventLoop)?;
    let reason = event_loop::run(exit, Some(serial.clone()), admin_subscribers)?;
    serial.lock().unwrap_or_else(|e| e.into_inner()).flush();
    Ok(reason)
}

/// Has KVM queue the writes to the virtual DOE registers instead of exiting
/// (`crate::coalesced`). An optimisation: when KVM cannot, the writes exit as before.
fn enable_coalescing(coalesced: &CoalescedWrites, vm: &VmFd, vcpus: &[vcpu::Vcpu], zones: &[u64]) {
    let Some(vcpu) = vcpus.first() else {
        return;
    };
    if zones.is_empty() {
        return;
    }
    if !vm.check_extension(Cap::CoalescedMmio) {
        log::warn!("KVM has no coalesced MMIO: DOE register writes exit");
        return;
    }
    match coalesced.enable(vm, vcpu.fd(), zones) {
        Ok(n) => log::info!("DOE register writes coalesced in {n} zone(s)"),
        Err(e) => log::warn!("cannot map the coalesced MMIO ring, DOE writes exit: {e}"),
    }
}

/// The audit log's writer: stderr or a file opened for appending.
fn open_audit(target: &AuditTarget) -> Result<AuditSink, Error> {
    target.open().map_err(|source| Error::AuditOutput {
        path: match target {
            AuditTarget::File(path) => path.clone(),
            AuditTarget::Stderr => "stderr".into(),
        },
        source,
    })
}

/// The event loop's admin subscribers: SIGHUP and the audit writer always, the control
/// socket (policy and counters) when `--api-socket` was given. Built before the loop's
/// seccomp filter.
fn admin_subscribers(
    control: control::VmControl,
    guest_audit: Arc<GuestAudit>,
    sighup: std::os::fd::OwnedFd,
    control_socket: Option<BoundSocket>,
) -> Result<Vec<event_loop::Subscriber>, Error> {
    let admin = &control.admin;
    let writer = AuditWriter::new(guest_audit, admin.clone()).map_err(|source| Error::Control {
        what: "cannot create the audit writer's timer".to_owned(),
        source,
    })?;
    let mut subscribers: Vec<event_loop::Subscriber> = vec![
        Arc::new(Mutex::new(SighupReload::new(sighup, admin.clone()))),
        Arc::new(Mutex::new(writer)),
    ];
    if let Some(socket) = control_socket {
        subscribers.push(Arc::new(Mutex::new(ControlServer::new(
            socket,
            Arc::new(control.clone()),
        ))));
    }
    Ok(subscribers)
}

/// COM1 on the port bus, its interrupt an irqfd on GSI 4.
fn attach_serial(
    vm: &VmFd,
    buses: &Buses,
    target: &SerialTarget,
) -> Result<Arc<Mutex<SerialDevice>>, Error> {
    let out: Box<dyn Write + Send> = match target {
        SerialTarget::Stdout => Box::new(std::io::stdout()),
        SerialTarget::File(path) => {
            Box::new(File::create(path).map_err(|source| Error::SerialOutput {
                path: path.clone(),
                source,
            })?)
        }
    };
    let irq = EventFd::new(libc::EFD_NONBLOCK).map_err(Error::EventFd)?;
    vm.register_irqfd(&irq, COM1_GSI)
        .map_err(|source| Error::Irqfd {
            gsi: COM1_GSI,
            source,
        })?;
    let serial = Arc::new(Mutex::new(SerialDevice::new(irq, out)));
    buses
        .pio
        .insert(u64::from(COM1_BASE), u64::from(COM1_LEN), serial.clone())?;
    Ok(serial)
}

/// The ACPI sleep/reset registers: how power-off and reset reach the VMM.
fn attach_acpi_pm(buses: &Buses, exit: &Arc<ExitNotifier>) -> Result<(), Error> {
    let pm = Arc::new(Mutex::new(AcpiPm::new(exit.clone())));
    buses
        .pio
        .insert(u64::from(PM_BASE), u64::from(PM_LEN), pm)?;
    Ok(())
}

/// The PCI I/O port window, `(base, size)`.
fn pci_io_window() -> (u64, u64) {
    (
        u64::from(PCI_IO_START),
        u64::from(PCI_IO_END - PCI_IO_START) + 1,
    )
}

/// The PCI root bus with its host bridge, reachable through 0xCF8/0xCFC and ECAM; returns
/// the bus and the mapper that keeps BAR traps in line with it.
fn attach_pci(
    buses: &Buses,
    layout: &MemoryLayout,
) -> Result<(Arc<Mutex<PciBus>>, BarMapper), Error> {
    let pci = Arc::new(Mutex::new(PciBus::new()));
    pci.lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(0, Box::new(HostBridge::new()))?;
    let windows = BarWindows {
        mmio: vec![
            (PCI_MMIO32_START, PCI_MMIO32_SIZE),
            layout.pci_mmio64_window(),
        ],
        io: vec![pci_io_window()],
    };
    let mapper = BarMapper::new(&pci, &buses.mmio, &buses.pio, windows);
    let config_io = Arc::new(Mutex::new(PciConfigIo::new(pci.clone(), mapper.clone())));
    buses.pio.insert(
        u64::from(PCI_CONFIG_IO_BASE),
        u64::from(PCI_CONFIG_IO_LEN),
        config_io,
    )?;
    let ecam = Arc::new(Mutex::new(PciEcam::new(pci.clone(), mapper.clone())));
    buses.mmio.insert(ECAM_BASE, ECAM_SIZE, ecam)?;
    Ok((pci, mapper))
}
