//! `bench setup`: installs and fetches what the bench needs, idempotently.
//!
//! - QEMU 10 (`qemu-system-x86`) from `<codename>-backports`, plus `busybox-static`, `cpio`,
//!   `xz-utils` and `pciutils` (its `lspci` is carried into L2) — installed into the system
//!   with apt, only when missing;
//! - the Debian 6.12 kernel (`linux-image-amd64` from backports) and, with `--sid-kernel`, a
//!   7.x kernel from sid — downloaded and unpacked under the bench directory, never installed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use super::apt::{self, PrivateSuite};
use super::error::BenchError;
use super::kernel::{Kernel, SetupState};
use super::layout::Layout;
use super::qemu;
use super::runner::{on_path, run_checked, run_output};

/// Where busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";
/// Host programs the bench runs.
const HOST_TOOLS: &[&str] = &["cpio", "xz", "dpkg", "lspci"];

/// What to set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupOptions {
    /// Also fetch a 7.x kernel from sid.
    pub sid_kernel: bool,
}

/// Runs the whole set-up.
pub fn setup(layout: &Layout, options: SetupOptions) -> Result<SetupState, BenchError> {
    fs::create_dir_all(&layout.root).map_err(BenchError::io(&layout.root))?;
    let codename = apt::codename()?;
    let backports = format!("{codename}-backports");
    let sources = apt::system_sources();
    let mirror = apt::mirror_for(&sources, &codename).ok_or_else(|| {
        BenchError::Setup(format!(
            "no apt source serves `{codename}`; cannot derive a mirror"
        ))
    })?;

    let mut updated = false;
    if apt::mirror_for(&sources, &backports).is_none() {
        require_root("add the backports apt source")?;
        fs::write(
            apt::BACKPORTS_SOURCES,
            apt::deb822_stanza(&mirror, &backports),
        )
        .map_err(BenchError::io(apt::BACKPORTS_SOURCES))?;
        eprintln!(
            "bench setup: added {} ({backports})",
            apt::BACKPORTS_SOURCES
        );
    }
    if !host_packages_present() {
        require_root("install packages")?;
        run_checked(apt::apt_get().arg("update").arg("-q"))?;
        updated = true;
        run_checked(
            apt::apt_get()
                .args(["install", "-y", "-q", "-t", &backports, "qemu-system-x86"])
                .arg("--no-install-recommends"),
        )?;
        run_checked(apt::apt_get().args([
            "install",
            "-y",
            "-q",
            "busybox-static",
            "cpio",
            "xz-utils",
            "pciutils",
        ]))?;
    }
    qemu::check_qemu()?;
    eprintln!(
        "bench setup: host packages present ({})",
        qemu::qemu_version()?
    );

    let mut state = SetupState::load(&layout.setup_state())?;
    if state
        .from_suite(&backports)
        .is_none_or(|k| k.check().is_err())
    {
        if !updated {
            run_checked(apt::apt_get().arg("update").arg("-q"))?;
        }
        let resolve = |program: &str| {
            let mut cmd = Command::new(program);
            cmd.args(["-t", &backports]);
            cmd
        };
        let kernel = fetch_kernel(layout, &backports, resolve)?;
        state.kernels.retain(|k| k.suite != backports);
        state.kernels.insert(0, kernel);
        state.save(&layout.setup_state())?;
    }
    if options.sid_kernel && state.from_suite("sid").is_none_or(|k| k.check().is_err()) {
        let suite = PrivateSuite::create(&layout.root.join("apt-sid"), &mirror, "sid")?;
        suite.update()?;
        let kernel = fetch_kernel(layout, "sid", |p| suite.command(p))?;
        state.kernels.retain(|k| k.suite != "sid");
        state.kernels.push(kernel);
        state.save(&layout.setup_state())?;
    }
    for kernel in &state.kernels {
        eprintln!(
            "bench setup: kernel {} ({}) at {}",
            kernel.release,
            kernel.suite,
            kernel.root.display()
        );
    }
    Ok(state)
}

/// Whether QEMU, busybox-static, cpio, xz and pciutils (`lspci`, carried into L2) are installed.
fn host_packages_present() -> bool {
    qemu::check_qemu().is_ok()
        && Path::new(BUSYBOX).is_file()
        && HOST_TOOLS.iter().all(|t| on_path(t))
}

/// Fails with a clear message unless running as root.
fn require_root(what: &str) -> Result<(), BenchError> {
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(BenchError::io("/proc/self"))?;
    if uid == 0 {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "needs root to {what}; run it as root (e.g. with sudo)"
        )))
    }
}

/// The packages that make up the kernel `linux-image-amd64` points to in a suite: the image
/// package itself (bookworm), or its `linux-binary-*` and `linux-modules-*` (newer suites).
fn kernel_packages(apt_cache: impl Fn(&str) -> Command) -> Result<Vec<String>, BenchError> {
    let meta = run_output(apt_cache("apt-cache").args(["depends", "linux-image-amd64"]))?;
    let image = apt::first_dependency(&meta, "linux-image-")
        .ok_or_else(|| BenchError::Setup("linux-image-amd64 names no linux-image-*".into()))?;
    let deps = run_output(apt_cache("apt-cache").args(["depends", &image]))?;
    let parts: Vec<String> = ["linux-binary-", "linux-modules-"]
        .iter()
        .filter_map(|prefix| apt::first_dependency(&deps, prefix))
        .collect();
    Ok(if parts.is_empty() { vec![image] } else { parts })
}

/// Downloads and unpacks the current kernel of one suite.
fn fetch_kernel(
    layout: &Layout,
    suite: &str,
    apt_cmd: impl Fn(&str) -> Command,
) -> Result<Kernel, BenchError> {
    let packages = kernel_packages(&apt_cmd)?;
    let downloads = layout.downloads().join(suite);
    let _ = fs::remove_dir_all(&downloads);
    fs::create_dir_all(&downloads).map_err(BenchError::io(&downloads))?;
    eprintln!(
        "bench setup: downloading {} from {suite}",
        packages.join(" ")
    );
    run_checked(
        apt_cmd("apt-get")
            .current_dir(&downloads)
            .args(["-o", "APT::Sandbox::User=root", "download"])
            .args(&packages),
    )?;
    let unpacked = layout.kernels().join(format!("{suite}.tmp"));
    let _ = fs::remove_dir_all(&unpacked);
    fs::create_dir_all(&unpacked).map_err(BenchError::io(&unpacked))?;
    let entries = fs::read_dir(&downloads).map_err(BenchError::io(&downloads))?;
    for deb in entries.flatten().map(|e| e.path()) {
        if deb.extension().is_some_and(|e| e == "deb") {
            run_checked(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
        }
    }
    let release = Kernel::release_in(&unpacked)?;
    let root = layout.kernels().join(&release);
    let _ = fs::remove_dir_all(&root);
    fs::rename(&unpacked, &root).map_err(BenchError::io(&root))?;
    let _ = fs::remove_dir_all(&downloads);
    let kernel = Kernel {
        release,
        suite: suite.to_owned(),
        root,
    };
    kernel.check()?;
    Ok(kernel)
}
