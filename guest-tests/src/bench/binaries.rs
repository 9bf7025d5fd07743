//! Our binaries, built as static executables for L1 and L2 (they run on a busybox
//! initramfs with no libc).

use std::path::PathBuf;
use std::process::Command;

use super::error::BenchError;
use super::layout::Layout;
use super::runner::run_checked;

/// The target the static binaries are built for.
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// A binary of the workspace: its package and name.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// The cargo package.
    pub package: &'static str,
    /// The binary's name.
    pub name: &'static str,
}

/// Binaries installed into L1's `/usr/local/bin`.
pub const L1_BINARIES: &[Binary] = &[
    Binary {
        package: "doe-proxy",
        name: "doectl",
    },
    Binary {
        package: "guest-tests",
        name: "vmm-probe",
    },
    Binary {
        package: "guest-tests",
        name: "doe-bench",
    },
    Binary {
        package: "guest-tests",
        name: "doe-stress",
    },
    Binary {
        package: "guest-tests",
        name: "doe-jam",
    },
    Binary {
        package: "doe-proxy",
        name: "doe-proxyd",
    },
    Binary {
        package: "vmm",
        name: "vmm",
    },
];

/// Binaries installed into L2's `/usr/local/bin` (guest-side tools).
pub const L2_BINARIES: &[Binary] = &[
    Binary {
        package: "doe-proxy",
        name: "doectl",
    },
    Binary {
        package: "guest-tests",
        name: "pci-inventory",
    },
    Binary {
        package: "guest-tests",
        name: "doe-bench",
    },
    Binary {
        package: "guest-tests",
        name: "doe-stress",
    },
    Binary {
        package: "guest-tests",
        name: "intx-test",
    },
    Binary {
        package: "guest-tests",
        name: "msi-test",
    },
];

/// Builds every L1 and L2 binary statically and returns where each one is.
pub fn build(layout: &Layout) -> Result<Vec<(Binary, PathBuf)>, BenchError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&layout.workspace)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", layout.static_target())
        .args(["build", "--release", "--target", TARGET]);
    let mut all: Vec<Binary> = Vec::new();
    for bin in L1_BINARIES.iter().chain(L2_BINARIES) {
        if !all.iter().any(|b| b.name == bin.name) {
            all.push(*bin);
            cmd.args(["-p", bin.package, "--bin", bin.name]);
        }
    }
    run_checked(&mut cmd)?;
    let dir = layout.static_target().join(TARGET).join("release");
    Ok(all.into_iter().map(|b| (b, dir.join(b.name))).collect())
}
