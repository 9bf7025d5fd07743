//! Seccomp filters, one per thread type, declared in Rust with `seccompiler` and applied by
//! each thread itself: a vCPU thread as it starts, the main thread once the VM is built and
//! its event loop is about to run. Every allowed system call carries the reason it is needed
//! (the thread's own file, and [`rules`] for what every thread needs); `ioctl` is allowed
//! only for the request numbers a thread uses, `mmap`/`mprotect` never with `PROT_EXEC`.
//!
//! `--seccomp` picks what a forbidden call does ([`SeccompMode`]); the default, `trap`, ends
//! vmm with one line naming the call, `kill` has the kernel kill the process (SIGSYS),
//! `log` lets it run and has the kernel log it (audit), `off` installs no filter.

mod dma_map;
mod doe_mediator;
mod event_loop;
mod ioctls;
mod names;
mod rules;
mod trap;
mod vcpu;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use seccompiler::{BackendError, BpfProgram, SeccompAction, SeccompFilter};

/// What a forbidden system call does (`--seccomp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SeccompMode {
    /// The call does not run; vmm prints the call and the thread type and exits 1.
    #[default]
    Trap,
    /// The kernel kills vmm with SIGSYS (nothing printed by vmm).
    Kill,
    /// The call runs and the kernel logs it (audit, type=1326): for finding missing rules.
    Log,
    /// No filters (debugging only).
    Off,
}

impl fmt::Display for SeccompMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trap => "trap",
            Self::Kill => "kill",
            Self::Log => "log",
            Self::Off => "off",
        })
    }
}

/// The thread types, one filter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadKind {
    /// A vCPU thread: `KVM_RUN` and the device emulation of its exits.
    Vcpu,
    /// The main thread once the VM runs: the event loop, then the teardown.
    EventLoop,
    /// A DOE mediator's worker or notifier thread (one pair per physical mailbox).
    DoeMediator,
    /// The thread that maps guest RAM for DMA while the guest boots.
    DmaMap,
}

impl ThreadKind {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vcpu => "vcpu",
            Self::EventLoop => "event-loop",
            Self::DoeMediator => "doe-mediator",
            Self::DmaMap => "vfio-dma-map",
        }
    }
}

impl fmt::Display for ThreadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors building or installing a filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// seccompiler refused a rule.
    #[error("cannot build the seccomp filter of the {kind} thread: {source}")]
    Build {
        /// The thread type.
        kind: ThreadKind,
        /// seccompiler's error.
        source: BackendError,
    },
    /// A system call is listed twice (the second list would silently replace the first).
    #[error("system call {nr} is listed twice in the seccomp filter of the {kind} thread")]
    Duplicate {
        /// The thread type.
        kind: ThreadKind,
        /// The system call number.
        nr: i64,
    },
    /// prctl or seccomp failed.
    #[error("cannot install the seccomp filter of the {kind} thread: {source}")]
    Install {
        /// The thread type.
        kind: ThreadKind,
        /// seccompiler's error.
        source: seccompiler::Error,
    },
    /// sigaction(SIGSYS) failed.
    #[error("cannot install the SIGSYS handler: {0}")]
    Handler(std::io::Error),
}

static MODE: OnceLock<SeccompMode> = OnceLock::new();

/// Sets the mode for the whole process (the first call wins) and, for `trap`, installs the
/// SIGSYS handler. Call it once, from `main`, before any thread starts.
pub fn set_mode(mode: SeccompMode) -> Result<(), SeccompError> {
    let mode = *MODE.get_or_init(|| mode);
    if mode == SeccompMode::Off {
        log::warn!("seccomp filters are off (--seccomp off)");
    }
    if mode == SeccompMode::Trap {
        trap::install().map_err(SeccompError::Handler)?;
    }
    Ok(())
}

/// The process's mode: the one given to [`set_mode`], else the default (`trap`).
pub fn mode() -> SeccompMode {
    MODE.get().copied().unwrap_or_default()
}

/// The BPF program of `kind` in `mode`; `None` for [`SeccompMode::Off`].
pub fn filter(kind: ThreadKind, mode: SeccompMode) -> Result<Option<BpfProgram>, SeccompError> {
    let mismatch = match mode {
        SeccompMode::Trap => SeccompAction::Trap,
        SeccompMode::Kill => SeccompAction::KillProcess,
        SeccompMode::Log => SeccompAction::Log,
        SeccompMode::Off => return Ok(None),
    };
    let build = |source| SeccompError::Build { kind, source };
    let mut syscalls = rules::runtime().map_err(build)?;
    syscalls.extend(
        match kind {
            ThreadKind::Vcpu => vcpu::rules(),
            ThreadKind::EventLoop => event_loop::rules(),
            ThreadKind::DoeMediator => doe_mediator::rules(),
            ThreadKind::DmaMap => dma_map::rules(),
        }
        .map_err(build)?,
    );
    let mut map = BTreeMap::new();
    for (nr, rules) in syscalls {
        if map.insert(nr, rules).is_some() {
            return Err(SeccompError::Duplicate { kind, nr });
        }
    }
    let arch = std::env::consts::ARCH.try_into().map_err(build)?;
    let filter = SeccompFilter::new(map, mismatch, SeccompAction::Allow, arch).map_err(build)?;
    BpfProgram::try_from(filter).map(Some).map_err(build)
}

/// Applies the filter of `kind` to the calling thread, in the process's [`mode`].
pub fn apply(kind: ThreadKind) -> Result<(), SeccompError> {
    apply_mode(kind, mode())
}

/// Applies the filter of `kind` in `mode` to the calling thread (for tests and tools; vmm
/// itself uses [`apply`]).
pub fn apply_mode(kind: ThreadKind, mode: SeccompMode) -> Result<(), SeccompError> {
    let Some(program) = filter(kind, mode)? else {
        return Ok(());
    };
    if mode == SeccompMode::Trap {
        trap::install().map_err(SeccompError::Handler)?;
    }
    trap::set_current(kind);
    // std seeds HashMap keys once per thread from getrandom: seed them now, so no filter
    // needs getrandom (the event manager builds a HashMap after the filter is on).
    let _ = std::collections::hash_map::RandomState::new();
    seccompiler::apply_filter(&program).map_err(|source| SeccompError::Install { kind, source })?;
    log::debug!("seccomp: {kind} filter applied ({mode})");
    Ok(())
}
