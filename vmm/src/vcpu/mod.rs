//! vCPUs: creation and configuration, and the run loop each one executes on its own thread.
//!
//! The boot vCPU (0) starts at the kernel's 64-bit entry; the others stay in KVM's
//! wait-for-SIPI state (the in-kernel LAPIC handles INIT/SIPI) until Linux starts them.

pub mod cpuid;
pub mod regs;

use std::sync::Arc;
use std::thread::JoinHandle;

use kvm_bindings::{
    KVM_MAX_CPUID_ENTRIES, KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET,
    KVM_SYSTEM_EVENT_SHUTDOWN,
};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};

use crate::bus::Bus;
use crate::coalesced::CoalescedWrites;
use crate::exit::{ExitNotifier, VmExit};
use crate::memory::GuestMemoryMmap;
use crate::stats::{ExitKind, VmStats};
use devices::doe::PendingWait;

/// Errors creating vCPUs.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// An ioctl failed.
    #[error("{ioctl} failed for vCPU {cpu}: {source}")]
    Ioctl {
        /// Which ioctl.
        ioctl: &'static str,
        /// Which vCPU.
        cpu: u8,
        /// The errno.
        source: kvm_ioctls::Error,
    },
    /// Register set-up failed.
    #[error(transparent)]
    Regs(#[from] regs::RegsError),
    /// The thread could not be spawned.
    #[error("cannot spawn the thread of vCPU {cpu}: {source}")]
    Spawn {
        /// Which vCPU.
        cpu: u8,
        /// The error.
        source: std::io::Error,
    },
}

/// Where a vCPU's exits go.
#[derive(Debug, Clone)]
pub struct ExitHandlers {
    /// Port I/O.
    pub pio: Arc<Bus>,
    /// MMIO.
    pub mmio: Arc<Bus>,
    /// The end of the VM.
    pub exit: Arc<ExitNotifier>,
    /// Writes KVM queued instead of exiting: drained before any exit is handled.
    pub coalesced: Arc<CoalescedWrites>,
    /// Exit and completion-wait counters.
    pub stats: Arc<VmStats>,
}

/// One configured vCPU, ready to run.
pub struct Vcpu {
    cpu: u8,
    fd: VcpuFd,
    handlers: ExitHandlers,
    /// Keeps guest RAM mapped for as long as this vCPU can run.
    _mem: Arc<GuestMemoryMmap>,
}

impl std::fmt::Debug for Vcpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vcpu")
            .field("cpu", &self.cpu)
            .finish_non_exhaustive()
    }
}

/// Runs the DOE completion wait the access just handled asked for, if any — after the
/// access returned, so with no lock of the bus held (`devices::doe::completion_wait`).
/// `queued_go` is a wait noted by a Go this vCPU dispatched while draining the ring: it is
/// only this vCPU's to run if its own access (the Status read after that Go) waits for the
/// same exchange; otherwise it is dropped, which hands the exchange to the mediator's
/// worker. Returns whether the access was a read to handle again.
fn wait_for_completion(h: &ExitHandlers, queued_go: Option<PendingWait>) -> bool {
    let own = devices::doe::take_pending();
    let own = match (own, queued_go) {
        (Some(own), Some(go)) if own.same_exchange(&go) => {
            go.forget();
            own
        }
        (own, go) => {
            drop(go);
            match own {
                Some(own) => own,
                None => return false,
            }
        }
    };
    let outcome = own.wait();
    h.stats.record_wait(&outcome);
    outcome.cause == devices::doe::WaitCause::StatusRead
}

/// Creates and configures vCPU `cpu` of `count`; vCPU 0 is set up to enter the kernel at
/// `entry`.
pub fn create(
    kvm: &Kvm,
    vm: &VmFd,
    cpu: u8,
    count: u8,
    entry: u64,
    handlers: ExitHandlers,
    mem: Arc<GuestMemoryMmap>,
) -> Result<Vcpu, VcpuError> {
    let ioctl = |ioctl| move |source| VcpuError::Ioctl { ioctl, cpu, source };
    let fd = vm
        .create_vcpu(u64::from(cpu))
        .map_err(ioctl("KVM_CREATE_VCPU"))?;
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(ioctl("KVM_GET_SUPPORTED_CPUID"))?;
    let topo = cpuid::Topology {
        cpu,
        count,
        tsc_deadline: kvm.check_extension(Cap::TscDeadlineTimer),
    };
    cpuid::fixup(cpuid.as_mut_slice(), topo);
    fd.set_cpuid2(&cpuid).map_err(ioctl("KVM_SET_CPUID2"))?;
    regs::setup_common(&fd, cpu)?;
    if cpu == 0 {
        regs::setup_boot_cpu(&fd, entry)?;
    }
    Ok(Vcpu {
        cpu,
        fd,
        handlers,
        _mem: mem,
    })
}

impl Vcpu {
    /// The vCPU's KVM fd (the coalesced MMIO ring is mapped through it).
    pub fn fd(&self) -> &VcpuFd {
        &self.fd
    }

