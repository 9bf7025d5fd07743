//! The KVM VM: capabilities check, the in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT.

use std::io::ErrorKind;

use kvm_bindings::{kvm_pit_config, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Cap, Kvm, VmFd};

use crate::layout::{KVM_IDENTITY_MAP_ADDR, KVM_TSS_ADDR};

/// Path of the KVM device.
pub const KVM_PATH: &str = "/dev/kvm";

/// Errors setting up the VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// No KVM on this host.
    #[error("{KVM_PATH} does not exist: KVM is not available on this host")]
    NoKvm,
    /// No permission.
    #[error("permission denied opening {KVM_PATH} (add the user to the kvm group)")]
    KvmPermission,
    /// Anything else opening KVM.
    #[error("cannot open {KVM_PATH}: {0}")]
    KvmOpen(kvm_ioctls::Error),
    /// A capability the VMM relies on is missing.
    #[error("KVM lacks a required capability: {0}")]
    MissingCap(&'static str),
    /// A VM ioctl failed.
    #[error("{ioctl} failed: {source}")]
    Ioctl {
        /// Which ioctl.
        ioctl: &'static str,
        /// The errno.
        source: kvm_ioctls::Error,
    },
    /// Too many vCPUs for this host.
    #[error("{asked} vCPUs asked for, KVM allows at most {max}")]
    TooManyVcpus {
        /// Asked for.
        asked: u8,
        /// Allowed.
        max: usize,
    },
}

/// Capabilities the boot path and the later interrupt work need.
const REQUIRED_CAPS: &[(Cap, &str)] = &[
    (Cap::Irqchip, "KVM_CAP_IRQCHIP"),
    (Cap::Irqfd, "KVM_CAP_IRQFD"),
    (Cap::IrqRouting, "KVM_CAP_IRQ_ROUTING"),
    (Cap::UserMemory, "KVM_CAP_USER_MEMORY"),
    (Cap::SetTssAddr, "KVM_CAP_SET_TSS_ADDR"),
    (Cap::Pit2, "KVM_CAP_PIT2"),
    (Cap::ExtCpuid, "KVM_CAP_EXT_CPUID"),
];

/// Opens `/dev/kvm`, mapping the usual failures to one clear message.
pub fn open_kvm() -> Result<Kvm, VmError> {
    Kvm::new().map_err(
        |e| match std::io::Error::from_raw_os_error(e.errno()).kind() {
            ErrorKind::NotFound => VmError::NoKvm,
            ErrorKind::PermissionDenied => VmError::KvmPermission,
            _ => VmError::KvmOpen(e),
        },
    )
}

/// Creates the VM with the in-kernel irqchip and PIT, after checking capabilities.
pub fn create(kvm: &Kvm, cpus: u8) -> Result<VmFd, VmError> {
    for (cap, name) in REQUIRED_CAPS {
        if !kvm.check_extension(*cap) {
            return Err(VmError::MissingCap(name));
        }
    }
    let max = kvm.get_max_vcpus();
    if usize::from(cpus) > max {
        return Err(VmError::TooManyVcpus { asked: cpus, max });
    }
    let ioctl = |ioctl| move |source| VmError::Ioctl { ioctl, source };
    let vm = kvm.create_vm().map_err(ioctl("KVM_CREATE_VM"))?;
    vm.set_tss_address(KVM_TSS_ADDR as usize)
        .map_err(ioctl("KVM_SET_TSS_ADDR"))?;
    vm.set_identity_map_address(KVM_IDENTITY_MAP_ADDR)
        .map_err(ioctl("KVM_SET_IDENTITY_MAP_ADDR"))?;
    vm.create_irq_chip().map_err(ioctl("KVM_CREATE_IRQCHIP"))?;
    // The PIT is there for guests that calibrate against it; Linux on KVM uses kvmclock.
    let pit = kvm_pit_config {
        flags: KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    vm.create_pit2(pit).map_err(ioctl("KVM_CREATE_PIT2"))?;
    Ok(vm)
}
