//! The top-level error: every failure ends vmm with its message as the one line on stderr.

use crate::acpi::AcpiError;
use crate::boot::LoadError;
use crate::bus::BusError;
use crate::event_loop::EventLoopError;
use crate::interrupts::RoutingError;
use crate::memory::MemoryError;
use crate::pci::PciBusError;
use crate::vcpu::VcpuError;
use crate::vfio::VfioError;
use crate::vm::VmError;

/// Everything that can stop vmm before or while the guest runs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Assigning a function through VFIO.
    #[error(transparent)]
    Vfio(#[from] VfioError),
    /// KVM or the VM.
    #[error(transparent)]
    Vm(#[from] VmError),
    /// Guest memory.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Kernel, initramfs, command line.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// ACPI tables.
    #[error(transparent)]
    Acpi(#[from] AcpiError),
    /// Placing a device on a bus.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The PCI bus.
    #[error(transparent)]
    Pci(#[from] PciBusError),
    /// Interrupt routing.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// vCPUs.
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    /// A seccomp filter.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The event loop.
    #[error(transparent)]
    EventLoop(#[from] EventLoopError),
    /// The serial output file.
    #[error("cannot open serial output {path}: {source}")]
    SerialOutput {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The DOE policy file (its message carries `file:line:col`).
    #[error(transparent)]
    Policy(#[from] policies::PolicyError),
    /// The DOE socket (`--doe-socket`) could not be served.
    #[error("DOE socket: {0}")]
    DoeSocket(#[source] doe_proxy::socket::ServerError),
    /// The audit log file.
    #[error("cannot open audit log {path}: {source}")]
    AuditOutput {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The control socket (`--api-socket`) could not be bound.
    #[error("cannot create the control socket {path}: {source}")]
    ControlSocket {
        /// Its path.
        path: std::path::PathBuf,
        /// Why.
        source: doe_proxy::socket::BindError,
    },
    /// SIGHUP, the audit writer's timer or the audit queue.
    #[error("{what}: {source}")]
    Control {
        /// What could not be set up.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// An eventfd.
    #[error("cannot create an eventfd: {0}")]
    EventFd(std::io::Error),
    /// Registering an irqfd.
    #[error("KVM_IRQFD failed for GSI {gsi}: {source}")]
    Irqfd {
        /// The GSI.
        gsi: u32,
        /// The errno.
        source: kvm_ioctls::Error,
    },
}