    /// Runs this vCPU on its own thread until the VM ends.
    pub fn spawn(self) -> Result<JoinHandle<()>, VcpuError> {
        let cpu = self.cpu;
        std::thread::Builder::new()
            .name(format!("vcpu{cpu}"))
            .spawn(
                move || match crate::seccomp::apply(crate::seccomp::ThreadKind::Vcpu) {
                    Ok(()) => self.run(),
                    Err(e) => self
                        .handlers
                        .exit
                        .notify(VmExit::Error(format!("vCPU {cpu}: {e}"))),
                },
            )
            .map_err(|source| VcpuError::Spawn { cpu, source })
    }

    /// The run loop: handles exits until one ends the VM, then reports it.
    fn run(mut self) {
        loop {
            match self.run_once() {
                Ok(None) => {}
                Ok(Some(exit)) => {
                    self.handlers.exit.notify(exit);
                    return;
                }
                Err(e) => {
                    self.handlers
                        .exit
                        .notify(VmExit::Error(format!("vCPU {}: {e}", self.cpu)));
                    return;
                }
            }
            if self.handlers.exit.reason().is_some() {
                return;
            }
        }
    }

    /// One KVM_RUN; `Some` when the exit ends the VM.
    fn run_once(&mut self) -> Result<Option<VmExit>, kvm_ioctls::Error> {
        let h = &self.handlers;
        let result = self.fd.run();
        // Every write the guest queued (on any vCPU) reaches its device before this exit
        // is handled, as if each had exited in turn. A completion wait one of them noted
        // (a queued Go) is not this vCPU's to run: the guest's next Status read waits.
        let drained = h.coalesced.drain();
        let mut queued_go = None;
        if drained > 0 {
            h.stats.count(ExitKind::CoalescedWrite, drained as u64);
            queued_go = devices::doe::take_pending();
        }
        match result {
            Ok(VcpuExit::IoIn(port, data)) => {
                h.stats.count(ExitKind::PioRead, 1);
                if !h.pio.read(u64::from(port), data) {
                    data.fill(0xff);
                    crate::debug_ratelimited!(
                        "unhandled port read {port:#x} ({} bytes)",
                        data.len()
                    );
                }
                // 0xCF8/0xCFC reaches only the first 256 bytes, where no DOE lives; kept
                // so that no noted wait ever outlives its access.
                if wait_for_completion(h, queued_go) {
                    h.pio.read(u64::from(port), data);
                    devices::doe::completion_wait::discard_pending();
                }
            }
            Ok(VcpuExit::IoOut(port, data)) => {
                h.stats.count(ExitKind::PioWrite, 1);
                if !h.pio.write(u64::from(port), data) {
                    crate::debug_ratelimited!("unhandled port write {port:#x} = {data:x?}");
                }
                wait_for_completion(h, queued_go);
            }
            Ok(VcpuExit::MmioRead(addr, data)) => {
                h.stats.count(ExitKind::MmioRead, 1);
                if !h.mmio.read(addr, data) {
                    data.fill(0xff);
                    crate::warn_ratelimited!(
                        "unhandled MMIO read {addr:#x} ({} bytes)",
                        data.len()
                    );
                }
                if wait_for_completion(h, queued_go) {
                    // The read found the guest's exchange in flight and this vCPU waited
                    // for it: the guest gets the register as it is now.
                    h.mmio.read(addr, data);
                    devices::doe::completion_wait::discard_pending();
                }
            }
            Ok(VcpuExit::MmioWrite(addr, data)) => {
                h.stats.count(ExitKind::MmioWrite, 1);
                if !h.mmio.write(addr, data) {
                    crate::warn_ratelimited!("unhandled MMIO write {addr:#x} = {data:x?}");
                }
                wait_for_completion(h, queued_go);
            }
            Ok(VcpuExit::Hlt) => {
                // With the in-kernel LAPIC, HLT only exits when the vCPU cannot be woken.
                return Ok(Some(VmExit::Error(format!(
                    "vCPU {} halted for good",
                    self.cpu
                ))));
            }
            Ok(VcpuExit::Shutdown) => {
                log::warn!(
                    "vCPU {}: triple fault (KVM_EXIT_SHUTDOWN): the guest is reset",
                    self.cpu
                );
                return Ok(Some(VmExit::Reset));
            }
            Ok(VcpuExit::SystemEvent(kind, _)) => {
                return Ok(Some(match kind {
                    KVM_SYSTEM_EVENT_SHUTDOWN => VmExit::PowerOff,
                    KVM_SYSTEM_EVENT_RESET => VmExit::Reset,
                    KVM_SYSTEM_EVENT_CRASH => VmExit::Error("guest crashed".to_owned()),
                    other => VmExit::Error(format!("unexpected system event {other}")),
                }));
            }
            Ok(VcpuExit::FailEntry(reason, _)) => {
                return Ok(Some(VmExit::Error(format!(
                    "vCPU {}: KVM entry failed (hardware reason {reason:#x})",
                    self.cpu
                ))));
            }
            Ok(VcpuExit::InternalError) => {
                return Ok(Some(VmExit::Error(format!(
                    "vCPU {}: KVM internal error",
                    self.cpu
                ))));
            }
            Ok(VcpuExit::Intr) => {}
            Ok(other) => {
                crate::warn_ratelimited!("vCPU {}: unexpected exit {other:?}", self.cpu);
            }
            Err(e) if matches!(e.errno(), libc::EINTR | libc::EAGAIN) => {}
            Err(e) => return Err(e),
        }
        Ok(None)
    }
}
